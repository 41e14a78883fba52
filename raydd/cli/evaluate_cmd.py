"""`raydd evaluate`: train students on a synthetic set (and/or baselines) and print their accuracy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click

from raydd import strict_json
from raydd.cli.evaluate_out import check_out, write_records
from raydd.cli.options import FINITE_FLOAT, finite_floats, resolve_device

DEFAULT_STUDENTS = "ConvNet,MLP,LeNet,AlexNet,VGG11,ResNet18"


def _split(text: str, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise click.BadParameter(f"needs at least one {what}")
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


@dataclass(frozen=True)
class Source:
    """One row group of the table: what is evaluated, and how to run it."""

    label: str
    key: str  # its name in result rows (`trial_key`): the set's directory or file name, or the baseline's
    ipc: int | None
    run: Callable  # (data, students, cfg, seeds, kd, device, on_record) -> records
    artifact: str | None = None  # the synthetic set's directory (or file), if any
    foreign: dict | None = None  # a set made by another code: its format and provenance


def _synset_source(directory: Path) -> tuple[Source, object]:
    from raydd.core.artifact import ArtifactError, load_synset
    from raydd.core.evaluate import evaluate_synset

    try:
        synset = load_synset(directory)
    except ArtifactError as exc:
        raise click.ClickException(f"cannot evaluate {directory}: {exc}") from None
    label = f"{synset.meta['method']} ipc{synset.ipc}"

    def run(data, *args):
        return evaluate_synset(synset.images, synset.labels, data, *args)

    return Source(label, Path(directory).resolve().name, synset.ipc, run, str(directory)), synset


def _is_raydd_set(path: Path) -> bool:
    """A directory holding any of a raydd artifact's files is read (and checked) as one."""
    from raydd.core.artifact import ARTIFACT_FILES

    return path.is_dir() and any((path / name).exists() for name in ARTIFACT_FILES)


def _foreign_source(path: Path, dataset: str | None, normalized: str | None, experiment: int | None) -> Source:
    """A set made by another code, read and checked against `dataset` before anything loads."""
    from raydd.core.datasets import DATASETS
    from raydd.core.evaluate import evaluate_synset
    from raydd.core.foreign import load_foreign_set, require_exists

    require_exists(path)
    if dataset is None:
        raise click.UsageError(f"{path} is not a raydd set: name the dataset it was made for with --dataset")
    try:
        info = DATASETS.get(dataset).info
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    foreign = load_foreign_set(path, info, normalized=normalized or "auto", experiment=experiment)
    click.echo(f"{foreign.name}: {foreign.summary()}", err=True)

    def run(data, *args):
        return evaluate_synset(foreign.images, foreign.labels, data, *args)

    return Source(f"{foreign.name} ipc{foreign.ipc}", foreign.name, foreign.ipc, run, foreign.path,
                  foreign.describe())


def _set_source(path: Path, opts) -> tuple[Source, object]:
    """The SET argument: a raydd artifact (its synset returned too), or a foreign set (None)."""
    if not _is_raydd_set(path):
        return _foreign_source(path, opts["dataset"], opts["normalized"], opts["experiment"]), None
    for flag in ("normalized", "experiment"):
        if opts[flag] is not None:
            raise click.UsageError(f"--{flag} applies to sets made by other codes; {path} is a raydd set")
    return _synset_source(path)


def _random_real_source(ipc: int) -> Source:
    from raydd.core.evaluate import evaluate_random_real

    def run(data, *args):
        return evaluate_random_real(data, ipc, *args)

    return Source(f"random real ipc{ipc}", "random_real", ipc, run)


def _whole_dataset_source() -> Source:
    from raydd.core.evaluate import evaluate_synset

    def run(data, *args):
        return evaluate_synset(data.train.images, data.train.labels, data, *args)

    return Source("whole dataset", "whole_dataset", None, run)


def _dataset_name(synset, option: str | None) -> str:
    if synset is None:
        return option or "digits"
    meta_dataset = synset.meta["dataset"]
    name = meta_dataset["name"] if isinstance(meta_dataset, dict) else str(meta_dataset)
    if option is not None and option != name:
        raise click.UsageError(f"--dataset {option} disagrees with the artifact's dataset {name}")
    return name


def _table(results: list[tuple[Source, list]], students: list[str], kd_modes: tuple[bool, ...]) -> str:
    """One row per (set, kd), one cell per student ('-' when missing), as `raydd results show`."""
    from raydd.core.evaluate import summarise_records
    from raydd.results.render import MISSING, aligned_text
    from raydd.spec import kd_word
    from raydd.stats import SPREAD_NOTE

    rows = []
    for source, records in results:
        summaries = summarise_records(records)
        for kd in kd_modes:
            cells = {s.student: s.cell() for s in summaries if s.kd == kd}
            rows.append([f"{source.label}, kd {kd_word(kd)}", *(cells.get(s, MISSING) for s in students)])
    note = f"test accuracy in %, mean ± std (n) over seeds; {SPREAD_NOTE}"
    return f"{aligned_text(['', *students], rows, keys=1)}\n\n{note}"


@click.command("evaluate")
@click.argument("set_path", metavar="[SET]", required=False, type=click.Path(path_type=Path))
@click.option("--students", default=DEFAULT_STUDENTS, show_default=True, help="Comma-separated architectures.")
@click.option("--teacher", default="ConvNet", show_default=True, help="KD teacher, trained on the same set.")
@click.option("--kd", "kd_text", default="off,on", show_default=True, help="off, on or off,on.")
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True, help="Seeds 0..N-1 per student.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Training epochs [default: 300 without augmentation, 1000 with].")
@click.option("--lr", type=FINITE_FLOAT, default=0.01, show_default=True, help="SGD learning rate (x0.1 at half).")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--augment", type=click.Choice(["none", "dc", "dsa"]), default="none", show_default=True)
@click.option("--alphas", default="0.5", show_default=True, help="KD weight candidates, chosen on validation.")
@click.option("--temperatures", default="1,2,4,8", show_default=True,
              help="KD temperature candidates, chosen on validation.")
@click.option("--random-real", type=click.IntRange(min=1), default=None, metavar="IPC",
              help="Also evaluate IPC random real training images per class (a fresh draw per seed).")
@click.option("--whole-dataset", is_flag=True, help="Also evaluate the whole training split (needs --epochs).")
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
                   "results directory or URI, for `raydd results` beside a sweep's rows.")
def evaluate(**opts) -> None:
    """Train student architectures on the synthetic set SET and report test accuracy.

    Each student is trained with the DC/DSA/DM protocol (SGD lr 0.01, momentum 0.9, weight decay
    5e-4, batch 256, lr x0.1 at half the epochs) once per seed, without and/or with knowledge
    distillation from a teacher trained on the same set; KD's alpha and temperature are chosen on
    the validation split, never on the test split. The table has students as columns and
    (set, kd) as rows, each cell `test accuracy mean ± std (seeds)` in percent.

    SET is a raydd set's directory, or a set made by another code, evaluated on the dataset
    that --dataset names: a DC/DSA/DM `res_*.pt` file (or a .pt dict of image_syn and label_syn),
    an MTT-style directory of images_best.pt and labels_best.pt, or an image folder with one
    sub-folder per class. SET may be left out when --random-real or --whole-dataset gives
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
            temperatures=finite_floats(opts["temperatures"], "--temperatures"),
        )
        check_architectures(students + ([cfg.teacher] if any(kd_modes) else []))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if opts["whole_dataset"] and opts["epochs"] is None:
        raise click.UsageError("--whole-dataset needs an explicit --epochs (the protocol's 300 is hours on CPU)")
    if opts["out"] is not None:
        if opts["whole_dataset"]:
            raise click.UsageError("--out writes rows per synthetic-set size (ipc); --whole-dataset has none")
        try:
            check_out(opts["out"])
        except (ValueError, OSError) as exc:
            raise click.UsageError(str(exc)) from None

    sources, synset = [], None
    if opts["set_path"] is not None:
        source, synset = _set_source(opts["set_path"], opts)
        sources.append(source)
    if opts["random_real"] is not None:
        sources.append(_random_real_source(opts["random_real"]))
    if opts["whole_dataset"]:
        sources.append(_whole_dataset_source())
    if not sources:
        raise click.UsageError("nothing to evaluate: give SET, --random-real IPC or --whole-dataset")

    results = _run(sources, synset, students, cfg, seeds, kd_modes, opts)
    if not opts["as_json"]:
        click.echo(_table(results, students, kd_modes))
    if opts["out"] is not None:
        for location in write_records(opts["out"], results, synset, *_written_context(synset, opts), cfg,
                                      resolve_device(opts["device"]), _info(synset, opts)):
            click.echo(f"rows -> {location}", err=True)


def _info(synset, opts):
    from raydd.core.datasets import DATASETS

    return DATASETS.get(_dataset_name(synset, opts["dataset"])).info


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


def _run(sources, synset, students, cfg, seeds, kd_modes, opts) -> list:
    from raydd.core.datasets import load_dataset
    from raydd.core.evaluate.protocol import check_images, random_real

    device = resolve_device(opts["device"])
    name = _dataset_name(synset, opts["dataset"])
    try:
        val_size, split_seed = _carve(synset, opts["val_size"], opts["split_seed"])
        data = load_dataset(name, data_dir=opts["data_dir"], download=opts["download"],
                            val_size=val_size, split_seed=split_seed, device=device)
        if synset is not None:
            check_images(synset.images, synset.labels, data.info)
        if opts["random_real"] is not None:
            random_real(data, opts["random_real"], seed=0)  # refuses an ipc above a class's size
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"evaluating on {name} ({device}): {cfg.resolved_epochs} epochs, augment {cfg.augment}, "
               f"seeds {seeds[0]}..{seeds[-1]}", err=True)
    results = []
    for source in sources:
        on_record = _record_printer(source, name, cfg, opts["as_json"])
        results.append((source, source.run(data, students, cfg, seeds, kd_modes, device, on_record)))
    return results


def _record_printer(source: Source, dataset: str, cfg, as_json: bool):
    """Progress on stderr for every record; with --json, the record itself on stdout."""
    from raydd.spec import kd_word

    config = cfg.to_dict()

    def on_record(record) -> None:
        click.echo(f"{source.label}  {record.student:<10} kd {kd_word(record.kd):<3} seed {record.seed}  "
                   f"test {100 * record.test_acc:.2f}%  val {100 * record.val_acc:.2f}%  "
                   f"{record.train_seconds:.1f} s", err=True)
        if as_json:
            row = {"source": source.label, "dataset": dataset, "ipc": source.ipc, "artifact": source.artifact,
                   **({"foreign": source.foreign} if source.foreign else {}), **record.to_dict(), "config": config}
            click.echo(strict_json.dumps(row))

    return on_record
