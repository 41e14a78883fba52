"""What a probe report costs: seconds per report per probe student, against one distillation
iteration, on digits (the objective a search sees, raydd.sweep.probe).

    python benchmarks/bench_probe.py                              # ipc 1 and 10, MLP, LeNet, ConvNetW32
    python benchmarks/bench_probe.py --ipcs 1 --students MLP --epochs 50
    python benchmarks/bench_probe.py --smoke-test                 # seconds; CI runs it

A distillation iteration is timed as a trial runs it (DC, ConvNetW32 alone, outer/inner loop 1/1,
batch_real 32, as sweeps/quickstart_search.yaml). A probe report is timed as `probe_metrics` runs
it: one student trained `--epochs` epochs on the current set (one seed), then measured on the
validation split. Iterations and probes are timed in turn, `--repeats` rounds, and each figure is
the fastest of its runs (the least disturbed on a shared machine). The ratio says how many distillation iterations one student's probe costs, so a probe
every `report_every` iterations adds students x ratio / report_every to a trial's time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from bench_evaluate import machine  # noqa: E402

from raydd.core.datasets import load_dataset  # noqa: E402
from raydd.core.distill import DistillConfig, Distiller  # noqa: E402
from raydd.core.evaluate import EvalConfig  # noqa: E402
from raydd.core.pool import PoolSpec  # noqa: E402
from raydd.spec.search import ProbeSpec  # noqa: E402
from raydd.sweep.probe import class_labels, probe_metrics  # noqa: E402


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_ipc(ipc: int, args, data, device: str) -> list[dict]:
    cfg = DistillConfig(dataset="digits", method="dc", ipc=ipc, iterations=10_000, pool=PoolSpec.parse(args.arch),
                        seed=0, batch_real=32, init="real", outer_loop=1, inner_loop=1)
    distiller = Distiller(cfg, data, device)
    distiller.step()  # warm-up: first-call allocations
    images = distiller.images.detach().clone()
    labels = class_labels(images, data.info.num_classes)
    probes = {student: ProbeSpec((student,), epochs=args.epochs) for student in args.students}
    times = {name: [] for name in ("iteration", *probes)}
    for _ in range(args.repeats):  # interleaved, so that other work on the machine slows all alike
        times["iteration"].append(timed(distiller.step))
        for student, probe in probes.items():
            times[student].append(timed(lambda: probe_metrics(images, labels, data, probe, EvalConfig(), device)))
    iteration_s = min(times["iteration"])
    return [{"ipc": ipc, "student": s, "iteration_s": iteration_s, "probe_s": min(times[s])} for s in probes]


def report(rows: list[dict], epochs: int) -> None:
    print(f"{'ipc':>4} {'student':<11} {'s/iteration':>11} {'s/report':>9} {'iterations':>10}")
    for r in rows:
        print(f"{r['ipc']:>4} {r['student']:<11} {r['iteration_s']:>11.3f} {r['probe_s']:>9.3f} "
              f"{r['probe_s'] / r['iteration_s']:>10.2f}")
    print(f"(s/report: one student, {epochs} epochs, one seed, and its validation accuracy; "
          "iterations: that report's cost in distillation iterations)")
    for ipc in sorted({r["ipc"] for r in rows}):
        mine = [r for r in rows if r["ipc"] == ipc]
        total = sum(r["probe_s"] for r in mine)
        print(f"ipc {ipc}: a probe of all {len(mine)} students costs {total:.2f} s = "
              f"{total / mine[0]['iteration_s']:.2f} distillation iterations")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ipcs", default="1,10", help="images per class, comma-separated")
    p.add_argument("--students", default="MLP,LeNet,ConvNetW32", help="probe students, comma-separated")
    p.add_argument("--epochs", type=int, default=100, help="probe epochs (raydd's default probe.epochs)")
    p.add_argument("--arch", default="ConvNetW32", help="the distillation pool")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--smoke-test", action="store_true", help="ipc 1, one student, 2 epochs (CI)")
    args = p.parse_args(argv)
    args.ipcs = [int(x) for x in args.ipcs.split(",")]
    args.students = args.students.split(",")
    if args.smoke_test:
        args.ipcs, args.students, args.epochs, args.repeats = [1], ["MLP"], 2, 1
    return args


def main(argv=None) -> None:
    args = parse(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"## Probe cost on digits, {machine()}")
    data = load_dataset("digits", device=device)
    rows = [row for ipc in args.ipcs for row in bench_ipc(ipc, args, data, device)]
    report(rows, args.epochs)


if __name__ == "__main__":
    main()
