"""A whole distillation run as users see it: `raydd distill` with its defaults against the original
DC code's `main.py`, each a fresh process from start-up through data loading to the saved set.

    python benchmarks/whole_run.py --original-dir ~/src/DatasetCondensation               # both configs
    python benchmarks/whole_run.py --original-dir DIR --only fashion_mnist --rounds 5 --iterations 300
    python benchmarks/whole_run.py --original-dir DIR --precision bf16   # raydd's opt-in bf16 matching

Configurations (the speed target's): Fashion-MNIST on ConvNetW32 and digits on ConvNet (width 128),
DC, ipc 1, every other setting each code's own default (batch_real 256 in both; raydd's compile
setting `auto`). raydd: `raydd distill --dataset D --pool ARCH --iterations N --out TMP`. The
original: `python main.py --dataset D --model ARCH --ipc 1 --Iteration N --num_eval 0 --num_exp 1
--data_path P` in its checkout (its `--Iteration N` runs N + 1 iterations, 0..N; `--num_exp 1`, as
its default 5 would run five experiments). Its data: the official Fashion-MNIST files, and digits
written as MNIST idx files (original_data.py). The two alternate, raydd first, `--rounds` times;
printed: each round's wall and CPU seconds and raydd / original, and the median with its range.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fresh_process import side_environment  # benchmarks/, this script's folder
from original_code import OriginalError, check_checkout
from original_data import prepare
from vs_original import machine


@dataclass(frozen=True)
class Config:
    dataset: str  # raydd's name
    arch: str  # a name both codes know


CONFIGS = {"fashion_mnist": Config("fashion_mnist", "ConvNetW32"), "digits": Config("digits", "ConvNet")}


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float  # user + system seconds of the process and its children


def timed(command: list[str], cwd: Path | None, env: dict[str, str]) -> Run:
    """Wall and CPU seconds of one fresh process; RuntimeError with its stderr tail if it fails."""
    cpu_before, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed:\n{done.stderr[-3000:]}")
    return Run(wall, _children_cpu() - cpu_before)


def _children_cpu() -> float:
    """User + system seconds of every child reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def raydd_command(config: Config, iterations: int, out: Path, precision: str | None = None) -> list[str]:
    """`raydd distill` with its defaults, or with `--precision` where one is asked for."""
    chosen = ["--precision", precision] if precision else []
    return [sys.executable, "-m", "raydd", "distill", "--dataset", config.dataset, "--pool", config.arch,
            "--iterations", str(iterations), *chosen, "--out", str(out)]


def original_command(config: Config, iterations: int, data, save: Path) -> list[str]:
    return [sys.executable, "main.py", "--dataset", data.name, "--model", config.arch, "--ipc", "1",
            "--Iteration", str(iterations), "--num_eval", "0", "--num_exp", "1", "--data_path", str(data.path),
            "--save_path", str(save)]


def compare(config: Config, args) -> None:
    data = prepare(config.dataset, args.data_root)
    env = side_environment(threads=args.threads)
    ratios = []
    precision = f"raydd --precision {args.precision}" if args.precision else "raydd's defaults"
    print(f"\n## {config.dataset}, DC, ipc 1, {config.arch}, {args.iterations} iterations, {precision}; the original's data: "
          f"{data.note}")
    print(f"{'round':>5} {'raydd wall':>10} {'cpu':>7} {'original wall':>13} {'cpu':>7} {'ratio':>6}", flush=True)
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as work:
            raydd = timed(raydd_command(config, args.iterations, Path(work) / "set", args.precision), None, env)
            original = timed(original_command(config, args.iterations, data, Path(work)), args.original_dir, env)
        ratios.append(raydd.wall / original.wall)
        print(f"{round_ + 1:>5} {raydd.wall:>10.1f} {raydd.cpu:>7.1f} {original.wall:>13.1f} {original.cpu:>7.1f} "
              f"{ratios[-1]:>6.3f}", flush=True)
    print(f"raydd / original, wall: median {statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}] "
          f"over {len(ratios)} rounds", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--original-dir", type=Path, required=True, help="a checkout of VICO-UoE/DatasetCondensation")
    p.add_argument("--only", choices=sorted(CONFIGS), default=None)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of both")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                   help="raydd's matching precision (default: raydd's own default, fp32)")
    args = p.parse_args(argv)
    args.original_dir = args.original_dir.resolve()
    try:
        check_checkout(args.original_dir, "main.py")
    except OriginalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"machine: {machine()}; {args.threads} threads each (OMP_NUM_THREADS); load average at start "
          f"{os.getloadavg()[0]:.2f}")
    for name in [args.only] if args.only else list(CONFIGS):
        compare(CONFIGS[name], args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
