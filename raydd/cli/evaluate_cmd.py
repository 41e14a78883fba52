"""`raydd evaluate`: train students on a synthetic set (and/or baselines) and print their accuracy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from raydd import strict_json
from raydd.cli.evaluate_out import check_out, write_records
from raydd.cli.evaluate_sources import (
    Source,
    foreign_source,
    is_raydd_set,
    random_real_source,
    synset_source,
    whole_dataset_source,
)
from raydd.cli.options import FINITE_FLOAT, finite_floats, resolve_device
from raydd.eta import Countdown
from raydd.eval_defaults import EVAL_DEFAULTS
from raydd.kd_words import kd_word

DEFAULT_STUDENTS = ",".join(EVAL_DEFAULTS.students)
DEFAULT_KD = ",".join(kd_word(kd) for kd in EVAL_DEFAULTS.kd_modes)


def _split(text: str, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise click.BadParameter(f"needs at least one {what}")
    repeated = next((item for index, item in enumerate(items) if item in items[:index]), None)
    if repeated is not None:  # a student named twice was trained and counted twice (n doubled)
        raise click.BadParameter(f"{what} {repeated!r} is given twice; name each once")
    return items


def _kd_modes(text: str) -> tuple[bool, ...]:
    from raydd.spec import kd_mode

    modes = []
    for word in _split(text, "kd setting"):
        try:
            modes.append(kd_mode(word))
        except ValueError:
            raise click.BadParameter(f"unknown {word}; use off, on or off,on", param_hint="--kd") from None
    return tuple(dict.fromkeys(modes))


def _set_source(path: Path, opts) -> tuple[Source, object]:
    """The SET argument: a raydd artifact (its synset returned too), or a foreign set (None)."""
    if not is_raydd_set(path):
        return foreign_source(path, opts["dataset"], opts["normalized"], opts["experiment"], opts["learned_lr"]), None
    for flag in ("normalized", "experiment"):
        if opts[flag] is not None:
            raise click.UsageError(f"--{flag} applies to sets made by other codes; {path} is a raydd set")
    return synset_source(path, opts["learned_lr"])


def _dataset_name(synset, option: str | None) -> str:
    if synset is None:
        return option or "digits"
    meta_dataset = synset.meta["dataset"]
    name = meta_dataset["name"] if isinstance(meta_dataset, dict) else str(meta_dataset)
    if option is not None and option != name:
        raise click.UsageError(f"--dataset {option} disagrees with the artifact's dataset {name}")
    return name


@dataclass(frozen=True)
class Evaluated:
    """One source's records, the setting its students were trained under, and their label storage."""

    source: Source
    records: list
    config: object  # EvalConfig
    label_bytes: int


def _table(results: list[Evaluated], students: list[str], kd_modes: tuple[bool, ...]) -> str:
    """One row per (set, kd), one cell per student ('-' when missing), as `raydd results show`."""
    from raydd.core.evaluate import summarise_records
    from raydd.results.render import MISSING, TEST_MAX_NOTE, aligned_text
    from raydd.spec import kd_word
    from raydd.stats import SPREAD_NOTE

    rows = []
    for result in results:
        summaries = summarise_records(result.records)
        for kd in kd_modes:
            cells = {s.student: s.cell() for s in summaries if s.kd == kd}
            if cells:
                rows.append([f"{result.source.label}, kd {kd_word(kd)}", *(cells.get(s, MISSING) for s in students)])
    config = results[0].config
    note = (f"test accuracy in %, mean ± std (n) over seeds; {SPREAD_NOTE}; labels {config.labels}"
            + (f" (relabelled by the {config.relabel_teacher} teacher)" if config.labels == "relabel" else ""))
    if config.selection == "test-max":
        note = f"{TEST_MAX_NOTE}. {note}"
    return f"{aligned_text(['', *students], rows, keys=1)}\n\n{note}"


@click.command("evaluate")
@click.argument("set_path", metavar="[SET]", required=False, type=click.Path(path_type=Path))
@click.option("--students", default=DEFAULT_STUDENTS, show_default=True, help="Comma-separated architectures.")
@click.option("--teacher", default="ConvNet", show_default=True, help="KD teacher, trained on the same set.")
@click.option("--kd", "kd_text", default=DEFAULT_KD, show_default=True, help="off, on or off,on.")
@click.option("--seeds", type=click.IntRange(min=1), default=EVAL_DEFAULTS.seeds, show_default=True,
              help="Seeds 0..N-1 per student.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Training epochs [default: 300 without augmentation, 1000 with].")
@click.option("--lr", type=FINITE_FLOAT, default=0.01, show_default=True, help="SGD learning rate (x0.1 at half).")
@click.option("--learned-lr/--protocol-lr", default=True, show_default=True,
              help="A set that carries a learned lr (MTT) trains its students at it, as MTT evaluates; "
                   "--protocol-lr: at --lr.")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--augment", type=click.Choice(["none", "dc", "dsa"]), default="none", show_default=True)
@click.option("--alphas", default="0.5", show_default=True, help="KD weight candidates, chosen on validation.")
@click.option("--temperatures", default="1,2,4,8", show_default=True,
              help="KD temperature candidates, chosen on validation.")
@click.option("--random-real", type=click.IntRange(min=1), default=None, metavar="IPC",
              help="Also evaluate IPC random real training images per class (a fresh draw per seed).")
@click.option("--whole-dataset", is_flag=True,
              help="Also evaluate the whole training split, with class labels (needs --whole-epochs or --epochs).")
@click.option("--whole-epochs", type=click.IntRange(min=1), default=None,
              help="Epochs of a training on the whole training split (--whole-dataset, the whole-data teacher) "
                   "[default: --epochs].")
@click.option("--labels", type=click.Choice(["hard", "soft", "relabel"]), default="hard", show_default=True,
              help="What students fit: class labels; the set's soft labels (the whole-data teacher's "
                   "probabilities where it stores none); or a teacher's labels on every batch.")
@click.option("--relabel-teacher", type=click.Choice(["whole", "set"]), default="whole", show_default=True,
              help="Under --labels relabel: the teacher trained on the whole training split, or the KD teacher "
                   "trained on the set.")
@click.option("--selection", type=click.Choice(["validation", "test-max"]), default="validation", show_default=True,
              help="validation: the final student, every choice on the validation split. test-max: the best test "
                   "accuracy over epochs, as published numbers often were taken (comparison only; marked).")
@click.option("--dataset", default=None,
              help="Dataset of a set made by another code, or when no SET is given [default: digits].")
@click.option("--normalized", type=click.Choice(["yes", "no", "auto"]), default=None,
              help="A set made by another code is saved normalised with the dataset's mean/std (yes), "
                   "as pixels in [0, 1] (no), or decide from its statistics (auto) [default: auto].")
@click.option("--experiment", type=click.IntRange(min=0), default=None,
              help="Which experiment of a DC-style .pt file holding several [default: the first].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--download", is_flag=True, help="Download the dataset if it is missing.")
@click.option("--val-size", type=FINITE_FLOAT, default=None,
              help="Validation share carved from training (KD choices are made on it) "
                   "[default: the set's own carve, else 0.1].")
@click.option("--split-seed", type=int, default=None,
              help="Seed of the validation carve [default: the set's own, else 0].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per record instead of the table.")
@click.option("--out", default=None, metavar="DIR",
              help="Also write the records as result rows (the schema a sweep writes) into DIR, a "
                   "results directory or URI, for `raydd results` beside a sweep's rows. Each run adds its "
                   "own file and touches none; a local DIR holding anything but raydd's result rows is refused.")
def evaluate(**opts) -> None:
    """Train student architectures on the synthetic set SET and report test accuracy.

    Each student is trained with the DC/DSA/DM protocol (SGD lr 0.01, momentum 0.9, weight decay
    5e-4, batch 256, lr x0.1 at half the epochs) once per seed, without and/or with knowledge
    distillation from a teacher trained on the same set; KD's alpha and temperature are chosen on
    the validation split, never on the test split. The table has students as columns and
    (set, kd) as rows, each cell `test accuracy mean ± std (seeds)` in percent.

    SET is a raydd set's directory, or a set made by another code, evaluated on the dataset
    that --dataset names: a DC/DSA/DM `res_*.pt` file (or a .pt dict of image_syn and label_syn),
    an MTT-style directory of images_best.pt and labels_best.pt, a DD-Ranking directory of
    images.pt (and labels.pt), or an image folder with one sub-folder per class (`raydd export`
    writes each). SET may be left out when --random-real or --whole-dataset gives
    something to evaluate; with SET, those baselines add rows beside it. Examples:

    \b
        raydd evaluate runs/dc1 --students ConvNet,MLP --kd off,on --seeds 3 --random-real 1
        raydd evaluate res_DC_cifar10_ConvNet_10ipc.pt --dataset cifar10 --experiment 1
    """
    from raydd.core.evaluate import EvalConfig, check_architectures

    students = _split(opts["students"], "student")
    kd_modes = _kd_modes(opts["kd_text"])
    seeds = list(range(opts["seeds"]))
    try:
        cfg = EvalConfig(
            epochs=opts["epochs"], lr=opts["lr"], batch_size=opts["batch_size"], augment=opts["augment"],
            teacher=opts["teacher"], alphas=finite_floats(opts["alphas"], "--alphas"),
            temperatures=finite_floats(opts["temperatures"], "--temperatures"), labels=opts["labels"],
            relabel_teacher=opts["relabel_teacher"], selection=opts["selection"], whole_epochs=opts["whole_epochs"],
            learned_lr=opts["learned_lr"],
        )
        check_architectures(students + ([cfg.teacher] if any(kd_modes) or cfg.labels != "hard" else []))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if cfg.labels == "relabel" and any(kd_modes):
        raise click.UsageError("--labels relabel trains every student on a teacher's labels already: use --kd off")
    if opts["out"] is not None:
        try:
            check_out(opts["out"])
        except (ValueError, OSError) as exc:
            raise click.UsageError(str(exc)) from None

    sources, synset = [], None
    if opts["set_path"] is not None:
        source, synset = _set_source(opts["set_path"], opts)
        sources.append(source)
    if opts["random_real"] is not None:
        sources.append(random_real_source(opts["random_real"]))
    if opts["whole_dataset"]:
        sources.append(whole_dataset_source())
    if not sources:
        raise click.UsageError("nothing to evaluate: give SET, --random-real IPC or --whole-dataset")
    _check_whole_epochs(cfg, sources, opts)

    results = _run(sources, synset, students, cfg, seeds, kd_modes, opts)
    if not opts["as_json"]:
        click.echo(_table(results, students, kd_modes))
    if opts["out"] is not None:
        for location in write_records(opts["out"], results, synset, *_written_context(synset, opts),
                                      resolve_device(opts["device"])):
            click.echo(f"rows -> {location}", err=True)


def _check_whole_epochs(cfg, sources: list[Source], opts) -> None:
    """A training on the whole training split at the protocol's 300 epochs is hours on a CPU: its
    epochs are asked for explicitly, for --whole-dataset and for the whole-data teacher."""
    from raydd.core.evaluate.labels import needs_whole_teacher

    teacher = any(needs_whole_teacher(cfg, s.has_soft_labels) for s in sources if s.ipc is not None)
    if (opts["whole_dataset"] or teacher) and opts["whole_epochs"] is None and opts["epochs"] is None:
        what = "--whole-dataset" if opts["whole_dataset"] else f"--labels {cfg.labels} (its whole-data teacher)"
        raise click.UsageError(f"{what} needs --whole-epochs (or an explicit --epochs): the protocol's 300 epochs "
                               "over the whole training split take hours on a CPU")


DEFAULT_CARVE = (0.1, 0)  # load_dataset's defaults, which `raydd distill` uses


def _written_context(synset, opts) -> tuple[str, tuple]:
    """The dataset name and validation carve the records were computed on (for their rows)."""
    return _dataset_name(synset, opts["dataset"]), _carve(synset, opts["val_size"], opts["split_seed"])


def _carve(synset, val_size, split_seed) -> tuple:
    """The validation carve: the one the set was distilled beside, so validation images were never
    its training data; asking for another one is an error."""
    dataset = synset.meta.get("dataset", {}) if synset is not None else {}
    recorded = (dataset.get("val_size"), dataset.get("split_seed"))
    chosen = []
    for flag, asked, own, default in zip(("--val-size", "--split-seed"), (val_size, split_seed),
                                         recorded, DEFAULT_CARVE):
        if asked is not None and own is not None and asked != own:
            raise ValueError(f"{flag} {asked} differs from the {own} the set was distilled with: that "
                             f"validation split would hold images the set was distilled from")
        chosen.append(asked if asked is not None else own if own is not None else default)
    return tuple(chosen)


def _run(sources, synset, students, cfg, seeds, kd_modes, opts) -> list[Evaluated]:
    from raydd.core.datasets import check_ipc_fits, load_dataset, sizes_of
    from raydd.core.evaluate.labels import check_training_split, label_bytes, needs_whole_teacher
    from raydd.core.evaluate.protocol import check_images
    from raydd.core.evaluate.sets import train_whole_teacher

    device = resolve_device(opts["device"])
    name = _dataset_name(synset, opts["dataset"])
    needs_teacher = any(needs_whole_teacher(cfg, s.has_soft_labels) for s in sources if s.ipc is not None)
    try:
        val_size, split_seed = _carve(synset, opts["val_size"], opts["split_seed"])
        data = load_dataset(name, data_dir=opts["data_dir"], download=opts["download"],
                            val_size=val_size, split_seed=split_seed, device=device)
        if synset is not None:
            check_images(synset.images, synset.labels, data.info)
        if opts["random_real"] is not None:  # the one rule of an ipc against the class sizes
            check_ipc_fits(opts["random_real"], sizes_of(data.train.labels, data.info.num_classes), data.info,
                           "--random-real")
        if opts["whole_dataset"] or needs_teacher:
            check_training_split(data, "--whole-dataset" if opts["whole_dataset"] else "the whole-data teacher")
        _check_whitened(sources, cfg)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"evaluating on {name} ({device}): {cfg.resolved_epochs} epochs, augment {cfg.augment}, "
               f"labels {cfg.labels}, selection {cfg.selection}, seeds {seeds[0]}..{seeds[-1]}", err=True)
    whole_teacher = None
    if needs_teacher:
        click.echo(f"training the whole-data teacher ({cfg.teacher}, {cfg.resolved_whole_epochs} epochs)", err=True)
        whole_teacher = train_whole_teacher(data, cfg, device)
    results = []
    countdown = Countdown(len(sources) * len(students) * len(seeds) * len(kd_modes))  # every record to come
    for source in sources:
        config = source.config(cfg)
        on_record = _record_printer(source, name, config, opts["as_json"], countdown)
        records = source.run(data, students, config, seeds, kd_modes, device, on_record, whole_teacher)
        size = label_bytes(config.labels, source.images(data), data.info, config.teacher)
        results.append(Evaluated(source, records, config, size))
    return results


def _check_whitened(sources: list[Source], cfg) -> None:
    """The whole-data teacher trains on plain images: it cannot label a ZCA set's whitened ones."""
    from raydd.core.evaluate.labels import needs_whole_teacher

    for source in sources:
        if source.whitened and needs_whole_teacher(cfg, source.has_soft_labels):
            raise ValueError(f"{source.label} is ZCA-whitened; --labels {cfg.labels} would have it labelled by a "
                             "teacher trained on plain images: use --labels hard")
        if source.whitened or source.learned_lr is not None:
            click.echo(f"{source.label}: " + ", ".join(
                ([f"students train at the set's learned lr {source.learned_lr:.4g} (--protocol-lr: at "
                  f"{cfg.lr:g})"] if source.learned_lr is not None else [])
                + (["real data whitened by the set's ZCA, refitted on the training split"] if source.whitened
                   else [])), err=True)


def _record_printer(source: Source, dataset: str, cfg, as_json: bool, countdown: Countdown):
    """Progress on stderr for every record, with the ETA of all of them (`countdown`); with
    --json, the record itself on stdout."""
    config = cfg.to_dict()

    def on_record(record) -> None:
        click.echo(f"{source.label}  {record.student:<10} kd {kd_word(record.kd):<3} seed {record.seed}  "
                   f"test {100 * record.test_acc:.2f}%  val {100 * record.val_acc:.2f}%  "
                   f"{record.train_seconds:.1f} s  {countdown.tick()}", err=True)
        if as_json:
            row = {"source": source.label, "dataset": dataset, "ipc": source.ipc, "artifact": source.artifact,
                   **({"foreign": source.foreign} if source.foreign else {}), **record.to_dict(), "config": config}
            click.echo(strict_json.dumps(row))

    return on_record
