"""The sections of a sweep file: `dataset`, `distill` (with its pools), `grid` (distill and
evaluation axes), `evaluation`, `baselines`, `resources`.

Each parser records every problem of its section and returns the section's value, or `INVALID`.
Whatever the core already rules on (a dataset's validation carve, a pool's weights, a config's
fields) is checked by calling the core, so a sweep file and `raydd distill` / `raydd evaluate`
accept the same values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from raydd.core.datasets import DATASETS
from raydd.core.datasets.splits import check_val_size
from raydd.core.distill import METHODS, DistillConfig
from raydd.core.distill.config import shared_keys
from raydd.core.distill.methods import method_keys, methods_with
from raydd.core.evaluate import EvalConfig
from raydd.core.pool import PoolSpec
from raydd.eval_defaults import EVAL_DEFAULTS
from raydd.spec.checks import (
    INVALID,
    Problems,
    by_core,
    check_arch,
    check_bool,
    check_field,
    check_int,
    check_list,
    check_number,
    check_section,
    check_string,
    field_place,
    join,
    report_duplicates,
    shown,
)
from raydd.spec.model import DatasetSpec, EvaluationSpec, ResourceSpec, kd_mode

DATASET_KEYS = ("name", "data_dir", "download", "val_size")
LISTED_POOL_KEYS = ("archs", "probabilities", "warmup", "normalize")
MAIN_POOL_KEYS = ("main", "others", "main_weight", "warmup")
# Sets a distilled one is measured against, evaluated beside it: `random_real` draws ipc real
# training images per class (seeded by the grid's seed), as the DC/DSA/DM papers' "Random" column;
# `whole_dataset` trains each student on the whole training split (hard labels, KD off, for
# `evaluation.whole_epochs`), the upper bound that HLR measures sets against.
BASELINES = ("random_real", "whole_dataset")
# EvalConfig fields a grid may vary: all but how fast accuracy is measured, which never changes it.
EVAL_AXES = tuple(f.name for f in dataclasses.fields(EvalConfig) if f.name != "eval_batch_size")
CANDIDATE_AXES = ("alphas", "temperatures")  # KD candidates: each axis value is one candidate list
RESOURCE_KEYS = ("trial", "evaluators", "max_concurrent_trials", "max_failures", "checkpoint_every")


# ---- dataset -----------------------------------------------------------------------------------
def parse_dataset(value: Any, problems: Problems) -> Any:
    if isinstance(value, str):  # shorthand `dataset: digits`
        value = {"name": value}
    before = len(problems)
    entry = check_section(value, "dataset", problems, DATASET_KEYS, required=("name",))
    if entry is INVALID:
        return INVALID
    name = entry.get("name")
    if "name" in entry and check_string(name, "dataset.name", problems) is not INVALID and name not in DATASETS:
        problems.add("dataset.name", f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    data_dir = entry.get("data_dir")
    if data_dir is not None:
        check_string(data_dir, "dataset.data_dir", problems)
    download = check_bool(entry.get("download", False), "dataset.download", problems)
    if download is True and data_dir is None:
        problems.add("dataset.download", "true needs dataset.data_dir, the directory to download into")
    val_size = _val_size(entry.get("val_size", 0.1), problems)
    if len(problems) > before:
        return INVALID
    return DatasetSpec(name, data_dir, download, val_size)


def _val_size(value: Any, problems: Problems) -> Any:
    """The core's rule (a fraction in [0, 1) or a count), and not empty: every row records the
    validation accuracy, and KD settings are chosen on it."""
    if by_core(lambda: check_val_size(value), "dataset.val_size", problems) is INVALID:
        return INVALID
    if value == 0:
        problems.add("dataset.val_size", "is 0, but a sweep needs a validation split (KD settings are "
                                         "chosen on it, and every row records its accuracy)")
        return INVALID
    return value


# ---- distill and grid --------------------------------------------------------------------------
def distill_value(field: str, value: Any, place: str, problems: Problems) -> Any:
    if field == "pool":
        return parse_pool(value, place, problems)
    checked = check_field(_owner(field), field, value, place, problems)
    if field == "iterations" and checked is not INVALID and checked < 1:  # the core takes 0 (a baseline's record)
        problems.add(place, f"must be at least 1 (a set of 0 iterations was never distilled), got {checked}")
        return INVALID
    return checked


def parse_distill(value: Any, problems: Problems) -> Any:
    """The settings every trial shares: {field: checked value}."""
    entry = check_section(value, "distill", problems, distill_fields())
    if entry is INVALID:
        return INVALID
    checked = {k: distill_value(k, v, join("distill", k), problems) for k, v in entry.items()}
    _check_method_keys(checked, problems)
    return {k: v for k, v in checked.items() if v is not INVALID}


def _check_method_keys(checked: dict[str, Any], problems: Problems) -> None:
    """With the method fixed here, each key of another method is refused at its own line."""
    method = checked.get("method")
    if method in (None, INVALID):
        return
    own = METHODS.get(method).keys
    for key in checked:
        if key not in own and key not in shared_keys():
            problems.add(join("distill", key), f"does not apply to method {method} (it is a setting of "
                                               f"{', '.join(methods_with(key))})")
            checked[key] = INVALID


def parse_grid(value: Any, raw_distill: Any, raw_evaluation: Any, problems: Problems) -> tuple[dict, dict]:
    """The axes as ({distill field: checked values}, {evaluation field: checked values}), each
    field not also set in `distill` or `evaluation`."""
    entry = check_section(value, "grid", problems, [*distill_fields(), *EVAL_AXES])
    if entry is INVALID:
        return {}, {}
    distill_axes, eval_axes = {}, {}
    for axis, values in entry.items():
        place = join("grid", axis)
        section, raw, each = (("evaluation", raw_evaluation, "evaluation setting") if axis in EVAL_AXES
                              else ("distill", raw_distill, "trial"))
        if isinstance(raw, dict) and raw.get(axis) is not None:  # null there: the default, which the axis replaces
            problems.add(place, f"also set in {section}.{axis}; set it in one place (or to null there)")
        if not isinstance(values, list):
            problems.add(place, f"must be a list of values (one per {each}), got {shown(values)}")
            continue
        if not values:
            problems.add(place, "is empty; give at least one value")
            continue
        check = eval_value if axis in EVAL_AXES else distill_value
        checked = [check(axis, v, f"{place}[{i}]", problems) for i, v in enumerate(values)]
        report_duplicates(checked, place, problems)
        (eval_axes if axis in EVAL_AXES else distill_axes)[axis] = tuple(checked)
    return distill_axes, eval_axes


def distill_fields() -> list[str]:
    """The keys every method shares (but the dataset, its own section), then each method's own."""
    return [k for k in shared_keys() if k != "dataset"] + method_keys()


def _owner(field: str) -> type:
    """The class that rules on `field`: the config for a shared key, else the first method's
    settings that have it (whether the sweep's method has it is checked when points are built)."""
    if field in shared_keys():
        return DistillConfig
    return METHODS.get(methods_with(field)[0]).settings


# ---- pools -------------------------------------------------------------------------------------
def parse_pool(value: Any, place: str, problems: Problems) -> Any:
    """One pool: `{archs, probabilities}`, `{main, others, main_weight}`, or `"A=0.9,B=0.1"` text.
    The file's form is checked here; the pool's own rules (weights, sums, repeats) by PoolSpec."""
    if isinstance(value, str):
        return by_core(lambda: PoolSpec.parse(value), place, problems)
    if not isinstance(value, dict):
        problems.add(place, f"must be a pool mapping ({{archs, probabilities}} or {{main, others, "
                            f"main_weight}}) or text like 'ConvNet=0.9,ConvNetW64=0.1', got {shown(value)}")
        return INVALID
    if "main" in value and "archs" in value:
        problems.add(place, "give either archs/probabilities or main/others/main_weight, not both")
        return INVALID
    if "main" in value:
        return _main_share_pool(value, place, problems)
    return _listed_pool(value, place, problems)


def _listed_pool(value: dict, place: str, problems: Problems) -> Any:
    before = len(problems)
    entry = check_section(value, place, problems, LISTED_POOL_KEYS, required=("archs",))
    if entry is INVALID or "archs" not in entry:
        return INVALID
    archs = check_list(entry["archs"], join(place, "archs"), problems, check_arch)
    normalize = check_bool(entry.get("normalize", False), join(place, "normalize"), problems)
    weights = entry.get("probabilities")
    if weights is not None:
        weights = check_list(weights, join(place, "probabilities"), problems, check_number,
                             allow_empty=True, unique=False)
    if len(problems) > before:
        return INVALID
    if weights is None:  # omitted: equal shares
        weights = tuple([1.0 / len(archs)] * len(archs))
    warmup = entry.get("warmup", 0)
    if normalize:
        return by_core(lambda: PoolSpec.normalized(archs, weights, warmup), place, problems)
    return by_core(lambda: PoolSpec(archs, weights, warmup), place, problems)


def _main_share_pool(value: dict, place: str, problems: Problems) -> Any:
    before = len(problems)
    entry = check_section(value, place, problems, MAIN_POOL_KEYS, required=("main",))
    if entry is INVALID:
        return INVALID
    main = check_arch(entry["main"], join(place, "main"), problems)
    others = check_list(entry.get("others", []), join(place, "others"), problems, check_arch, allow_empty=True)
    if "main_weight" not in entry and others:
        problems.add(join(place, "main_weight"), "missing (required when others are given)")
    weight = check_number(entry.get("main_weight", 1.0), join(place, "main_weight"), problems)
    if len(problems) > before:
        return INVALID
    warmup = entry.get("warmup", 0)
    return by_core(lambda: PoolSpec.main_share(main, others, weight, warmup), place, problems)


# ---- evaluation --------------------------------------------------------------------------------
def eval_value(field: str, value: Any, place: str, problems: Problems) -> Any:
    """One value of an evaluation axis. A KD candidate axis takes a number (that candidate alone)
    or a list (candidates chosen among on the validation split, as in `evaluation:`)."""
    if field == "teacher":
        return check_arch(value, place, problems)
    if field in CANDIDATE_AXES and not isinstance(value, list):
        value = [value]
    return check_field(EvalConfig, field, value, place, problems)


def _kd_mode(value: Any, place: str, problems: Problems) -> Any:
    return by_core(lambda: kd_mode(value), place, problems)


def parse_evaluation(value: Any, problems: Problems) -> Any:
    before = len(problems)
    entry = check_section(value, "evaluation", problems, ["students", "kd", "seeds", "whole_seeds", "sets",
                                                          *_eval_fields()])
    if entry is INVALID:
        return INVALID
    students = check_list(entry.get("students", list(EVAL_DEFAULTS.students)), "evaluation.students", problems,
                          check_arch)
    kd_modes = check_list(entry.get("kd", list(EVAL_DEFAULTS.kd_modes)), "evaluation.kd", problems, _kd_mode)
    seeds = check_int(entry.get("seeds", EVAL_DEFAULTS.seeds), "evaluation.seeds", problems)
    whole_seeds = entry.get("whole_seeds")
    if whole_seeds is not None:
        whole_seeds = check_int(whole_seeds, "evaluation.whole_seeds", problems)
    if "teacher" in entry:
        check_arch(entry["teacher"], "evaluation.teacher", problems)
    settings = {k: v for k, v in entry.items()
                if k not in ("students", "kd", "seeds", "whole_seeds", "sets")}  # sets: spec.foreign
    config_fields = {k: check_field(EvalConfig, k, v, join("evaluation", k), problems)
                     for k, v in settings.items()}
    if len(problems) > before:
        return INVALID
    try:
        config = EvalConfig(**config_fields)
    except ValueError as error:
        problems.add(field_place(str(error), EvalConfig, "evaluation", settings), str(error))
        return INVALID
    return EvaluationSpec(students, config.teacher, kd_modes, seeds, config, whole_seeds=whole_seeds)


# ---- baselines ---------------------------------------------------------------------------------
def _baseline(value: Any, place: str, problems: Problems) -> Any:
    if value in BASELINES:
        return value
    problems.add(place, f"unknown baseline {shown(value)}; known: {', '.join(BASELINES)}")
    return INVALID


def parse_baselines(value: Any, problems: Problems) -> Any:
    """The baseline names of the `baselines` list (absent: none)."""
    if value is None:
        return ()
    return check_list(value, "baselines", problems, _baseline, allow_empty=True)




def _eval_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(EvalConfig)]


# ---- resources ---------------------------------------------------------------------------------
def _gpu(value: Any, place: str, problems: Problems) -> Any:
    gpu = check_number(value, place, problems, at_least=0)
    if gpu is not INVALID and gpu > 1 and not gpu.is_integer():
        problems.add(place, f"a fraction above 1 GPU cannot be scheduled; use a whole number, got {gpu}")
        return INVALID
    return gpu


def parse_resources(value: Any, problems: Problems) -> Any:
    before = len(problems)
    entry = check_section(value, "resources", problems, RESOURCE_KEYS)
    if entry is INVALID:
        return INVALID
    defaults = ResourceSpec()
    trial = check_section(entry.get("trial"), "resources.trial", problems, ("cpu", "gpu"))
    evaluators = check_section(entry.get("evaluators"), "resources.evaluators", problems, ("count", "cpu", "gpu"))
    trial = trial if trial is not INVALID else {}
    evaluators = evaluators if evaluators is not INVALID else {}
    concurrent = entry.get("max_concurrent_trials")
    spec = ResourceSpec(
        trial_cpu=check_number(trial.get("cpu", defaults.trial_cpu), "resources.trial.cpu", problems, above=0),
        trial_gpu=_gpu(trial.get("gpu", defaults.trial_gpu), "resources.trial.gpu", problems),
        evaluators=check_int(evaluators.get("count", defaults.evaluators), "resources.evaluators.count",
                             problems, too_small=">= 1 (at least one evaluator)"),
        evaluator_cpu=check_number(evaluators.get("cpu", defaults.evaluator_cpu), "resources.evaluators.cpu",
                                   problems, at_least=0),
        evaluator_gpu=_gpu(evaluators.get("gpu", defaults.evaluator_gpu), "resources.evaluators.gpu", problems),
        max_concurrent_trials=None if concurrent is None else check_int(
            concurrent, "resources.max_concurrent_trials", problems),
        max_failures=check_int(entry.get("max_failures", defaults.max_failures), "resources.max_failures",
                               problems, minimum=0),
        checkpoint_every=check_int(entry.get("checkpoint_every", defaults.checkpoint_every),
                                   "resources.checkpoint_every", problems),
    )
    return INVALID if len(problems) > before else spec
