"""Which students, KD settings and seeds an evaluation uses when none are given: one set, read by
`raydd evaluate`'s options and by a sweep's `evaluation:` section alike.

The DC/DSA/DM protocol: ConvNet (the net sets are distilled on) and the papers' cross-architecture
students, each trained without and with knowledge distillation, mean ± std over 5 seeds. That is
60 trainings per set, minutes on a GPU and far longer on a CPU: quick runs (the quickstart sweep,
CPU sweeps) name fewer students and seeds themselves. Plain Python, so the CLI can read it
without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalDefaults:
    students: tuple[str, ...] = ("ConvNet", "MLP", "LeNet", "AlexNet", "VGG11", "ResNet18")
    kd_modes: tuple[bool, ...] = (False, True)  # KD off and on: the gain of KD is what a table compares
    seeds: int = 5  # evaluation seeds 0..4: enough for a std and Welch's test (raydd.stats.MIN_N_FOR_TEST)


EVAL_DEFAULTS = EvalDefaults()
