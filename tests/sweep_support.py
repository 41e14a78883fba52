"""Tiny sweep files for the sweep tests: digits, ipc 1, a few iterations, ConvNetW32 nets."""

from __future__ import annotations

from pathlib import Path

import yaml


def tiny_sweep(name: str, storage: str, *, seeds=(0, 1), iterations: int = 4, students=("ConvNetW32",),
               checkpoint_every: int = 2, max_concurrent_trials: int | None = None) -> dict:
    """A sweep small enough for 2 CPUs: each trial ~1 s of distillation, each student ~1 s."""
    return {
        "name": name,
        "storage": storage,
        "dataset": {"name": "digits"},
        "distill": {"method": "dc", "iterations": iterations, "batch_real": 16},
        "grid": {"ipc": [1], "seed": list(seeds), "pool": [{"archs": ["ConvNetW32"], "probabilities": [1.0]}]},
        "evaluation": {"students": list(students), "teacher": "ConvNetW32", "kd": ["off", "on"],
                       "alphas": [0.5], "temperatures": [2], "seeds": 1, "epochs": 5},
        "resources": {"trial": {"cpu": 1, "gpu": 0}, "evaluators": {"count": 2, "cpu": 0.5, "gpu": 0},
                      "max_concurrent_trials": max_concurrent_trials, "max_failures": 2,
                      "checkpoint_every": checkpoint_every},
    }


def write_sweep(directory: Path, raw: dict) -> Path:
    path = Path(directory) / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def expected_keys(spec) -> set[tuple]:
    """(trial_key, student, kd, eval_seed) of every row a complete sweep must hold."""
    ev = spec.evaluation
    return {(p.trial_key, s, kd, seed) for p in spec.evaluated for s in ev.students
            for kd in ev.kd_modes for seed in range(ev.seeds)}


def row_keys(df) -> list[tuple]:
    return [(r.trial_key, r.student, bool(r.kd), int(r.eval_seed)) for r in df.itertuples()]
