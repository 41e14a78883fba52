"""`raydd distill --method mtt`: its options, their checks, and the run.

Every check comes before the first iteration, most before the dataset is read: the numbers (by
their flags), the memory the unroll needs on this device, then the experts. The experts are found
in the store by the settings they were trained with: the one setting stored for every pool
architecture, narrowed by --train-epochs, --lr-teacher and --zca/--no-zca when several are.
"""

from __future__ import annotations

from pathlib import Path

import click

from raydd.cli.options import POSITIVE_FLOAT

# Flags only trajectory matching reads, and flags it does not (gradient and distribution matching's).
MTT_ONLY = ("experts_storage", "num_experts", "syn_steps", "expert_epochs", "max_start_epoch", "lr_lr",
            "lr_syn_init", "batch_syn", "dsa", "train_epochs", "lr_teacher", "zca")
NOT_MTT = ("distance", "lr_net", "batch_real", "outer_loop", "inner_loop", "compile_", "precision")
SUGGESTED_EXPERTS = 10  # experts per architecture the refusal suggests training (buffer.py trains 100)


def mtt_options(command):
    """The MTT flags, added to `raydd distill` (defaults are the reference code's)."""
    options = [
        click.option("--experts-storage", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="MTT: the experts store (`raydd experts train --storage`)."),
        click.option("--num-experts", type=click.IntRange(min=1), default=None,
                     help="MTT: experts per architecture, seeds 0..N-1 [default: every one stored]."),
        click.option("--syn-steps", type=click.IntRange(min=1), default=20, show_default=True,
                     help="MTT: student steps unrolled per iteration."),
        click.option("--expert-epochs", type=click.IntRange(min=1), default=3, show_default=True,
                     help="MTT: expert epochs between the start and the target."),
        click.option("--max-start-epoch", type=click.IntRange(min=1), default=25, show_default=True,
                     help="MTT: start epochs are drawn from 0..N-1."),
        click.option("--lr-lr", type=POSITIVE_FLOAT, default=1e-5, show_default=True,
                     help="MTT: learning rate of the learnable student learning rate."),
        click.option("--lr-syn-init", type=POSITIVE_FLOAT, default=None,
                     help="MTT: the learnable student learning rate's start [default: the experts' lr]."),
        click.option("--batch-syn", type=click.IntRange(min=1), default=None,
                     help="MTT: synthetic images per student step [default: all]."),
        click.option("--dsa/--no-dsa", default=True, show_default=True, help="MTT: DSA on every student batch."),
        click.option("--train-epochs", type=click.IntRange(min=1), default=None,
                     help="MTT: use the experts trained this many epochs [default: the one setting stored]."),
        click.option("--lr-teacher", type=POSITIVE_FLOAT, default=None,
                     help="MTT: use the experts trained at this lr [default: the one setting stored]."),
        click.option("--zca/--no-zca", default=None,
                     help="MTT: use the experts trained on ZCA-whitened images, or not [default: as stored]; "
                          "with ZCA the set is whitened too."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_flags(method: str) -> None:
    """A flag of the other family of methods, given explicitly, is refused rather than ignored."""
    ctx = click.get_current_context()
    given = [p for p in ctx.command.params
             if ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE]
    wrong = [p for p in given if p.name in (NOT_MTT if method == "mtt" else MTT_ONLY)]
    if wrong:
        names = ", ".join(p.opts[0] for p in wrong)
        verb = "does" if len(wrong) == 1 else "do"
        which = "--method mtt" if method == "mtt" else f"--method {method} (only to --method mtt)"
        raise click.UsageError(f"{names} {verb} not apply to {which}")
    if method == "mtt" and ctx.params.get("experts_storage") is None:
        raise click.UsageError("--method mtt needs --experts-storage DIR (the store `raydd experts train` fills)")


def _provisional_settings(opts: dict):
    """MTTSettings of the flags, with experts just long enough: every number checked before the
    dataset is read; the experts' own settings replace them once found."""
    from raydd.core.distill.mtt import MTTSettings
    from raydd.core.experts import ExpertSettings

    reach = opts["max_start_epoch"] - 1 + opts["expert_epochs"]
    return MTTSettings(
        syn_steps=opts["syn_steps"], expert_epochs=opts["expert_epochs"], max_start_epoch=opts["max_start_epoch"],
        lr_img=1000.0 if opts["lr_img"] is None else opts["lr_img"], lr_lr=opts["lr_lr"],
        lr_syn_init=opts["lr_syn_init"] or 0.01, momentum=opts["momentum_img"], batch_syn=opts["batch_syn"],
        dsa=opts["dsa"], init=opts["init"] or "real", num_experts=opts["num_experts"] or 1,
        experts=ExpertSettings(epochs=reach))


def check_memory(settings, pool, info, ipc: int, device: str) -> None:
    """Refuse a setting whose estimated unroll does not fit this device's free memory."""
    from raydd.core.distill import mtt_memory

    n_images = ipc * info.num_classes
    mtt_memory.check_mtt_memory(pool.archs, info.channels, info.num_classes, info.image_size,
                                min(settings.batch_syn or n_images, n_images), settings.syn_steps, n_images,
                                settings.dsa_strategy if settings.dsa else None,
                                mtt_memory.available_memory(device))


def find_experts(opts: dict, settings, pool, data):
    """(the experts' settings, the trajectories per architecture), or one line saying which are
    missing and the `raydd experts train` command that makes them."""
    from raydd.core.experts.settings import train_command
    from raydd.core.experts import ExpertError, ExpertSettings, ExpertStore
    from raydd.core.experts.catalog import choose_settings, load_needed

    store = ExpertStore(opts["experts_storage"])
    wanted = {name: opts[flag] for name, flag in (("epochs", "train_epochs"), ("lr", "lr_teacher"), ("zca", "zca"))
              if opts[flag] is not None}
    chosen = choose_settings(store, data, pool.archs, wanted)
    count = opts["num_experts"]
    if chosen is None:
        suggested = ExpertSettings(**{"epochs": max(ExpertSettings().epochs, settings.last_epoch_needed), **wanted})
        command = train_command(data.info.name, pool.archs, count or SUGGESTED_EXPERTS, suggested, store.root)
        raise ExpertError(f"{store.root} holds no experts of {', '.join(pool.archs)} for {data.info.name}"
                          + (f" matching {_flag_words(opts)}" if wanted else "") + f"; make them with: {command}")
    if settings.last_epoch_needed > chosen.epochs:
        raise click.UsageError(
            f"--max-start-epoch {settings.max_start_epoch} with --expert-epochs {settings.expert_epochs} reads "
            f"expert epoch {settings.last_epoch_needed}, past the stored experts' {chosen.epochs} epochs: lower "
            "them (the latest start is --max-start-epoch - 1) or train longer experts")

    def command(archs, n):
        return train_command(data.info.name, archs, n, chosen, store.root)

    return chosen, load_needed(store, data, pool.archs, chosen, count, command)


def run(opts: dict, out: Path, printer, checkpoint_dir: Path) -> None:
    """Check everything, distil (checkpointing next to `out`), write the artifact to `out`."""
    from raydd.cli.options import resolve_device
    from raydd.core.artifact import save_synset
    from raydd.core.datasets import DATASETS, load_dataset
    from raydd.core.distill import distill
    from raydd.core.pool import PoolSpec

    try:
        pool = PoolSpec.parse(opts["pool_text"], warmup=opts["pool_warmup"], normalize=opts["normalize_pool"])
        info = DATASETS.get(opts["dataset"]).info
        settings = _provisional_settings(opts)
        if opts["ipc"] < 1:
            raise click.BadParameter(f"must be >= 1, got {opts['ipc']}", param_hint="--ipc")
        device = resolve_device(opts["device"])
        check_memory(settings, pool, info, opts["ipc"], device)
        _check_checkpoint(opts["resume"], checkpoint_dir)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    data = load_dataset(info.name, data_dir=opts["data_dir"], download=opts["download"], device=device)
    chosen, experts = find_experts(opts, settings, pool, data)
    cfg = _config(opts, info.name, pool, chosen, min(len(trajectories) for trajectories in experts.values()))
    click.echo(f"distilling {info.name} with mtt, ipc {cfg.ipc}, pool {pool.name}, {cfg.iterations} iterations on "
               f"{device}, {cfg.settings.num_experts} experts per architecture ({chosen.epochs} epochs, zca "
               f"{'on' if chosen.zca else 'off'})", err=True)
    synset = distill(cfg, data, device, checkpoint_dir=checkpoint_dir, checkpoint_every=opts["checkpoint_every"],
                     resume=opts["resume"], progress=printer, experts=experts)
    save_synset(synset, out)
    click.echo(f"wrote {out} ({synset.meta['wall_seconds']:.1f} s, final loss {synset.meta['final_loss']:.4f}, "
               f"learned lr {synset.meta['learned_lr']:.4g})", err=True)
    click.echo(str(out))


def _config(opts: dict, dataset: str, pool, experts, count: int):
    """The run's `DistillConfig`: the flags, and the found experts' settings and count."""
    from raydd.core.distill import DistillConfig

    return DistillConfig(
        dataset=dataset, method="mtt", ipc=opts["ipc"], iterations=opts["iterations"], pool=pool, seed=opts["seed"],
        lr_img=opts["lr_img"], momentum_img=opts["momentum_img"], init=opts["init"], syn_steps=opts["syn_steps"],
        expert_epochs=opts["expert_epochs"], max_start_epoch=opts["max_start_epoch"], lr_lr=opts["lr_lr"],
        lr_syn_init=opts["lr_syn_init"], batch_syn=opts["batch_syn"], dsa=opts["dsa"], num_experts=count,
        train_epochs=experts.epochs, lr_teacher=experts.lr, batch_teacher=experts.batch_size,
        augment_teacher=experts.augment, zca=experts.zca)


def _check_checkpoint(resume: bool, checkpoint_dir: Path) -> None:
    """An unfinished run is continued only when asked, and --resume needs one to continue."""
    from raydd.core.distill.loop import checkpoint_path

    path = checkpoint_path(checkpoint_dir)
    if resume and not path.exists():
        raise ValueError(f"--resume: there is no unfinished run to continue ({path} does not exist); leave out "
                         "--resume to start one")
    if not resume and path.exists():
        raise ValueError(f"{checkpoint_dir} holds an unfinished run; pass --resume or remove it")


def _flag_words(opts: dict) -> str:
    """The expert-choosing flags as typed: `--train-epochs 3, --zca`."""
    words = [f"--train-epochs {opts['train_epochs']}"] if opts["train_epochs"] is not None else []
    words += [f"--lr-teacher {opts['lr_teacher']:g}"] if opts["lr_teacher"] is not None else []
    words += [] if opts["zca"] is None else ["--zca" if opts["zca"] else "--no-zca"]
    return ", ".join(words)
