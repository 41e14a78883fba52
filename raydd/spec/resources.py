"""The `resources:` section: CPUs and GPUs per trial and per evaluator, concurrency, retries."""

from __future__ import annotations

from typing import Any

from raydd.spec.model import ResourceSpec
from raydd.spec.problems import _INVALID, _Problems
from raydd.spec.values import _int, _number, _section



def _gpu(value: Any, place: str, problems: _Problems) -> Any:
    gpu = _number(value, place, problems, at_least=0)
    if gpu is not _INVALID and gpu > 1 and not gpu.is_integer():
        problems.add(place, f"a fraction above 1 GPU cannot be scheduled; use a whole number, got {gpu}")
        return _INVALID
    return gpu


def _parse_resources(value: Any, problems: _Problems) -> Any:
    before = len(problems)
    keys = ("trial", "evaluators", "max_concurrent_trials", "max_failures", "checkpoint_every")
    entry = _section(value, "resources", problems, keys)
    if entry is _INVALID:
        return _INVALID
    defaults = ResourceSpec()
    trial = _section(entry.get("trial"), "resources.trial", problems, ("cpu", "gpu"))
    evaluators = _section(entry.get("evaluators"), "resources.evaluators", problems, ("count", "cpu", "gpu"))
    trial = trial if trial is not _INVALID else {}
    evaluators = evaluators if evaluators is not _INVALID else {}
    concurrent = entry.get("max_concurrent_trials")
    spec = ResourceSpec(
        trial_cpu=_number(trial.get("cpu", defaults.trial_cpu), "resources.trial.cpu", problems, above=0),
        trial_gpu=_gpu(trial.get("gpu", defaults.trial_gpu), "resources.trial.gpu", problems),
        evaluators=_int(evaluators.get("count", defaults.evaluators), "resources.evaluators.count", problems,
                        too_small=">= 1 (at least one evaluator)"),
        evaluator_cpu=_number(evaluators.get("cpu", defaults.evaluator_cpu), "resources.evaluators.cpu",
                              problems, at_least=0),
        evaluator_gpu=_gpu(evaluators.get("gpu", defaults.evaluator_gpu), "resources.evaluators.gpu", problems),
        max_concurrent_trials=None if concurrent is None else _int(
            concurrent, "resources.max_concurrent_trials", problems),
        max_failures=_int(entry.get("max_failures", defaults.max_failures), "resources.max_failures",
                          problems, minimum=0),
        checkpoint_every=_int(entry.get("checkpoint_every", defaults.checkpoint_every),
                              "resources.checkpoint_every", problems),
    )
    return _INVALID if len(problems) > before else spec
