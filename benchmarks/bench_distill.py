"""Seconds per outer iteration of raydd's DC / DSA / DM beside a plain DC-style reference loop.

    python benchmarks/bench_distill.py                 # digits on CPU, ConvNet, ipc 1
    python benchmarks/bench_distill.py --ipc 10 --outer-loop 2 --inner-loop 10
    python benchmarks/bench_distill.py --cifar-shape   # random 3x32x32, 10 classes (GPU if present)
    python benchmarks/bench_distill.py --smoke-test    # seconds; CI
    python benchmarks/bench_distill.py --methods dc --arch ConvNetW32 --iterations 200 --evaluate 3

Both sides start from the same synthetic images with the same settings. Quality is shown as the
matching loss of each final set on fixed nets that neither side trained with (lower is better):
the DC distance against all real images of each class for DC/DSA, the embedding distance for DM.
With `--evaluate N`, each final set also trains the distillation architecture N times (raydd's
evaluation protocol, `--eval-epochs`), and the test accuracy of both sets is printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the reference loop beside this file

from reference_dc import ReferenceDistiller  # noqa: E402

from raydd.core.archs import build_net  # noqa: E402
from raydd.core.datasets import Dataset, DatasetInfo, Split, load_dataset  # noqa: E402
from raydd.core.distill import DISTANCES, DistillConfig, Distiller  # noqa: E402
from raydd.core.evaluate import EvalConfig, evaluate_student, summarise_records  # noqa: E402

QUALITY_NETS = 2  # fixed nets each final set is scored on


def cifar_shaped(per_class: int = 500) -> Dataset:
    g = torch.Generator().manual_seed(0)
    info = DatasetInfo("random-cifar-shape", 3, 32, 10, (0.0,) * 3, (1.0,) * 3, tuple("0123456789"))
    labels = torch.arange(10).repeat_interleave(per_class)
    images = torch.randn(len(labels), 3, 32, 32, generator=g) + labels.view(-1, 1, 1, 1) * 0.05
    split = Split(images, labels)
    return Dataset(info, split, split, split)


def time_interleaved(steps, iterations: int, device: torch.device) -> tuple[list[tuple[float, float]], list[float]]:
    """(seconds per step and last loss, warm-up seconds) of each stepper, alternating them so load
    changes hit both. The untimed warm-up step pays allocator, kernel caches and any compilation."""
    warmup = []
    for step in steps:
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        warmup.append(time.perf_counter() - start)
    seconds, losses = [0.0] * len(steps), [0.0] * len(steps)
    for _ in range(iterations):
        for i, step in enumerate(steps):
            _sync(device)
            start = time.perf_counter()
            losses[i] = step()
            _sync(device)
            seconds[i] += time.perf_counter() - start
    return [(s / iterations, loss) for s, loss in zip(seconds, losses)], warmup


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def quality(method: str, images: torch.Tensor, data: Dataset, arch: str, ipc: int, device) -> float:
    real, labels = data.train.images.to(device), data.train.labels.to(device)
    total = 0.0
    for seed in range(QUALITY_NETS):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1000 + seed)
            net = build_net(arch, data.info.channels, data.info.num_classes, data.info.image_size).to(device)
        for c in range(data.info.num_classes):
            x_real, x_syn = real[labels == c][:256], images[c * ipc:(c + 1) * ipc].to(device)
            total += _class_score(method, net, x_real, x_syn, c)
    return total / QUALITY_NETS


def _class_score(method, net, x_real, x_syn, c) -> float:
    if method == "dm":
        with torch.no_grad():
            return float(((net.embed(x_real).mean(0) - net.embed(x_syn).mean(0)) ** 2).sum())
    params = list(net.parameters())
    g = [torch.autograd.grad(F.cross_entropy(net(x), torch.full((len(x),), c, device=x.device)), params)
         for x in (x_syn, x_real)]
    return float(DISTANCES.get("dc")([t[None] for t in g[0]], [t[None] for t in g[1]]))


def accuracy_of_set(images: torch.Tensor, labels: torch.Tensor, data: Dataset, args, device) -> str:
    """`mean ± std (n)` test accuracy (%) of the distillation architecture trained on the set, as
    `raydd evaluate` prints it."""
    cfg = EvalConfig(epochs=args.eval_epochs)
    records = [evaluate_student(images.detach().cpu(), labels.cpu(), data, args.arch, cfg, seed, device)
               for seed in range(args.evaluate)]
    (summary,) = summarise_records(records)
    return summary.cell()


def bench(method: str, args, data: Dataset, device: torch.device) -> dict:
    cfg = DistillConfig(dataset=data.info.name, method=method, ipc=args.ipc, iterations=args.iterations,
                        pool=args.arch, seed=0, batch_real=args.batch_real, init="noise",
                        outer_loop=args.outer_loop, inner_loop=args.inner_loop, compile=args.compile)
    ours = Distiller(cfg, data, device)
    reference = ReferenceDistiller(cfg, data, ours.images.detach(), seed=0, device=device)
    ((t_ref, loss_ref), (t_ours, loss_ours)), (_, warmup) = time_interleaved(
        [reference.step, ours.step], args.iterations, device)
    return {
        "method": method, "plain_s": t_ref, "raydd_s": t_ours, "ratio": t_ours / t_ref, "warmup_s": warmup,
        "plain_loss": loss_ref, "raydd_loss": loss_ours,
        "plain_quality": quality(method, reference.images.detach(), data, args.arch, args.ipc, device),
        "raydd_quality": quality(method, ours.images.detach(), data, args.arch, args.ipc, device),
        "plain_test": accuracy_of_set(reference.images, reference.labels, data, args, device) if args.evaluate else "",
        "raydd_test": accuracy_of_set(ours.images, ours.labels, data, args, device) if args.evaluate else "",
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="dc,dsa,dm")
    p.add_argument("--arch", default="ConvNet")
    p.add_argument("--ipc", type=int, default=1)
    p.add_argument("--iterations", type=int, default=3, help="timed outer iterations (after one warm-up)")
    p.add_argument("--batch-real", type=int, default=256)
    p.add_argument("--outer-loop", type=int, default=None)
    p.add_argument("--inner-loop", type=int, default=None)
    p.add_argument("--compile", action="store_true", help="raydd side with compile=True (warm-up column: "
                   "its first, untimed iteration, which includes the compilation)")
    p.add_argument("--evaluate", type=int, default=0, metavar="N",
                   help="train the distillation architecture N times on each final set; print test accuracy")
    p.add_argument("--eval-epochs", type=int, default=300, help="epochs per evaluation training")
    p.add_argument("--cifar-shape", action="store_true", help="random 3x32x32 10-class data")
    p.add_argument("--device", default=None, help="default: cuda for --cifar-shape when present, else cpu")
    p.add_argument("--smoke-test", action="store_true", help="tiny settings that run in seconds")
    args = p.parse_args(argv)
    if args.smoke_test:
        args.arch, args.iterations, args.batch_real = "ConvNetW32", 1, 8
        args.evaluate, args.eval_epochs = 1, 2
    device = torch.device(args.device or ("cuda" if args.cifar_shape and torch.cuda.is_available() else "cpu"))
    data = cifar_shaped() if args.cifar_shape else load_dataset("digits")
    print(f"{data.info.name} on {device} ({torch.get_num_threads()} threads), {args.arch}, ipc {args.ipc}, "
          f"batch_real {args.batch_real}, {args.iterations} timed iterations, "
          f"raydd {'compiled' if args.compile else 'eager'}")
    print(f"{'method':<6} {'plain s/it':>10} {'raydd s/it':>10} {'ratio':>6}   "
          f"{'plain loss':>10} {'raydd loss':>10}   {'plain quality':>13} {'raydd quality':>13}   "
          f"{'raydd warm-up s':>15}")
    for method in args.methods.split(","):
        r = bench(method, args, data, device)
        print(f"{r['method']:<6} {r['plain_s']:>10.3f} {r['raydd_s']:>10.3f} {r['ratio']:>6.2f}   "
              f"{r['plain_loss']:>10.4f} {r['raydd_loss']:>10.4f}   "
              f"{r['plain_quality']:>13.4f} {r['raydd_quality']:>13.4f}   {r['warmup_s']:>15.1f}", flush=True)
        if args.evaluate:
            print(f"{'':<6} test accuracy % of {args.arch} over {args.evaluate} trainings of {args.eval_epochs} "
                  f"epochs: plain {r['plain_test']}, raydd {r['raydd_test']}", flush=True)


if __name__ == "__main__":
    main()
