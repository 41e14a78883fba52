"""Seconds per outer iteration of raydd beside the original DC / DSA / DM code itself, each run as
its users run it.

    python benchmarks/vs_original.py --original-dir ~/src/DatasetCondensation
    python benchmarks/vs_original.py --original-dir DIR --only 'dc/*ipc1*' --iterations 4 --rounds 5
    python benchmarks/vs_original.py --original-dir DIR --check-harness --only 'dc/*/ipc1/*'
    python benchmarks/vs_original.py --smoke-test [--original-dir DIR]     # seconds; CI

The original code (github.com/VICO-UoE/DatasetCondensation: `main.py` for DC and DSA, `main_DM.py`
for DM) is never copied into raydd: DIR goes on `sys.path` at run time, in a process of its own
that imports nothing of raydd (original_worker.py), and the original's own `main()` runs with its
own argument parser, defaults and data pipeline: its `get_dataset` reads the dataset's files from
its `--data_path` (original_data.py lays them out: Fashion-MNIST's official files; digits, which
it has no loader for, written as MNIST idx files), with its evaluations off (`--num_eval 0`). It
calls its `get_network` exactly once per outer iteration, so the time between two calls is one
iteration. raydd runs `distill()` with the same settings on its own data. Each side runs in a fresh
process per round, with the same number of threads; the sides alternate round by round, so a
change of machine load hits both, and each round's first iteration (allocator, caches,
compilation) is left out. Printed per case: seconds per iteration of each, and raydd / original as
the median over rounds of the per-round ratio. On a loaded machine, `--threads 1 --clock cpu`
counts the process's CPU seconds instead of wall seconds, which other processes disturb far less.

`--check-harness` shows that timing the original from inside does not change its speed: per case
it alternates the harness's run with the original run natively (`python -u main.py ...` in its
checkout, untouched, timed by the arrival of the line it prints every 10 iterations) and fails
when the two s/iteration differ by more than 10 %.

Architectures are the names both codes share: ConvNet (width 128) and ConvNetW32 (the original's
`net_width=32`), depth 3, ReLU, instance norm, average pooling, 28-px inputs padded to 32.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from raydd.core.datasets import Dataset, load_dataset
from raydd.core.distill import DistillConfig, distill

from fresh_process import json_of_fresh_process, side_environment  # benchmarks/, this script's folder
from original_code import ORIGINAL_SCRIPTS, OriginalError, check_checkout, main_argv
from original_data import OriginalData, prepare

BENCHMARKS = Path(__file__).resolve().parent
BATCH_REAL = {"digits": 64, "fashion_mnist": 256}  # digits classes hold ~130 images
HARNESS_TOLERANCE = 0.10  # the harness's s/iteration may differ from a native run's by this much
NATIVE_PRINT_EVERY = 10  # the original prints "iter = N" when N % 10 == 0


@dataclass(frozen=True)
class Case:
    method: str  # dc | dsa | dm
    dataset: str  # a raydd dataset name
    arch: str  # a name both codes know
    ipc: int
    batch_real: int

    @property
    def name(self) -> str:
        return f"{self.method}/{self.dataset}/{self.arch}/ipc{self.ipc}/br{self.batch_real}"


def smoke_cases() -> list[Case]:
    return [Case("dc", "digits", "ConvNetW32", 1, 8), Case("dm", "digits", "ConvNetW32", 1, 8)]


def all_cases() -> list[Case]:
    """DC and DSA at ipc 1 and 10 and DM at ipc 1 and 10, on digits and Fashion-MNIST, on ConvNet
    and ConvNetW32; the two cases of the speed target come first."""
    targets = [Case("dc", "digits", "ConvNet", 1, 64), Case("dc", "fashion_mnist", "ConvNetW32", 1, 256)]
    grid = [Case(m, d, a, ipc, BATCH_REAL[d]) for d in BATCH_REAL for a in ("ConvNet", "ConvNetW32")
            for m in ("dc", "dsa", "dm") for ipc in (1, 10)]
    return targets + [c for c in grid if c not in targets]


def find_case(name: str) -> Case:
    return next(c for c in all_cases() + smoke_cases() if c.name == name)


# ---- the original, as its users run it ----------------------------------------------------------
def original_seconds(case: Case, data: OriginalData, iterations: int, args) -> list[float]:
    """Seconds of each of `iterations` outer iterations of the original, timed from inside a fresh
    process of its own (original_worker.py)."""
    with tempfile.TemporaryDirectory() as save_path:
        main = main_argv(case.method, data.name, case.arch, case.ipc, iterations, data.path, Path(save_path),
                         case.batch_real)
        command = [str(BENCHMARKS / "original_worker.py"), "--original-dir", str(args.original_dir),
                   "--script", ORIGINAL_SCRIPTS[case.method], "--clock", args.clock, "--", *main]
        return json_of_fresh_process(command, f"the original side of {case.name}", env=side_env(args, "original"))


def native_seconds_per_iteration(case: Case, data: OriginalData, iterations: int, args) -> float:
    """The original run natively, untouched: `python -u SCRIPT ...` in its checkout; the median
    over its printed "iter = N" lines of the seconds between two of them, per iteration. The first
    line (iteration 0: start-up, data, caches) starts no interval."""
    with tempfile.TemporaryDirectory() as save_path:
        main = main_argv(case.method, data.name, case.arch, case.ipc, iterations, data.path, Path(save_path),
                         case.batch_real)
        process = subprocess.Popen([sys.executable, "-u", ORIGINAL_SCRIPTS[case.method], *main],
                                   cwd=args.original_dir, env=side_env(args, "original"), text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        arrivals = [(int(m.group(1)), time.perf_counter())
                    for m in map(re.compile(r"iter = (\d+),").search, process.stdout) if m]
        stderr = process.stderr.read()
        if process.wait():
            raise RuntimeError(f"the native run of {case.name} failed:\n{stderr[-3000:]}")
    steps = [(t2 - t1) / (i2 - i1) for (i1, t1), (i2, t2) in zip(arrivals[1:], arrivals[2:])]
    if not steps:
        raise RuntimeError(f"the native run of {case.name} printed too few iterations: {arrivals}")
    return statistics.median(steps)


# ---- raydd --------------------------------------------------------------------------------------
def raydd_seconds(case: Case, data: Dataset, iterations: int, device: str, compile_: bool,
                  seed: int, clock) -> list[float]:
    """Run `distill()`, as `raydd distill` and a sweep trial do; the seconds of each iteration (the
    first includes building the run)."""
    cfg = DistillConfig(dataset=data.info.name, method=case.method, ipc=case.ipc, iterations=iterations,
                        pool=case.arch, seed=seed, batch_real=case.batch_real, compile=compile_)
    ticks = [clock()]

    def tick(_progress) -> None:
        if device == "cuda":
            torch.cuda.synchronize()
        ticks.append(clock())

    distill(cfg, data, device, progress=tick)
    return [b - a for a, b in zip(ticks, ticks[1:])]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def raydd_worker(args) -> None:
    """Print the JSON list of seconds per iteration of one raydd variant (eager, compiled)."""
    case = find_case(args.case)
    data = load_dataset(case.dataset, device=args.device)
    seconds = raydd_seconds(case, data, args.iterations + 1, args.device, args.worker == "compiled", args.seed,
                            CLOCKS[args.clock])
    print(json.dumps(seconds))


def raydd_side(variant: str, case: Case, seed: int, args) -> list[float]:
    command = [__file__, "--worker", variant, "--case", case.name, "--seed", str(seed),
               "--iterations", str(args.iterations), "--device", args.device, "--clock", args.clock]
    return json_of_fresh_process(command, f"the {variant} side of {case.name}", env=side_env(args, variant))


def side_env(args, side: str) -> dict[str, str]:
    return side_environment(threads=args.threads, raydd_malloc=side == "original" and args.same_malloc)


# ---- measuring ---------------------------------------------------------------------------------
@dataclass
class Timing:
    original: list[float]  # seconds per iteration, first iteration of each round left out
    raydd: dict[str, list[float]]  # per raydd variant (eager, compiled)
    ratios: dict[str, list[float]]  # per variant, raydd / original of each round
    first_iteration: dict[str, float]  # per variant, the first iteration of the first round


def measure(case: Case, data: OriginalData, args) -> Timing:
    timing = Timing([], {v: [] for v in args.raydd}, {v: [] for v in args.raydd}, {})
    for round_ in range(args.rounds):
        original = original_seconds(case, data, args.iterations + 1, args)[1:]
        timing.original += original
        for variant in args.raydd:
            seconds = raydd_side(variant, case, round_, args)
            timing.first_iteration.setdefault(variant, seconds[0])
            timing.raydd[variant] += seconds[1:]
            timing.ratios[variant].append(statistics.median(seconds[1:]) / statistics.median(original))
    return timing


def check_harness(case: Case, data: OriginalData, args) -> bool:
    """The harness's s/iteration of the original against a native run's, alternated `--rounds`
    times; True when the medians agree within HARNESS_TOLERANCE."""
    iterations = args.check_iterations
    harness, native = [], []
    for _ in range(args.rounds):
        harness.append(statistics.median(original_seconds(case, data, iterations, args)[1:]))
        native.append(native_seconds_per_iteration(case, data, iterations, args))
    h, n = statistics.median(harness), statistics.median(native)
    ok = abs(h / n - 1) <= HARNESS_TOLERANCE
    print(f"{case.name:<40} {n:>10.3f} {h:>10.3f} {h / n:>6.3f}  {'ok' if ok else 'OUTSIDE'} "
          f"(native rounds {', '.join(f'{x:.3f}' for x in native)}; harness {', '.join(f'{x:.3f}' for x in harness)})",
          flush=True)
    return ok


def machine() -> str:
    model = platform.processor() or platform.machine()
    flags = ""
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                      if line.startswith("model name")), model)
        flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    units = [u for u in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {u}" in flags]
    return (f"{model} ({', '.join(units) or 'no AVX-512/AMX'}), {os.cpu_count()} CPUs, "
            f"torch {torch.__version__}, {os.environ.get('OMP_NUM_THREADS') or torch.get_num_threads()} threads")


def report(case: Case, t: Timing, args) -> None:
    line = f"{case.name:<40} {statistics.median(t.original):>9.3f}"
    for variant in args.raydd:
        ratios = t.ratios[variant]
        line += (f" {statistics.median(t.raydd[variant]):>9.3f} {statistics.median(ratios):>6.2f}"
                 f" [{min(ratios):.2f}-{max(ratios):.2f}]")
    if "compiled" in t.first_iteration:
        one_off = t.first_iteration["compiled"] - statistics.median(t.raydd["compiled"])
        line += f" {one_off:>8.1f}"
    print(line, flush=True)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--original-dir", type=Path, help="a checkout of VICO-UoE/DatasetCondensation")
    p.add_argument("--only", default="*",
                   help="cases whose name matches one of these comma-separated wildcards (see the list printed)")
    p.add_argument("--iterations", type=int, default=3, help="timed outer iterations per round and side")
    p.add_argument("--rounds", type=int, default=3, help="alternations of the original and raydd")
    p.add_argument("--raydd", default="eager,compiled", help="raydd variants: eager, compiled")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="raydd's device; the original picks cuda whenever it sees one (hide GPUs with "
                        "CUDA_VISIBLE_DEVICES= to compare on CPU)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads of both sides, as OMP_NUM_THREADS (default: torch's own choice)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall seconds, or the process's CPU seconds (with --threads 1 on a loaded machine)")
    p.add_argument("--same-malloc", action="store_true",
                   help="run the original with raydd's CPU malloc setting too (what is left is the code)")
    p.add_argument("--check-harness", action="store_true",
                   help="compare the harness's timing of the original with a native run of it, and stop")
    p.add_argument("--check-iterations", type=int, default=31,
                   help="outer iterations of each --check-harness run (the original prints every 10th)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="where the original's --data_path directories are made (default: raydd's cache)")
    p.add_argument("--smoke-test", action="store_true", help="two tiny cases, one round (CI)")
    p.add_argument("--worker", choices=["eager", "compiled"], help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    return p, p.parse_args(argv)


def main(argv=None) -> int:
    p, args = parse(argv)
    if args.worker:
        raydd_worker(args)
        return 0
    args.raydd = args.raydd.split(",")
    cases = [c for c in all_cases() if any(fnmatch.fnmatchcase(c.name, w) for w in args.only.split(","))]
    if args.smoke_test:
        if args.original_dir is None:
            print("smoke test skipped: no --original-dir (the original DC code is not part of raydd; "
                  "clone github.com/VICO-UoE/DatasetCondensation and pass its directory)")
            return 0
        cases, args.iterations, args.rounds, args.raydd = smoke_cases(), 1, 1, ["eager"]
        args.check_iterations = min(args.check_iterations, 21)
    if args.original_dir is None:
        p.error("--original-dir is required (a checkout of VICO-UoE/DatasetCondensation)")
    if not cases:
        p.error(f"no case matches {args.only!r}; cases: {', '.join(c.name for c in all_cases())}")
    if args.check_harness and any(c.method == "dsa" for c in cases):
        p.error("--check-harness runs the original untouched, and its DSA fails on today's PyTorch "
                "(original_code.UTILS_FIXES): leave the dsa cases out with --only")
    args.original_dir = args.original_dir.resolve()
    try:
        for script in sorted({ORIGINAL_SCRIPTS[c.method] for c in cases}):
            check_checkout(args.original_dir, script)  # fail here, in one line, if it cannot run
        data = {d: prepare(d, args.data_root) for d in sorted({c.dataset for c in cases})}
    except (OriginalError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    for d in data.values():
        print(f"the original's data ({d.name}): {d.note}")
    if args.check_harness:
        print(f"the original in the harness against the original run natively, {args.rounds} alternations of "
              f"{args.check_iterations} iterations, wall clock; s/iteration, median over rounds")
        print(f"{'case':<40} {'native':>10} {'harness':>10} {'ratio':>6}")
        return 0 if all([check_harness(c, data[c.dataset], args) for c in cases]) else 1
    print(f"raydd on {args.device}; {args.rounds} rounds x {args.iterations} timed iterations per side, "
          f"interleaved, {args.clock} clock; ratio = raydd / original, median over rounds [min-max]"
          + ("; the original with raydd's malloc setting" if args.same_malloc else ""))
    header = f"{'case':<40} {'orig s/it':>9}"
    for variant in args.raydd:
        header += f" {variant[:8] + ' s/it':>9} {'ratio':>6} {'[range]':>11}"
    print(header + (f" {'compile s':>8}" if "compiled" in args.raydd else ""), flush=True)
    for case in cases:
        report(case, measure(case, data[case.dataset], args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
