"""Expanding the grid into resolved trial points, and naming each point with a trial key; and its
evaluation axes into resolved evaluation settings, named the same way."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import re
from typing import Any

from raydd.core.datasets import DATASETS, ipc_problem
from raydd.core.distill import METHODS, DistillConfig
from raydd.core.pool import PROB_TOLERANCE, PoolSpec
from raydd.spec.checks import Problems
from raydd.spec.model import SHARED_TEACHER_AXES, EvalPoint, EvaluationSpec, TrialPoint

KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")  # characters a trial key may not hold
KEY_MAX_CHARS = 96  # trial keys become directory names; longer keys are cut and hashed
MAX_POINTS = 10_000  # a grid larger than this is a typo (an axis of ranges), not an experiment
# A synthetic set beyond this is a typo, not an experiment (CIFAR-100 at ipc 50 is 61 MB): refused
# before a trial tries to allocate it.
MAX_SYNSET_BYTES = 2 * 1024**3
WHOLE_DATASET = "whole_dataset"  # the baseline of the whole training split: its point's key


def expand(axes: dict[str, tuple], fixed: dict, dataset: str, problems: Problems) -> tuple[TrialPoint, ...]:
    """The cartesian product of the axes, in file order, each point a resolved DistillConfig."""
    count = math.prod(len(values) for values in axes.values())
    if count > MAX_POINTS:
        problems.add("grid", f"has {count} points; more than {MAX_POINTS} is surely a mistake")
        return ()
    if not _sizes_fit(axes, fixed, dataset, problems):
        return ()
    combos = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    keys = trial_keys(combos)
    failures: dict[str, list[str]] = {}
    points, seen = [], {}
    for key, values in zip(keys, combos):
        try:
            config = DistillConfig(**{**fixed, **values, "dataset": dataset})
            _check_method(config)
        except (ValueError, TypeError) as error:
            failures.setdefault(str(error), []).append(key)
            continue
        if config in seen:
            problems.add("grid", f"points {seen[config]} and {key} resolve to the same distillation")
        seen.setdefault(config, key)
        shown = {k: v.name if isinstance(v, PoolSpec) else v for k, v in values.items()}
        points.append(TrialPoint(key, config, shown))
    for message, failed in failures.items():
        where = "distill" if len(failed) == len(combos) else f"grid point {failed[0]}"
        more = f" (and {len(failed) - 1} more points)" if 1 < len(failed) < len(combos) else ""
        problems.add(where, message + more)
    return tuple(points)


def _check_method(config: DistillConfig) -> None:
    """What the point's method cannot run on its dataset (MTT: a BatchNorm architecture), as a ValueError."""
    check = METHODS.get(config.method).check
    if check is not None:
        check(config, DATASETS.get(config.dataset).info)


def expand_evaluation(axes: dict[str, tuple], evaluation: EvaluationSpec, sets: int,
                      problems: Problems) -> EvaluationSpec:
    """`evaluation` with one EvalPoint per point of the evaluation axes, in file order, each the
    `evaluation:` settings with the point's values put in; unchanged without evaluation axes.
    `sets` counts the sets each setting evaluates (distilled and baseline)."""
    if not axes:
        return evaluation
    count = math.prod(len(values) for values in axes.values())
    if count * sets > MAX_POINTS:
        problems.add("grid", f"has {sets} set(s) x {count} evaluation settings; more than {MAX_POINTS} "
                             "is surely a mistake")
        return evaluation
    combos = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    teachers = _teacher_keys(combos)
    failures: dict[str, list[str]] = {}
    points, seen = [], {}
    for key, values, teacher in zip(trial_keys(combos), combos, teachers):
        try:
            config = dataclasses.replace(evaluation.config, **values)
        except (ValueError, TypeError) as error:
            failures.setdefault(str(error), []).append(key)
            continue
        resolved = tuple(config.to_dict().items())  # epochs as trained: null and 300 agree without augmentation
        if resolved in seen:
            problems.add("grid", f"evaluation points {seen[resolved]} and {key} resolve to the same evaluation")
        seen.setdefault(resolved, key)
        points.append(EvalPoint(key, config, values, teacher))
    for message, failed in failures.items():
        where = "evaluation" if len(failed) == len(combos) else f"grid evaluation point {failed[0]}"
        more = f" (and {len(failed) - 1} more points)" if 1 < len(failed) < len(combos) else ""
        problems.add(where, message + more)
    return dataclasses.replace(evaluation, grid=tuple(points))


def _teacher_keys(combos: list[dict[str, Any]]) -> list[str]:
    """Each evaluation point's teacher key: the key of its values on the axes that change the
    teacher's training, so that points equal on those share a teacher ("" when none varies)."""
    own = [tuple((k, v) for k, v in combo.items() if k not in SHARED_TEACHER_AXES) for combo in combos]
    if not any(own):
        return [""] * len(combos)
    distinct = list(dict.fromkeys(own))
    keys = dict(zip(distinct, trial_keys([dict(values) for values in distinct])))
    return [keys[values] for values in own]


def baseline_points(points: tuple[TrialPoint, ...], names: tuple[str, ...]) -> tuple[TrialPoint, ...]:
    """The baselines' points, in grid order: `random_real` one per (ipc, seed) of the distilled
    points (the random-real set of ipc 10 and seed 0 stands beside every ipc-10, seed-0
    distillation); `whole_dataset` one for the sweep (the training split has no ipc, no seed)."""
    firsts: dict[tuple[int, int], TrialPoint] = {}
    for point in points:
        firsts.setdefault((point.config.ipc, point.config.seed), point)
    out = []
    for name in names:
        if name == WHOLE_DATASET:
            out += [TrialPoint(WHOLE_DATASET, points[0].config, {"baseline": name}, name)] if points else []
            continue
        out += [TrialPoint(f"{name}-ipc{ipc}-seed{seed}", point.config, {"baseline": name, "ipc": ipc, "seed": seed},
                           name) for (ipc, seed), point in firsts.items()]
    return tuple(out)


def ipc_places(axes: dict[str, tuple], fixed: dict) -> list[tuple[str, int]]:
    """Each ipc of the sweep's grid (or its `distill.ipc`) with its place in the file."""
    if "ipc" in axes:
        return [(f"grid.ipc[{i}]", ipc) for i, ipc in enumerate(axes["ipc"])]
    return [("distill.ipc", fixed.get("ipc", DistillConfig.ipc))]


def check_class_sizes(places: list[tuple[str, int]], dataset: str, sizes: tuple[int, ...],
                      problems: Problems) -> None:
    """Every ipc of the sweep, at its place, keeps the one rule against the dataset's training
    class `sizes` (`raydd.core.datasets.ipc_problem`), as `raydd distill` and each trial's
    Distiller do."""
    info = DATASETS.get(dataset).info
    for place, ipc in places:
        problem = ipc_problem(ipc, sizes, info)
        if problem is not None:
            problems.add(place, problem)


def _sizes_fit(axes: dict[str, tuple], fixed: dict, dataset: str, problems: Problems) -> bool:
    """Every ipc's synthetic set fits in MAX_SYNSET_BYTES of float32 images of `dataset`."""
    info = DATASETS.get(dataset).info
    image_bytes = 4 * info.channels * info.image_size ** 2 * info.num_classes
    fits = True
    for place, ipc in ipc_places(axes, fixed):
        if ipc * image_bytes > MAX_SYNSET_BYTES:
            problems.add(place, f"{ipc} images per class of {dataset} make a {ipc * image_bytes / 1024**3:.0f} GiB "
                                f"synthetic set; at most {MAX_SYNSET_BYTES // 1024**3} GiB")
            fits = False
    return fits


def trial_keys(combos: list[dict[str, Any]]) -> list[str]:
    """Readable, filesystem-safe, unique keys: `ipc10-pool_ConvNet0.9+ConvNetW64+ConvNetD2-seed0`."""
    keys = ["-".join(key_token(axis, value) for axis, value in combo.items()) or "base" for combo in combos]
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    # values that differ only in unsafe characters collide: their full values tell them apart
    keys = [key if counts[key] == 1 else f"{key}-{_digest(repr(list(combo.items())))}"
            for key, combo in zip(keys, combos)]
    return [shorten_key(key) for key in keys]


# Distillation axes that result rows hold in columns of their own (the seed as a replicate); any other
# distillation axis of a point goes into its `distill_key`, so tables never pool sets it sets apart.
OWN_COLUMN_AXES = ("method", "ipc", "iterations", "pool", "seed")


def distill_key(axes: dict[str, Any]) -> str | None:
    """The point's distillation axes that no result column holds (`precision_bf16-lr_img100`); None without."""
    return "-".join(key_token(axis, value) for axis, value in axes.items() if axis not in OWN_COLUMN_AXES) or None


def key_token(axis: str, value: Any) -> str:
    text = _pool_token(value) if isinstance(value, PoolSpec) else _value_text(value)
    return KEY_UNSAFE.sub("_", _glue(axis, text))


def _glue(name: str, text: str) -> str:
    """`ipc` + `10` -> `ipc10`; a digit meeting a digit, or a word, gets `_` between them."""
    numeric = bool(re.match(r"[0-9.]", text))
    return f"{name}{text}" if numeric and not name[-1:].isdigit() else f"{name}_{text}"


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (tuple, list)):
        return "+".join(_value_text(v) for v in value)
    return "null" if value is None else str(value)


def _pool_token(pool: PoolSpec) -> str:
    """ConvNet alone -> `ConvNet`; equal shares -> `A+B+C`; main + equal rest -> `A0.9+B+C`."""
    first, rest = pool.probs[0], pool.probs[1:]
    if len(set(pool.probs)) == 1:
        text = "+".join(pool.archs)
    elif rest and max(rest) - min(rest) <= PROB_TOLERANCE:
        text = "+".join([_glue(pool.archs[0], f"{first:.4g}"), *pool.archs[1:]])
    else:
        text = "+".join(_glue(a, f"{p:.4g}") for a, p in zip(pool.archs, pool.probs))
    return f"{text}_warm{pool.warmup}" if pool.warmup else text


def shorten_key(key: str) -> str:
    if len(key) <= KEY_MAX_CHARS:
        return key
    return f"{key[:KEY_MAX_CHARS - 9].rstrip('-_+.')}-{_digest(key)}"


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]
