"""The student-training protocol and the record of one evaluation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

# Protocol of the DC/DSA/DM papers: students train 300 epochs on plain images and 1000 epochs
# when every batch is augmented (augmentation needs more steps to converge).
DEFAULT_EPOCHS = {"none": 300, "dc": 1000, "dsa": 1000}
# Label regimes (raydd.core.evaluate.labels): class labels; the set's stored soft labels; a teacher's
# probabilities on every batch.
LABEL_REGIMES = ("hard", "soft", "relabel")
# Who relabels: a teacher trained on the whole training split (as SRe2L and RDED evaluate), or the
# KD teacher trained on the set itself.
RELABEL_TEACHERS = ("whole", "set")
# How the reported test accuracy is taken: the final student, every choice made on the validation
# split; or the best test accuracy over epochs, as many published numbers were taken (comparison only).
SELECTIONS = ("validation", "test-max")
TEST_MAX_EVERY = 10  # epochs between test measurements under test-max (DD-Ranking's interval), and the last


@dataclass(frozen=True)
class EvalConfig:
    """How a student (and the KD teacher) is trained on a synthetic set.

    Defaults are the DC/DSA/DM evaluation protocol; `epochs=None` means the protocol's epoch count
    for `augment` (300 for `none`, 1000 with augmentation).
    """

    epochs: int | None = None
    lr: float = 0.01  # SGD learning rate of the protocol
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 256  # larger than most synthetic sets: usually one full batch per epoch
    lr_decay_at: float = 0.5  # fraction of the epochs after which lr is multiplied by lr_decay
    lr_decay: float = 0.1
    augment: str = "none"  # the DC paper's CIFAR protocol; `dsa` is that of the DSA/DM papers
    teacher: str = "ConvNet"  # the architecture the synthetic sets are usually distilled on
    # KD weight: 0.5 is Hinton's usual even mix of hard labels and teacher; a synthetic set has
    # too few images to spend a validation search on alpha as well, so one value by default.
    alphas: tuple[float, ...] = (0.5,)
    # Powers of two from 1 (no softening) to 8 cover the range the KD literature uses; the
    # choice is made on the validation split, so a short list keeps the search cheap.
    temperatures: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    # Images per forward when measuring accuracy; None: the size measured fastest for the
    # architecture and device (`raydd.core.evaluate.speed.inference_batch_size`).
    eval_batch_size: int | None = None
    # Validation images that choose the KD setting and give `val_acc`: None, the whole split;
    # N, one fixed subset of N drawn with a fixed seed, the same for every candidate, seed,
    # student and set of a dataset carve (`protocol.validation_subset`).
    val_images: int | None = None
    labels: str = "hard"  # one of LABEL_REGIMES
    relabel_teacher: str = "whole"  # one of RELABEL_TEACHERS; used under labels=relabel only
    selection: str = "validation"  # one of SELECTIONS
    # Epochs of a training on the whole training split (the whole_dataset baseline's students and the
    # whole-data relabelling teacher); None: `epochs`. The protocol's 300 epochs over 50,000 images
    # take hours per student on a CPU, so a sweep usually sets fewer and every table states them.
    whole_epochs: int | None = None
    # A set that carries a learned lr (MTT's) trains its students and teacher at it, as MTT
    # evaluates; False: at `lr`, as every other set (a net at the edge of its stable lr, AlexNet on
    # a 10-image set, can fail to train at the learned one).
    learned_lr: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "alphas", tuple(float(a) for a in self.alphas))
        object.__setattr__(self, "temperatures", tuple(float(t) for t in self.temperatures))
        for problem in self._problems():
            raise ValueError(f"EvalConfig: {problem}")

    def _problems(self) -> list[str]:
        problems = []
        if self.augment not in DEFAULT_EPOCHS:
            problems.append(f"augment must be one of {', '.join(DEFAULT_EPOCHS)}, got {self.augment!r}")
        for name, known in (("labels", LABEL_REGIMES), ("relabel_teacher", RELABEL_TEACHERS),
                            ("selection", SELECTIONS)):
            if getattr(self, name) not in known:
                problems.append(f"{name} must be one of {', '.join(known)}, got {getattr(self, name)!r}")
        if self.whole_epochs is not None and self.whole_epochs < 1:
            problems.append(f"whole_epochs must be >= 1 (or None for epochs), got {self.whole_epochs}")
        if self.epochs is not None and self.epochs < 1:
            problems.append(f"epochs must be >= 1 (or None for the protocol default), got {self.epochs}")
        for name in ("lr", "batch_size", "lr_decay"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            problems.append(f"eval_batch_size must be >= 1 (or None for the measured size), got {self.eval_batch_size}")
        if self.val_images is not None and self.val_images < 1:
            problems.append(f"val_images must be >= 1 (or None for the whole split), got {self.val_images}")
        for name in ("momentum", "weight_decay"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.lr_decay_at <= 1.0:
            problems.append(f"lr_decay_at must lie in [0, 1], got {self.lr_decay_at}")
        if not self.alphas or any(not 0.0 <= a <= 1.0 for a in self.alphas):
            problems.append(f"alphas must be a non-empty list of values in [0, 1], got {self.alphas}")
        if not self.temperatures or any(t <= 0 for t in self.temperatures):
            problems.append(f"temperatures must be a non-empty list of values > 0, got {self.temperatures}")
        return problems

    @property
    def resolved_epochs(self) -> int:
        """The epoch count actually trained: explicit, or the protocol default for `augment`."""
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS[self.augment]

    @property
    def decay_epoch(self) -> int:
        """First epoch trained at `lr * lr_decay` (see `train.lr_scheduler`)."""
        return int(self.resolved_epochs * self.lr_decay_at)

    @property
    def resolved_whole_epochs(self) -> int:
        """Epochs of a training on the whole training split: `whole_epochs`, else `resolved_epochs`."""
        return self.whole_epochs if self.whole_epochs is not None else self.resolved_epochs

    def for_whole_data(self) -> "EvalConfig":
        """The setting a training on the whole training split uses: `whole_epochs`, class labels."""
        return replace(self, epochs=self.resolved_whole_epochs, whole_epochs=None, labels="hard")

    def candidates(self) -> list[tuple[float, float]]:
        """Every (alpha, temperature) pair that KD chooses among on the validation split."""
        return [(a, t) for a in self.alphas for t in self.temperatures]

    def to_dict(self) -> dict:
        """Every field, `epochs` resolved; the fields added later (LATER_DEFAULTS) only when they
        differ from their defaults, so that a sweep written before them keeps its hash."""
        out = asdict(self)
        out["epochs"] = self.resolved_epochs
        for name, default in LATER_DEFAULTS.items():
            if out[name] == default and not (name == "relabel_teacher" and self.labels == "relabel"):
                del out[name]
        return out


LATER_DEFAULTS = {"labels": "hard", "relabel_teacher": "whole", "selection": "validation", "whole_epochs": None,
                  "learned_lr": True}


@dataclass(frozen=True)
class EvalRecord:
    """One student trained with one seed; accuracies are fractions in [0, 1].

    `teacher`, `alpha` and `temperature` are None when KD is off; with KD they are the
    teacher architecture and the (alpha, T) chosen on the validation split.
    `train_seconds` is all training this record cost (every KD candidate), not the teacher.
    `train_acc` is the final student's accuracy on the set it trained on (its images unaugmented,
    the classes of its labels): near 1 when it fit the set, near chance when it never trained.
    """

    student: str
    teacher: str | None
    kd: bool
    alpha: float | None
    temperature: float | None
    seed: int
    val_acc: float
    test_acc: float
    train_seconds: float
    train_acc: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def row_fields(self) -> dict:
        """This record's columns of a result row (`raydd.results.schema`)."""
        return {"student": self.student, "teacher": self.teacher, "kd": self.kd, "alpha": self.alpha,
                "temperature": self.temperature, "eval_seed": self.seed, "val_acc": self.val_acc,
                "test_acc": self.test_acc, "train_seconds": self.train_seconds, "train_acc": self.train_acc}


@dataclass(frozen=True)
class RecordSummary:
    """Test (and validation) accuracy over seeds for one (student, kd) pair."""

    student: str
    kd: bool
    n: int
    test_mean: float
    test_std: float
    val_mean: float
    val_std: float

    def cell(self) -> str:
        """`mean ± std (n)` of the test accuracy, in percent."""
        return f"{100 * self.test_mean:.2f} ± {100 * self.test_std:.2f} ({self.n})"
