"""Seconds per outer iteration of raydd beside the original DC / DSA / DM code itself.

    python benchmarks/vs_original.py --original-dir ~/src/DatasetCondensation
    python benchmarks/vs_original.py --original-dir DIR --only 'dc/*ipc1*' --iterations 4 --rounds 5
    python benchmarks/vs_original.py --smoke-test [--original-dir DIR]     # seconds; CI

The original code (github.com/VICO-UoE/DatasetCondensation: `main.py` for DC and DSA, `main_DM.py`
for DM) is never copied into raydd: DIR goes on `sys.path` at run time and the original's own
`main()` runs, with its own argument parser and its own functions, on the very tensors raydd
distils from (its `get_dataset` is swapped for one returning them) and with its evaluations off
(`--num_eval 0`). It calls its `get_network` exactly once per outer iteration, so the time between
two calls is one iteration. raydd runs a `Distiller` with the same settings. Each side runs in a
fresh process per round, as its users run it (so no process-wide state of one reaches the other),
with the same number of threads; the sides alternate round by round, so a change of machine load
hits both, and each round's first iteration (allocator, caches, compilation) is left out. Printed
per case: seconds per iteration of each, and raydd / original as the median over rounds of the
per-round ratio. On a loaded machine, `--threads 1 --clock cpu` counts the process's CPU seconds
instead of wall seconds, which other processes disturb far less.

Architectures are the names both codes share: ConvNet (width 128) and ConvNetW32 (the original's
`net_width=32`), depth 3, ReLU, instance norm, average pooling, 28-px inputs padded to 32.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import importlib.util
import io
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from raydd.core.datasets import Dataset, load_dataset
from raydd.core.distill import DistillConfig, distill

from fresh_process import json_of_fresh_process  # benchmarks/, this script's folder

ORIGINAL_SCRIPTS = {"dc": "main.py", "dsa": "main.py", "dm": "main_DM.py"}
DSA_STRATEGY = "color_crop_cutout_flip_scale_rotate"  # both codes' default for DSA and DM
BATCH_REAL = {"digits": 64, "fashion_mnist": 256}  # digits classes hold ~130 images


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


# ---- the original code, run as it is -----------------------------------------------------------
class OriginalError(RuntimeError):
    """The original code is not where --original-dir says, or cannot be imported."""


# Two lines of the original's DSA (`utils.py`) fail on today's PyTorch; both are fixed in memory
# when it is loaded, with the least change that runs it (pattern, replacement, why).
UTILS_FIXES = (
    (re.compile(r"^(\s+)(\w+)\[:\] = \2\[0\]$", re.MULTILINE), r"\1\2[:] = \2[0].clone()",
     "siamese writes t[:] = t[0] copy t[0] first (PyTorch >= 1.11 refuses a self-overlapping copy)"),
    (re.compile(r"(\[grid_batch, grid_x, grid_y\]\.permute\(0, 3, 1, 2\))$", re.MULTILINE),
     r"\1.clone(memory_format=torch.contiguous_format)",
     "the crop's permuted result is copied to the standard layout, as its final .contiguous() does "
     "for 3 channels (a 1-channel batch with those strides runs channels-last today, and the nets' "
     "flattening .view() fails)"),
)


def load_original(original_dir: Path, script: str):
    """The original script as a module (its `main()` not yet run); DIR joins sys.path for its
    imports, and its `utils` is loaded with the siamese write fixed (in memory only)."""
    path = original_dir / script
    if not path.is_file():
        raise OriginalError(f"{path} does not exist: --original-dir must be a checkout of "
                            "github.com/VICO-UoE/DatasetCondensation")
    for name in ("utils", "networks"):  # the original imports these by bare name
        loaded = sys.modules.get(name)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").parent != original_dir:
            raise OriginalError(f"another module named {name!r} is already imported ({loaded!r})")
    if str(original_dir) not in sys.path:
        sys.path.insert(0, str(original_dir))
    try:
        if "utils" not in sys.modules:
            sys.modules["utils"] = _fixed_utils(original_dir / "utils.py")
        return _module_from(path, f"original_{path.stem}", path.read_text())
    except ImportError as error:
        raise OriginalError(f"cannot import the original {script}: {error}") from error


def _fixed_utils(path: Path):
    source = path.read_text()
    for pattern, replacement, why in UTILS_FIXES:
        source, count = pattern.subn(replacement, source)
        print(f"original utils.py, fixed in memory at {count} place(s): {why}")
    return _module_from(path, "utils", source)


def _module_from(path: Path, name: str, source: str):
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None, origin=str(path)))
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


class _Pairs:
    """(image, int label) pairs, as the original's `main()` reads its training set."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


def original_seconds(module, case: Case, data: Dataset, iterations: int, clock) -> list[float]:
    """Run the original `main()` for `iterations` outer iterations; the seconds of each."""
    info = data.info
    returned = (info.channels, (info.image_size, info.image_size), info.num_classes, list(info.class_names),
                list(info.mean), list(info.std), _Pairs(data.train.images, data.train.labels), None, None)
    calls: list[float] = []
    get_network = module.get_network

    def timed_get_network(*args, **kwargs):
        calls.append(clock())
        return get_network(*args, **kwargs)

    module.get_dataset = lambda dataset, data_path: returned
    module.get_network = timed_get_network
    with tempfile.TemporaryDirectory() as workdir:
        argv = ["main", "--dataset", info.name, "--model", case.arch, "--ipc", str(case.ipc),
                "--eval_mode", "S", "--num_exp", "1", "--num_eval", "0", "--Iteration", str(iterations - 1),
                "--batch_real", str(case.batch_real), "--data_path", workdir, "--save_path", workdir]
        if case.method != "dm":
            argv += ["--method", case.method.upper(), "--init", "noise"]
            argv += ["--dsa_strategy", DSA_STRATEGY] if case.method == "dsa" else []
        sys.argv = argv
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # np.mean of its zero evaluations, deprecations
            module.main()
    end = clock()
    # Iteration it = 0..Iteration each starts with one get_network call; the last ends with main().
    return [b - a for a, b in zip(calls, calls[1:] + [end])]


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


# ---- one side of one round, in its own process ---------------------------------------------------
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def worker(args) -> None:
    """Print the JSON list of seconds per iteration of one side (original, eager, compiled)."""
    case = next(c for c in all_cases() + smoke_cases() if c.name == args.case)
    data = load_dataset(case.dataset, device=args.device)
    clock = CLOCKS[args.clock]
    if args.worker == "original":
        module = load_original(args.original_dir.resolve(), ORIGINAL_SCRIPTS[case.method])
        seconds = original_seconds(module, case, data, args.iterations + 1, clock)
    else:
        seconds = raydd_seconds(case, data, args.iterations + 1, args.device, args.worker == "compiled",
                                args.seed, clock)
    print(json.dumps(seconds))


def run_side(side: str, case: Case, seed: int, args) -> list[float]:
    command = [__file__, "--worker", side, "--case", case.name, "--seed", str(seed),
               "--iterations", str(args.iterations), "--device", args.device, "--clock", args.clock,
               "--original-dir", str(args.original_dir)]
    command += ["--threads", str(args.threads)] if args.threads else []
    return json_of_fresh_process(command, f"the {side} side of {case.name}",
                                 raydd_malloc=side == "original" and args.same_malloc)


# ---- measuring ---------------------------------------------------------------------------------
@dataclass
class Timing:
    original: list[float]  # seconds per iteration, first iteration of each round left out
    raydd: dict[str, list[float]]  # per raydd variant (eager, compiled)
    ratios: dict[str, list[float]]  # per variant, raydd / original of each round
    first_iteration: dict[str, float]  # per variant, the first iteration of the first round


def measure(case: Case, args) -> Timing:
    timing = Timing([], {v: [] for v in args.raydd}, {v: [] for v in args.raydd}, {})
    for round_ in range(args.rounds):
        original = run_side("original", case, round_, args)[1:]
        timing.original += original
        for variant in args.raydd:
            seconds = run_side(variant, case, round_, args)
            timing.first_iteration.setdefault(variant, seconds[0])
            timing.raydd[variant] += seconds[1:]
            timing.ratios[variant].append(statistics.median(seconds[1:]) / statistics.median(original))
    return timing


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
            f"torch {torch.__version__}, {torch.get_num_threads()} threads")


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--original-dir", type=Path, help="a checkout of VICO-UoE/DatasetCondensation")
    p.add_argument("--only", default="*", help="cases whose name matches this wildcard (see the list printed)")
    p.add_argument("--iterations", type=int, default=3, help="timed outer iterations per round and side")
    p.add_argument("--rounds", type=int, default=3, help="alternations of the original and raydd")
    p.add_argument("--raydd", default="eager,compiled", help="raydd variants: eager, compiled")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="raydd's device; the original picks cuda whenever it sees one (hide GPUs with "
                        "CUDA_VISIBLE_DEVICES= to compare on CPU)")
    p.add_argument("--threads", type=int, default=None, help="torch threads of both (default: torch's)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall seconds, or the process's CPU seconds (with --threads 1 on a loaded machine)")
    p.add_argument("--same-malloc", action="store_true",
                   help="run the original with raydd's CPU malloc setting too (what is left is the code)")
    p.add_argument("--smoke-test", action="store_true", help="two tiny cases, one round (CI)")
    p.add_argument("--worker", choices=["original", "eager", "compiled"], help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        worker(args)
        return 0
    args.raydd = args.raydd.split(",")
    cases = [c for c in all_cases() if fnmatch.fnmatchcase(c.name, args.only)]
    if args.smoke_test:
        if args.original_dir is None:
            print("smoke test skipped: no --original-dir (the original DC code is not part of raydd; "
                  "clone github.com/VICO-UoE/DatasetCondensation and pass its directory)")
            return 0
        cases, args.iterations, args.rounds, args.raydd = smoke_cases(), 1, 1, ["eager"]
    if args.original_dir is None:
        p.error("--original-dir is required (a checkout of VICO-UoE/DatasetCondensation)")
    if not cases:
        p.error(f"no case matches {args.only!r}; cases: {', '.join(c.name for c in all_cases())}")
    try:
        for script in sorted({ORIGINAL_SCRIPTS[c.method] for c in cases}):
            load_original(args.original_dir.resolve(), script)  # fail here, in one line, if it cannot run
    except OriginalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    print(f"raydd on {args.device}; {args.rounds} rounds x {args.iterations} timed iterations per side, "
          f"interleaved, {args.clock} clock; ratio = raydd / original, median over rounds [min-max]"
          + ("; the original with raydd's malloc setting" if args.same_malloc else ""))
    header = f"{'case':<40} {'orig s/it':>9}"
    for variant in args.raydd:
        header += f" {variant[:8] + ' s/it':>9} {'ratio':>6} {'[range]':>11}"
    print(header + (f" {'compile s':>8}" if "compiled" in args.raydd else ""), flush=True)
    for case in cases:
        report(case, measure(case, args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
