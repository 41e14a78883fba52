"""Golden outputs: numbers that pin what distillation and student training compute.

As torchvision pins each model's output, these cases pin the first iterations of DC, DSA and DM on
digits (eager) and a few student trainings, so a refactor or a fast path that changes a number fails
a test instead of a benchmark. The expected values live in tests/golden/expected.json and are
regenerated on purpose only: `python tests/golden_cases.py --regenerate`.

A checksum is a few sums and a fixed random projection of a tensor: any change to it moves them,
and float noise between CPUs (other kernels, other reduction orders) stays far inside the tolerance.

Every case runs on one thread: a reduction split over threads rounds differently, and a training
can magnify that a few hundred times in one step (a nearly constant channel under instance norm is
divided by about sqrt(eps)), so pinned at two threads the DSA + KD student trained 8e-4 apart on
an AMD EPYC and an Intel Xeon, while at one thread the two CPUs agree to 1e-9.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

EXPECTED = Path(__file__).parent / "golden" / "expected.json"
RTOL = 1e-4  # float noise after a few iterations is ~1e-6 relative; a real change is far larger
ATOL = 1e-5


def checksum(t: torch.Tensor) -> list[float]:
    """Sum, sum of squares and a seeded random projection of `t` (float64)."""
    flat = t.detach().double().flatten()
    projection = torch.randn(flat.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return [flat.sum().item(), (flat * flat).sum().item(), (flat @ projection).item()]


def distill_case(method: str, pool: str, ipc: int, steps: int) -> dict:
    from raydd.core.datasets import load_dataset
    from raydd.core.distill import DistillConfig, Distiller

    cfg = DistillConfig(dataset="digits", method=method, ipc=ipc, iterations=steps, pool=pool,
                        batch_real=16, bn_batch_per_class=4, outer_loop=2, inner_loop=2, seed=3)
    distiller = Distiller(cfg, load_dataset("digits"), "cpu")
    losses = [distiller.step() for _ in range(steps)]
    return {"losses": losses, "archs": list(distiller.archs_drawn), "images": checksum(distiller.images)}


def student_case(student: str, augment: str, kd: bool) -> dict:
    from raydd.core.datasets import load_dataset
    from raydd.core.evaluate import EvalConfig, random_real, train_student, train_teacher

    data = load_dataset("digits")
    images, labels = random_real(data, 2, seed=1)
    cfg = EvalConfig(epochs=6, augment=augment, teacher="ConvNetW32", batch_size=8)
    teacher = train_teacher(images, labels, data, cfg, seed=2, device="cpu") if kd else None
    extra = dict(teacher=teacher, alpha=0.5, temperature=4.0) if kd else {}
    net, _ = train_student(images, labels, data, student, cfg, seed=2, device="cpu", **extra)
    weights = torch.cat([p.detach().flatten() for p in net.parameters()])
    return {"weights": checksum(weights)}


def mtt_case(pool: str, steps: int) -> dict:
    """MTT on digits from experts trained here (2 epochs on 100 images): pins the expert protocol,
    the unrolled loss, the image and lr updates, and the pool's draws."""
    from raydd.core.datasets import Dataset, Split, load_dataset
    from raydd.core.distill.mtt import MTTRun, MTTSettings, initial_images
    from raydd.core.experts import ExpertSettings, train_expert
    from raydd.core.pool import PoolSpec

    data = load_dataset("digits")
    small = Dataset(data.info, Split(data.train.images[:100], data.train.labels[:100]), data.val, data.test)
    settings = MTTSettings(syn_steps=3, expert_epochs=1, max_start_epoch=2, lr_img=100.0,
                           experts=ExpertSettings(epochs=2, batch_size=50))
    spec = PoolSpec.parse(pool)
    experts = {arch: [train_expert(arch, small, settings.experts, seed)[0] for seed in (0, 1)] for arch in spec.archs}
    images, labels = initial_images(data.train, data.info, 1, "real", seed=3)
    run = MTTRun(settings, data.info, images, labels, experts, spec, seed=3)
    losses = [run.step() for _ in range(steps)]
    trained = torch.cat([t.params.flatten() for arch in spec.archs for t in experts[arch]])
    return {"losses": losses, "syn_lr": [run.syn_lr], "images": checksum(run.images), "experts": checksum(trained),
            "archs": [f"{arch}/{index}/{start}" for arch, index, start in run.drawn]}


CASES = {
    "distill/dc/ConvNetW32": lambda: distill_case("dc", "ConvNetW32", 2, 3),
    "distill/dc/pool_with_batchnorm": lambda: distill_case("dc", "ConvNetW32=0.5,ConvNetBN=0.5", 1, 4),
    "distill/dsa/ConvNetW32": lambda: distill_case("dsa", "ConvNetW32", 2, 3),
    "distill/dm/ConvNetW32": lambda: distill_case("dm", "ConvNetW32", 2, 3),
    "distill/dm/pool_with_batchnorm": lambda: distill_case("dm", "ConvNetW32=0.5,ConvNetBN=0.5", 1, 4),
    "student/ConvNetW32/none": lambda: student_case("ConvNetW32", "none", False),
    "student/ConvNetW32/none/kd": lambda: student_case("ConvNetW32", "none", True),
    "student/ConvNetBN/dsa": lambda: student_case("ConvNetBN", "dsa", False),
    "student/ConvNetBN/dsa/kd": lambda: student_case("ConvNetBN", "dsa", True),
    "student/MLP/dc/kd": lambda: student_case("MLP", "dc", True),
    "mtt/ConvNetW32": lambda: mtt_case("ConvNetW32", 3),
    "mtt/pool": lambda: mtt_case("ConvNetW32=0.5,MLP=0.5", 4),
}


def run_case(name: str) -> dict:
    """The case's values, computed on one thread (see the module docstring); restores the count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return CASES[name]()
    finally:
        torch.set_num_threads(threads)


def main(argv: list[str]) -> None:
    if argv[:1] != ["--regenerate"] or any(name not in CASES for name in argv[1:]):
        sys.exit("usage: python tests/golden_cases.py --regenerate [CASE ...]  (rewrites those cases, all by "
                 "default, in tests/golden/expected.json)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    names = argv[1:] or list(CASES)
    values = json.loads(EXPECTED.read_text()) if argv[1:] else {}
    values.update({name: run_case(name) for name in names})
    EXPECTED.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(names)} golden case(s) to {EXPECTED}")


if __name__ == "__main__":
    main(sys.argv[1:])
