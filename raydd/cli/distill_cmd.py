"""`raydd distill`: distil one synthetic set and write its artifact directory."""

from __future__ import annotations

from pathlib import Path

import click

from raydd.cli.distill_mtt import check_flags, mtt_options
from raydd.cli.options import FINITE_FLOAT, resolve_device
from raydd.eta import duration_text, eta_text

DISTILL_EXAMPLE = "raydd distill --dataset digits --method dc --ipc 1 --iterations 20 --out runs/dc1"


class DistillProgressPrinter:
    """One stderr line every `every` iterations (and at the last): loss, it/s, ETA."""

    def __init__(self, every: int) -> None:
        self.every = max(1, every)
        self.iteration = 0  # the last iteration done, for a message when the run is interrupted

    def __call__(self, p) -> None:
        self.iteration = p.iteration
        if p.iteration % self.every and p.iteration != p.total:
            return
        rate = p.session_iterations / p.session_seconds if p.session_seconds > 0 else float("nan")
        # the rate of this session only: iterations resumed from a checkpoint took no time here
        eta = eta_text(p.session_iterations, p.total - p.resumed_from, p.session_seconds)
        click.echo(f"iter {p.iteration:>5}/{p.total}  loss {p.loss:.4f}  {rate:.2f} it/s  {eta}  "
                   f"elapsed {duration_text(p.wall_seconds)}", err=True)


@click.command("distill")
@click.option("--dataset", default="digits", show_default=True, help="Dataset name (raydd list datasets).")
@click.option("--method", default="dc", show_default=True, help="dc, dsa, dm or mtt (raydd list methods).")
@click.option("--ipc", type=int, default=1, show_default=True, help="Synthetic images per class.")
@click.option("--iterations", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Outer iterations (at least 1: a set of 0 was never distilled).")
@click.option("--pool", "pool_text", default="ConvNet", show_default=True,
              help="Model pool, e.g. 'ConvNet=0.9,ConvNetW64=0.1'.")
@click.option("--pool-warmup", type=int, default=0, show_default=True,
              help="Iterations that use only the pool's first architecture.")
@click.option("--normalize-pool", is_flag=True, help="Rescale pool weights to sum to 1.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init", type=click.Choice(["real", "noise"]), default=None,
              help="Initial synthetic images [default: method's own: dc/dsa noise, dm real].")
@click.option("--distance", default="dc", show_default=True, help="Gradient distance: dc, mse or cos.")
@click.option("--lr-img", type=FINITE_FLOAT, default=None, help="Image learning rate [default: dc/dsa 0.1, dm 1.0].")
@click.option("--lr-net", type=FINITE_FLOAT, default=0.01, show_default=True)
@click.option("--momentum-img", type=FINITE_FLOAT, default=0.5, show_default=True)
@click.option("--batch-real", type=int, default=256, show_default=True, help="Real images per class per step.")
@click.option("--outer-loop", type=int, default=None, help="Matching steps per iteration [default: DC table by ipc].")
@click.option("--inner-loop", type=int, default=None, help="Net epochs between matching steps [default: DC table].")
@click.option("--compile/--no-compile", "compile_", default=None,
              help="torch.compile the first-order passes: faster per iteration after a one-off "
                   "compilation per architecture; needs a C++ compiler (CPU) or Triton (GPU). "
                   "[default: auto: CPU runs of 200+ iterations per pool architecture compile when "
                   "the compiler works]")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16: the matching passes under bf16 autocast (faster on CPUs with AMX and on GPUs, "
                   "not bit-comparable with fp32).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--download", is_flag=True, help="Download the dataset if it is missing.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=50, show_default=True,
              help="Iterations between checkpoints (kept next to OUT).")
@click.option("--progress-every", type=click.IntRange(min=1), default=10, show_default=True, help="Iterations between progress lines.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint of OUT's unfinished run.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Artifact directory to write: new, empty, or an earlier raydd output (replaced).")
@mtt_options
def distill(**opts) -> None:
    """Distil a synthetic set with DC, DSA, DM or MTT over a model pool and write it to OUT.

    OUT receives images.safetensors, meta.json and grid.png. While the run goes on, its
    checkpoint is kept next to OUT (as .OUT.checkpoint, removed at the end), so `--resume`
    continues an interrupted run; the same command and seed give the same images. Example:

        raydd distill --dataset digits --method dc --ipc 1 --iterations 20 --out runs/dc1

    MTT (trajectory matching) starts from expert trajectories that `raydd experts train` stores;
    its flags are marked "MTT:" (docs/mtt.md). Example:

    \b
        raydd distill --method mtt --experts-storage experts --pool ConvNet --ipc 1 \\
            --iterations 20 --syn-steps 10 --expert-epochs 1 --max-start-epoch 1 --out runs/mtt1
    """
    from raydd.core.artifact import check_target, save_synset
    from raydd.core.distill import distill as run_distill

    out: Path = opts["out"]
    checkpoint_dir = out.with_name(f".{out.name}.checkpoint")
    check_flags(opts["method"])
    if opts["method"] == "mtt":
        from raydd.cli import distill_mtt

        try:
            check_target(out)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        printer = DistillProgressPrinter(opts["progress_every"])
        try:
            distill_mtt.run(opts, out, printer, checkpoint_dir)
        except KeyboardInterrupt:
            click.echo(_interrupted(printer.iteration, opts["iterations"], checkpoint_dir), err=True)
            raise SystemExit(130) from None
        _remove_checkpoint(checkpoint_dir)
        return
    try:  # every input is checked here, before the first iteration: errors are usage errors
        check_target(out)
        cfg, data, device = _prepare(opts, checkpoint_dir)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"distilling {cfg.dataset} with {cfg.method}, ipc {cfg.ipc}, pool {cfg.pool.name}, "
               f"{cfg.iterations} iterations on {device}", err=True)
    printer = DistillProgressPrinter(opts["progress_every"])
    try:
        synset = run_distill(cfg, data, device, checkpoint_dir=checkpoint_dir,
                             checkpoint_every=opts["checkpoint_every"], resume=opts["resume"], progress=printer)
    except KeyboardInterrupt:  # Ctrl-C: say where the run stopped and how it continues
        click.echo(_interrupted(printer.iteration, cfg.iterations, checkpoint_dir), err=True)
        raise SystemExit(130) from None  # 128 + SIGINT, the shell's convention
    save_synset(synset, out)
    _remove_checkpoint(checkpoint_dir)
    final = synset.meta["final_loss"]
    click.echo(f"wrote {out} ({synset.meta['wall_seconds']:.1f} s"
               + ("" if final is None else f", final loss {final:.4f}") + ")", err=True)
    click.echo(str(out))


def _prepare(opts: dict, checkpoint_dir: Path):
    """(config, dataset, device) from the options, or a ValueError naming the bad one."""
    from raydd.core.datasets import check_ipc_fits, load_dataset, sizes_of
    from raydd.core.distill import DistillConfig
    from raydd.core.distill.compiled import CompileUnavailable, require_compile
    from raydd.core.distill.loop import checkpoint_path
    from raydd.core.pool import PoolSpec

    pool = PoolSpec.parse(opts["pool_text"], warmup=opts["pool_warmup"], normalize=opts["normalize_pool"])
    cfg = DistillConfig(
        dataset=opts["dataset"], method=opts["method"], ipc=opts["ipc"], iterations=opts["iterations"],
        pool=pool, seed=opts["seed"], lr_img=opts["lr_img"], momentum_img=opts["momentum_img"],
        lr_net=opts["lr_net"], batch_real=opts["batch_real"], outer_loop=opts["outer_loop"],
        inner_loop=opts["inner_loop"], init=opts["init"], distance=opts["distance"],
        compile=opts["compile_"], precision=opts["precision"],
    )
    if opts["resume"]:
        _check_resumable(cfg, checkpoint_dir, opts["out"])
    elif checkpoint_path(checkpoint_dir).exists():
        raise ValueError(f"{checkpoint_dir} holds an unfinished run; pass --resume or remove it")
    device = resolve_device(opts["device"])
    if cfg.method != "mtt" and cfg.settings.compile:
        try:
            require_compile(device)  # seconds, before the dataset is loaded
        except CompileUnavailable as exc:
            raise click.ClickException(str(exc)) from None
    data = load_dataset(cfg.dataset, data_dir=opts["data_dir"], download=opts["download"], device=device)
    # the one rule (also what keeps `--ipc 100000000` from trying to allocate terabytes)
    check_ipc_fits(cfg.ipc, sizes_of(data.train.labels, data.info.num_classes), data.info, "--ipc")
    return cfg, data, device


def _interrupted(iteration: int, total: int, checkpoint_dir: Path) -> str:
    """What an interrupted run leaves: its last checkpoint and how to continue from it, or none."""
    from raydd.core.distill.loop import checkpoint_path, load_checkpoint

    where = f"interrupted at iteration {iteration} of {total}"
    path = checkpoint_path(checkpoint_dir)
    try:
        saved = load_checkpoint(checkpoint_dir)
    except ValueError:  # unreadable: say so rather than promise a resume
        saved = None
    if saved is None:
        return f"{where}; no checkpoint was written yet ({path}): run the same command again to start over"
    return (f"{where}; its checkpoint {path} holds iteration {saved['iteration']}: continue with the same "
            "command and --resume")


def _check_resumable(cfg, checkpoint_dir: Path, out: Path) -> None:
    """--resume continues the unfinished run of these very settings, or refuses: it never starts
    from scratch over a finished set. Read before the dataset loads (a checkpoint is small)."""
    from raydd.core.distill.distiller import check_same_config
    from raydd.core.distill.loop import checkpoint_path, load_checkpoint

    path = checkpoint_path(checkpoint_dir)
    state = load_checkpoint(checkpoint_dir)  # a file that would run code is refused by name
    if state is None:
        finished = (f" and {out} holds a finished set; leave out --resume to distil it again and replace it"
                    if (out / "meta.json").is_file() else "; leave out --resume to start one")
        raise ValueError(f"--resume: there is no unfinished run to continue ({path} does not exist){finished}")
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
        raise ValueError(f"checkpoint {path} is not a raydd distillation checkpoint (it holds no config)")
    check_same_config(state["config"], cfg, f"checkpoint {path}")


def _remove_checkpoint(directory: Path) -> None:
    """Remove the finished run's checkpoint file, and its directory if nothing else is in it."""
    from raydd.core.distill.loop import checkpoint_path

    checkpoint_path(directory).unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty: what else is there is not ours to delete
