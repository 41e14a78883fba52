"""Where the time of one DC outer iteration goes: raydd's `Distiller.step` under torch.profiler,
grouped into what a reader can act on (convolution forward and backward, the norm / ReLU / pooling
around them, the matching distance, the rest), after warm-up iterations that pay any compilation.

    python benchmarks/profile_iteration.py --dataset digits --arch ConvNet                 # width 128
    python benchmarks/profile_iteration.py --dataset fashion_mnist --arch ConvNetW32
    python benchmarks/profile_iteration.py --dataset digits --arch ConvNet --precision bf16
    python benchmarks/profile_iteration.py --smoke-test                                  # seconds; CI

Settings are `raydd distill`'s defaults for DC at ipc 1 (batch_real 256, real init; compile as
`--compile` says, on by default as for a CPU run of 300 iterations). Printed: seconds per iteration
outside the profiler, then each group's share of the profiled operator self-time, then the top
operators. Self-time of the profiler's operators, not wall: the shares are what to read.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from raydd.core.allocator import reuse_freed_memory_on
from raydd.core.datasets import load_dataset
from raydd.core.distill import DistillConfig, Distiller

# Operator name fragments -> the group they belong to, first match wins (compiled graphs show as
# their fused kernels' names: Inductor's `graph_*` / `cpp_fused_*`, which are the norm, ReLU and
# pooling work fused around the convolutions).
GROUPS = (
    ("convolution backward", ("convolution_backward", "mkldnn_convolution_backward")),
    ("convolution forward", ("convolution", "mkldnn_convolution", "conv2d")),
    ("matrix multiply (classifier)", ("addmm", "mm", "linear", "bmm")),
    ("fused norm / ReLU / pooling (compiled)", ("CompiledFxGraph", "cpp_fused", "graph_", "Torch-Compiled", "CompiledFunction")),
    ("norm / ReLU / pooling (eager)", ("norm", "relu", "threshold", "pool", "avg_pool")),
    ("loss and distance", ("cross_entropy", "log_softmax", "nll_loss", "cosine", "sum", "mean", "div", "mul")),
)


def group_of(name: str) -> str:
    lowered = name.lower()
    for group, fragments in GROUPS:
        if any(fragment.lower() in lowered for fragment in fragments):
            return group
    return "other"


def seconds_per_iteration(distiller: Distiller, iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        distiller.step()
    return (time.perf_counter() - start) / iterations


def profiled_shares(distiller: Distiller, iterations: int) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Self CPU seconds per group and per operator over `iterations` profiled steps."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(iterations):
            distiller.step()
    per_op = [(event.key, event.self_cpu_time_total / 1e6) for event in prof.key_averages()]
    groups: dict[str, float] = defaultdict(float)
    for name, seconds in per_op:
        groups[group_of(name)] += seconds
    return dict(groups), sorted(per_op, key=lambda item: -item[1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--arch", default="ConvNet")
    p.add_argument("--batch-real", type=int, default=256)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations first (compilation)")
    p.add_argument("--iterations", type=int, default=5, help="timed, then as many profiled")
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--smoke-test", action="store_true", help="digits, ConvNetW32, eager, 1+1+1 iterations")
    args = p.parse_args(argv)
    if args.smoke_test:
        args.arch, args.compile, args.warmup, args.iterations, args.batch_real = "ConvNetW32", False, 1, 1, 32
    device = torch.device("cpu")
    reuse_freed_memory_on(device)
    data = load_dataset(args.dataset)
    cfg = DistillConfig(dataset=args.dataset, method="dc", ipc=1, iterations=args.warmup + 2 * args.iterations,
                        pool=args.arch, seed=0, init="real", batch_real=args.batch_real, compile=args.compile,
                        precision=args.precision)
    distiller = Distiller(cfg, data, device)
    print(f"DC ipc 1, {args.dataset}, {args.arch}, batch_real {args.batch_real}, {args.precision}, "
          f"compile {'on' if args.compile else 'off'}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    seconds_per_iteration(distiller, args.warmup)
    print(f"seconds per iteration (unprofiled, {args.iterations} after {args.warmup} warm-up): "
          f"{seconds_per_iteration(distiller, args.iterations):.3f}")
    groups, per_op = profiled_shares(distiller, args.iterations)
    total = sum(groups.values()) or 1.0
    print("share of profiled operator self-time:")
    for group, seconds in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"  {100 * seconds / total:5.1f} %  {group}")
    print(f"top {args.top} operators (self seconds over {args.iterations} iterations):")
    for name, seconds in per_op[:args.top]:
        print(f"  {seconds:8.3f}  {name}  [{group_of(name)}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
