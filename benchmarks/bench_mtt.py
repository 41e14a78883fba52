"""Seconds per MTT iteration and its peak memory against syn_steps, with the estimate beside it.

    python benchmarks/bench_mtt.py                    # ConvNet, ConvNetW32; syn_steps 10 20 40 80; ipc 1
    python benchmarks/bench_mtt.py --archs ConvNetW32 --ipc 10 --syn-steps 10 20 40
    python benchmarks/bench_mtt.py --smoke-test       # seconds; CI

Digits-sized data (1 x 28 x 28, 10 classes, `ipc` synthetic images per class, every student step
on all of them: batch_syn = 10 * ipc), DSA on, one thread. The expert is a random net drifting by
small random moves per epoch: what one iteration costs does not depend on how the expert was
trained. Each number comes from a fresh process of its own:

- seconds: raydd's allocator setting (freed memory kept for reuse, as `distill` runs), one
  untimed iteration, then the mean of `--iterations` timed ones, on the process's CPU clock
  (`--clock wall` for wall seconds); the machine's load disturbs CPU seconds far less;
- memory: glibc told to give every block above 128 KiB back at once (MALLOC_MMAP_THRESHOLD_), so
  the resident size follows what is allocated; two one-step iterations first (code pages,
  thread pools), then the growth of the peak resident size over one iteration. That is what
  `estimate_mtt_memory` predicts; its estimate is printed beside it.

A setting whose estimate exceeds the memory available now is refused before it runs, as an MTT
run will be (`check_mtt_memory`), and shown as refused.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_evaluate import machine  # noqa: E402
from fresh_process import json_of_fresh_process  # noqa: E402

from raydd.core.distill.mtt_memory import available_memory, check_mtt_memory, estimate_mtt_memory  # noqa: E402

STRATEGY = "color_crop_cutout_flip_scale_rotate"
SIDE, CHANNELS, CLASSES = 28, 1, 10
RETURN_BLOCKS_AT_ONCE = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def make_run(arch: str, ipc: int, syn_steps: int):
    from raydd.core.archs import build_net
    from raydd.core.datasets import DatasetInfo
    from raydd.core.distill.mtt import MTTRun, MTTSettings
    from raydd.core.experts import ExpertSettings, ParamLayout, Trajectory
    from raydd.core.pool import PoolSpec

    info = DatasetInfo("digits-sized", CHANNELS, SIDE, CLASSES, (0.0,), (1.0,), tuple(map(str, range(CLASSES))))
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_net(arch, CHANNELS, CLASSES, SIDE)
    layout = ParamLayout.of(net)
    start = layout.flatten(net)
    trajectory = Trajectory(arch, layout, torch.stack([start + 0.01 * e * torch.randn(layout.numel, generator=g)
                                                       for e in range(3)]))
    settings = MTTSettings(syn_steps=syn_steps, expert_epochs=2, max_start_epoch=1, dsa_strategy=STRATEGY,
                           experts=ExpertSettings(epochs=2))
    images = torch.randn(CLASSES * ipc, CHANNELS, SIDE, SIDE, generator=g)
    labels = torch.arange(CLASSES).repeat_interleave(ipc)
    return MTTRun(settings, info, images, labels, {arch: [trajectory]}, PoolSpec.single(arch), seed=0)


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(args) -> None:
    """One measurement in this fresh process; prints its JSON."""
    torch.set_num_threads(1)
    if args.worker == "seconds":
        from raydd.core.allocator import reuse_freed_memory

        reuse_freed_memory()
        run, clock = make_run(args.arch, args.ipc, args.syn_steps), CLOCKS[args.clock]
        run.step()
        started = clock()
        for _ in range(args.iterations):
            run.step()
        print(json.dumps({"seconds": (clock() - started) / args.iterations}))
        return
    warm = make_run(args.arch, args.ipc, 1)
    for _ in range(2):
        warm.step()
    del warm
    gc.collect()
    run = make_run(args.arch, args.ipc, args.syn_steps)
    before = resident_bytes()
    run.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_bytes": peak - before}))


def measure(arch: str, ipc: int, syn_steps: int, args) -> dict:
    common = [__file__, "--arch", arch, "--ipc", str(ipc), "--syn-steps", str(syn_steps), "--clock", args.clock,
              "--iterations", str(args.iterations)]
    what = f"{arch} syn_steps {syn_steps}"
    seconds = json_of_fresh_process([*common, "--worker", "seconds"], f"timing {what}",
                                    env=dict(os.environ, OMP_NUM_THREADS="1"))
    memory = json_of_fresh_process([*common, "--worker", "memory"], f"memory of {what}",
                                   env=dict(os.environ, OMP_NUM_THREADS="1", **RETURN_BLOCKS_AT_ONCE))
    return {**seconds, **memory}


def table(args) -> None:
    available = available_memory("cpu")
    torch.set_num_threads(1)  # as the workers run
    print(f"## MTT iteration cost on {machine()}, {args.clock} clock; digits-sized images, ipc {args.ipc} "
          f"(batch_syn {CLASSES * args.ipc}), "
          f"DSA; {available / 2**30:.1f} GiB available")
    print(f"{'arch':<11} {'syn_steps':>9} {'s/iteration':>12} {'peak MiB':>9} {'estimate MiB':>13} "
          f"{'est/measured':>13}")
    for arch in args.archs:
        for steps in args.syn_steps:
            batch = CLASSES * args.ipc
            estimate = estimate_mtt_memory(arch, CHANNELS, CLASSES, SIDE, batch, steps, batch, STRATEGY).total
            try:
                check_mtt_memory([arch], CHANNELS, CLASSES, SIDE, batch, steps, batch, STRATEGY, available)
            except ValueError as refusal:
                print(f"{arch:<11} {steps:>9} refused: {refusal}")
                continue
            got = measure(arch, args.ipc, steps, args)
            print(f"{arch:<11} {steps:>9} {got['seconds']:>12.3f} {got['peak_bytes'] / 2**20:>9.0f} "
                  f"{estimate / 2**20:>13.0f} {estimate / got['peak_bytes']:>13.2f}", flush=True)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--archs", nargs="+", default=["ConvNetW32", "ConvNet"])
    p.add_argument("--syn-steps", nargs="+", type=int, default=[10, 20, 40, 80])
    p.add_argument("--ipc", type=int, default=1)
    p.add_argument("--iterations", type=int, default=3, help="timed iterations per setting")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    p.add_argument("--smoke-test", action="store_true", help="ConvNetW32, syn_steps 2 and 4, one iteration (CI)")
    p.add_argument("--worker", choices=("seconds", "memory"), help=argparse.SUPPRESS)
    p.add_argument("--arch", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    if args.worker:
        args.syn_steps = args.syn_steps[0]
        worker(args)
        return
    if args.smoke_test:
        args.archs, args.syn_steps, args.iterations = ["ConvNetW32"], [2, 4], 1
    table(args)


if __name__ == "__main__":
    main()
