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
    if argv != ["--regenerate"]:
        sys.exit("usage: python tests/golden_cases.py --regenerate  (rewrites tests/golden/expected.json)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    values = {name: run_case(name) for name in CASES}
    EXPECTED.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(values)} golden cases to {EXPECTED}")


if __name__ == "__main__":
    main(sys.argv[1:])
