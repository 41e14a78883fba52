"""`raydd experts`: train the expert trajectories trajectory matching (`--method mtt`) starts from,
and list what a store holds. Experts are trained one after another in this process, or each as a
Ray task with `--ray` (raydd/cli/experts_ray.py)."""

from __future__ import annotations

from pathlib import Path
import click

from raydd import strict_json
from raydd.cli.errors import ErrorBoundary
from raydd.cli.options import FINITE_FLOAT, resolve_device
from raydd.core.experts.settings import train_command

DEFAULT_STORAGE = Path("experts")


def split_archs(text: str) -> list[str]:
    archs = [a.strip() for a in text.split(",") if a.strip()]
    if not archs:
        raise click.BadParameter("needs at least one architecture", param_hint="--arch")
    return list(dict.fromkeys(archs))


@click.group("experts", cls=ErrorBoundary)
def experts() -> None:
    """Expert trajectories for trajectory matching: train them, list them."""


@experts.command("train")
@click.option("--dataset", default="digits", show_default=True, help="Dataset name (raydd list datasets).")
@click.option("--arch", "arch_text", required=True, help="Comma-separated architectures, e.g. 'ConvNet,LeNet'.")
@click.option("--experts", "count", type=click.IntRange(min=1), required=True,
              help="Experts per architecture: seeds 0..N-1 (MTT's buffer.py trains 100).")
@click.option("--epochs", type=click.IntRange(min=1), default=50, show_default=True,
              help="Training epochs of each expert (buffer.py --train_epochs).")
@click.option("--lr-teacher", type=FINITE_FLOAT, default=0.01, show_default=True,
              help="Experts' SGD learning rate, constant (buffer.py --lr_teacher).")
@click.option("--batch-train", type=click.IntRange(min=1), default=256, show_default=True,
              help="Images per SGD step (buffer.py --batch_train).")
@click.option("--zca", is_flag=True, help="Train on ZCA-whitened images (MTT's CIFAR runs).")
@click.option("--dsa/--no-dsa", default=True, show_default=True,
              help="DSA on every batch; --no-dsa: DC's crop_scale_rotate, as buffer.py --dsa False.")
@click.option("--storage", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_STORAGE,
              show_default=True, help="The experts store (a directory).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--download", is_flag=True, help="Download the dataset if it is missing.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--ray", "on_ray", is_flag=True,
              help="Each expert a Ray task: on the Ray this process is attached to, else on a local Ray "
                   "with every CPU [default: one after another in this process].")
def train(**opts) -> None:
    """Train N experts (--experts) per architecture into the store, skipping complete ones.

    Each expert is kept under a key made of everything that changes its numbers (dataset and its
    validation carve, architecture, settings, seed). Run again, the command reuses every complete
    expert, trains the missing ones and retrains a damaged one (saying so). Example:

        raydd experts train --dataset digits --arch ConvNet --experts 2 --epochs 2 --storage experts
    """
    from raydd.core.datasets import DATASETS, load_dataset
    from raydd.core.experts import ExpertSettings, ExpertStore
    from raydd.core.experts.catalog import check_all, check_request, ensure_all, requested

    archs = split_archs(opts["arch_text"])
    try:
        info = DATASETS.get(opts["dataset"]).info
        settings = ExpertSettings(epochs=opts["epochs"], lr=opts["lr_teacher"], batch_size=opts["batch_train"],
                                  augment="dsa" if opts["dsa"] else "dc", zca=opts["zca"])
        check_request(archs, opts["count"], info)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    device = resolve_device(opts["device"])
    data = load_dataset(opts["dataset"], data_dir=opts["data_dir"], download=opts["download"], device=device)
    identities = requested(data, archs, settings, opts["count"])
    click.echo(f"experts of {', '.join(archs)} on {info.name}: {len(identities)} in {opts['storage']} "
               f"({settings.epochs} epochs each, on {device}, "
               f"{'as Ray tasks' if opts['on_ray'] else 'one after another'})", err=True)
    done = iter(range(1, len(identities) + 1))

    def report(outcome) -> None:
        click.echo(f"[{next(done)}/{len(identities)}] {outcome.identity.label}: {outcome.words}", err=True)

    store = ExpertStore(opts["storage"])
    if opts["on_ray"]:
        from raydd.cli.experts_ray import ensure_on_ray

        check_all(store, identities)  # a directory that is not ours fails before Ray starts
        outcomes = ensure_on_ray(store.root, identities, opts["data_dir"], device, report)
    else:
        outcomes = ensure_all(store, identities, data, device, report)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("trained", "retrained", "reused")}
    click.echo(", ".join(f"{n} {status}" for status, n in counts.items()), err=True)
    click.echo(str(opts["storage"]))


@experts.command("list")
@click.option("--storage", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_STORAGE,
              show_default=True, help="The experts store (a directory).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per group of experts.")
def list_experts(storage: Path, as_json: bool) -> None:
    """What the store holds: one line per dataset, architecture and setting, with the seeds that
    are complete and those that are not."""
    if not storage.is_dir():
        raise click.UsageError(f"--storage {storage} is not a directory")
    groups = _groups(storage)
    if as_json:
        for group in groups:
            click.echo(strict_json.dumps(group))
        return
    if not groups:
        click.echo(f"no experts in {storage}")
        return
    from raydd.results.render import aligned_text

    header = ["dataset", "arch", "epochs", "lr", "augment", "zca", "complete seeds", "incomplete"]
    rows = [[g["dataset"], g["arch"], str(g["epochs"]), str(g["lr"]), g["augment"], "on" if g["zca"] else "off",
             _seeds(g["complete"]), ", ".join(f"{p['seed']}: {p['problem']}" for p in g["incomplete"]) or "-"]
            for g in groups if g["complete"] or g["incomplete"]]
    click.echo(aligned_text(header, rows, keys=2))
    unusable = sum(len(g["unreadable"]) for g in groups)
    if unusable:
        click.echo(f"{unusable} director(ies) hold no usable manifest (see --json)", err=True)


def _groups(storage: Path) -> list[dict]:
    """Entries grouped by what they were trained on and how; seeds complete and not."""
    from raydd.core.experts.catalog import entries

    groups: dict[str, dict] = {}
    for entry in entries(storage):
        identity = entry.identity if isinstance(entry.identity, dict) else {}
        settings = identity.get("settings") if isinstance(identity.get("settings"), dict) else {}
        dataset, arch = entry.directory.parts[-3:-1]
        group = groups.setdefault(strict_json.dumps([dataset, arch, settings, identity.get("val_size"),
                                                     identity.get("split_seed")], sort_keys=True), {
            "dataset": dataset, "arch": arch, "epochs": settings.get("epochs"), "lr": settings.get("lr"),
            "augment": settings.get("augment"), "zca": settings.get("zca"), "val_size": identity.get("val_size"),
            "split_seed": identity.get("split_seed"), "complete": [], "incomplete": [], "unreadable": []})
        if not identity:
            group["unreadable"].append({"directory": str(entry.directory), "problem": entry.problem})
        elif entry.problem is None:
            group["complete"].append(identity.get("seed"))
        else:
            group["incomplete"].append({"seed": identity.get("seed"), "problem": entry.problem})
    return list(groups.values())


def _seeds(seeds: list) -> str:
    return ", ".join(map(str, sorted(seeds))) or "-"
