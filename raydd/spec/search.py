"""The `probe`, `search` and `tracking` sections: an objective Tune can see, a search space over
`distill` keys (above all the pool), and where Tune's loggers send what the trials report.

A search samples values for the keys of `search.space`; a trial resolves them with its grid point
(`resolve_sample`) into a `TrialPoint`, keyed by `searched_key` from the sampled values alone, so
the driver, the trial and `raydd sweep best` name a searched trial the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
from dataclasses import dataclass
from typing import Any

from raydd.core.pool import PoolSpec
from raydd.spec.checks import (
    INVALID,
    Problems,
    by_core,
    check_arch,
    check_bool,
    check_int,
    check_list,
    check_number,
    check_section,
    check_string,
    join,
    shown,
)
from raydd.spec.grid import shorten_key, key_token
from raydd.spec.model import TrialPoint
from raydd.spec.sections import distill_fields, distill_value

PROBE_KEYS = ("students", "epochs", "seeds", "report_every")
SEARCH_KEYS = ("algorithm", "num_samples", "max_concurrent", "metric", "mode", "seed", "scheduler", "space")
ASHA_KEYS = ("grace_period", "reduction_factor")
TRACKING_KEYS = ("tensorboard", "mlflow", "wandb")
MLFLOW_KEYS = ("tracking_uri", "experiment")
WANDB_KEYS = ("project", "mode", "dir")
WANDB_MODES = ("online", "offline")  # offline: files under `dir`, `wandb sync` uploads them later
TRACKING_EXTRA = 'pip install "raydd[tracking]"'
POOL_SEARCH_KEYS = ("main", "others", "main_weight", "warmup")
# the Python package each searcher needs (`pip install 'raydd[search]'`); random needs none
ALGORITHMS = {"random": None, "optuna": "optuna", "hyperopt": "hyperopt"}
DOMAINS = ("uniform", "loguniform", "randint", "choice")
OBJECTIVE = "probe_val_acc"  # mean validation accuracy of the probe students
PROBE_EPOCHS = 100  # a set of 10-100 images is one batch: 100 SGD steps, enough for LeNet on digits
WEIGHT_DECIMALS = 4  # a searched main weight is used rounded to 1e-4: it moves by at most 5e-5
POOL = "pool."  # sampled pool parts are named pool.main, pool.others, pool.main_weight, pool.warmup


@dataclass(frozen=True)
class ProbeSpec:
    """Quick students trained on a trial's current set every `report_every` iterations and at the
    end; their validation accuracy is the objective Tune sees."""

    students: tuple[str, ...]
    epochs: int = PROBE_EPOCHS
    seeds: int = 1
    report_every: int | None = None  # None: only at the end

    def metric_names(self) -> tuple[str, ...]:
        return (OBJECTIVE, *(student_metric(s) for s in self.students))


def student_metric(student: str) -> str:
    return f"{OBJECTIVE}_{student}"


@dataclass(frozen=True)
class Domain:
    """One searched value: `kind` is a Tune sampler name, `args` its arguments (a choice's
    options as plain values; a pool's `others` as `A+B` text, which every searcher can hold)."""

    kind: str
    args: tuple


@dataclass(frozen=True)
class AshaSpec:
    grace_period: int  # distillation iterations before a trial can be stopped
    reduction_factor: float = 2.0


@dataclass(frozen=True)
class SearchSpec:
    algorithm: str
    num_samples: int
    space: tuple[tuple[str, Domain], ...]  # searched keys: distill fields and pool.<part>
    pool_base: tuple[tuple[str, Any], ...] = ()  # the pool parts that are fixed (main, others, ...)
    max_concurrent: int | None = None
    metric: str = OBJECTIVE
    mode: str = "max"
    seed: int = 0  # the searcher's random seed: the same file samples the same values
    asha: AshaSpec | None = None


@dataclass(frozen=True)
class MlflowSpec:
    tracking_uri: str  # an MLflow server (http://...) or a local file store (file:///path)
    experiment: str | None = None  # None: the sweep's name


@dataclass(frozen=True)
class WandbSpec:
    project: str
    mode: str = "online"
    dir: str | None = None  # where W&B writes its files; None: each trial's Tune directory


@dataclass(frozen=True)
class TrackingSpec:
    """Tune's logger callbacks for a sweep's trials (raydd.sweep.tracking)."""

    tensorboard: bool = True  # event files beside each trial under <storage>/<name>/tune
    mlflow: MlflowSpec | None = None
    wandb: WandbSpec | None = None


# ---- resolving a sample ----------------------------------------------------------------------
def searched_key(grid_key: str, sampled: dict[str, Any]) -> str:
    """`<grid key>-<sampled values>-<hash>`: readable, and unique even where two samples print
    alike (0.73456 and 0.73459), since the hash covers every value exactly."""
    readable = "-".join(key_token(name.removeprefix(POOL), sampled[name]) for name in sorted(sampled))
    digest = hashlib.sha1(repr(sorted(sampled.items())).encode()).hexdigest()[:8]
    return shorten_key(f"{grid_key}-{readable}")[:80].rstrip("-_+.") + f"-{digest}"


def _others(text: str) -> tuple[str, ...]:
    return tuple(text.split("+")) if text else ()


def resolve_sample(point: TrialPoint, search: SearchSpec, sampled: dict[str, Any]) -> TrialPoint:
    """The grid point with the sampled values put in (a ValueError if they make no valid config)."""
    values = {k: v for k, v in sampled.items() if not k.startswith(POOL)}
    pool_parts = {**dict(search.pool_base), **{k[len(POOL):]: v for k, v in sampled.items() if k.startswith(POOL)}}
    if pool_parts:
        others = pool_parts.get("others", ())
        others = _others(others) if isinstance(others, str) else tuple(others)
        # a sampled weight to WEIGHT_DECIMALS: pool names stay readable in tables and legends
        weight = round(float(pool_parts.get("main_weight", 1.0)), WEIGHT_DECIMALS)
        values["pool"] = PoolSpec.main_share(pool_parts["main"], others, weight, int(pool_parts.get("warmup", 0)))
    config = dataclasses.replace(point.config, **values)
    shown_values = {k: v.name if isinstance(v, PoolSpec) else v for k, v in values.items()}
    return TrialPoint(searched_key(point.trial_key, sampled), config, {**point.axes, **shown_values})


# ---- parsing ---------------------------------------------------------------------------------
def parse_probe(value: Any, problems: Problems) -> Any:
    if value is None:
        return None
    before = len(problems)
    entry = check_section(value, "probe", problems, PROBE_KEYS, required=("students",))
    if entry is INVALID:
        return INVALID
    students = check_list(entry.get("students", []), "probe.students", problems, check_arch)
    epochs = check_int(entry.get("epochs", PROBE_EPOCHS), "probe.epochs", problems)
    seeds = check_int(entry.get("seeds", 1), "probe.seeds", problems)
    every = entry.get("report_every")
    every = None if every is None else check_int(every, "probe.report_every", problems)
    return INVALID if len(problems) > before else ProbeSpec(students, epochs, seeds, every)


def parse_tracking(value: Any, problems: Problems) -> Any:
    if value is None:
        return TrackingSpec()
    before = len(problems)
    entry = check_section(value, "tracking", problems, TRACKING_KEYS)
    if entry is INVALID:
        return INVALID
    tensorboard = check_bool(entry.get("tensorboard", True), "tracking.tensorboard", problems)
    mlflow = _logger_section(entry, "mlflow", MLFLOW_KEYS, problems)
    if mlflow:
        mlflow = MlflowSpec(check_string(mlflow.get("tracking_uri"), "tracking.mlflow.tracking_uri", problems),
                            _optional_string(mlflow, "experiment", "tracking.mlflow", problems))
    wandb = _logger_section(entry, "wandb", WANDB_KEYS, problems)
    if wandb:
        mode = wandb.get("mode", "online")
        if mode not in WANDB_MODES:
            problems.add("tracking.wandb.mode", f"must be {' or '.join(WANDB_MODES)}, got {shown(mode)}")
        wandb = WandbSpec(check_string(wandb.get("project"), "tracking.wandb.project", problems), mode,
                          _optional_string(wandb, "dir", "tracking.wandb", problems))
    return INVALID if len(problems) > before else TrackingSpec(tensorboard, mlflow, wandb)


def _logger_section(entry: dict, name: str, keys: tuple[str, ...], problems: Problems) -> dict | None:
    """`tracking.<name>`'s settings (None when absent or not a mapping); a library that is not
    installed is a problem now, not a failed sweep later."""
    if name not in entry:
        return None
    place = join("tracking", name)
    if importlib.util.find_spec(name) is None:
        problems.add(place, f"needs the {name} package: {TRACKING_EXTRA}")
    section = check_section(entry[name], place, problems, keys, required=keys[:1])
    return None if section is INVALID or keys[0] not in section else section


def _optional_string(section: dict, key: str, place: str, problems: Problems) -> Any:
    return None if section.get(key) is None else check_string(section[key], join(place, key), problems)


def parse_search(value: Any, probe: Any, fixed_raw: Any, grid_raw: Any, problems: Problems) -> Any:
    """The `search` section; `fixed_raw`/`grid_raw` are the file's `distill`/`grid` (a key is
    searched, fixed or a grid axis: one of them)."""
    if value is None:
        return None
    before = len(problems)
    entry = check_section(value, "search", problems, SEARCH_KEYS, required=("space",))
    if entry is INVALID:
        return INVALID
    if probe is None:
        problems.add("search", "needs a probe section: a search optimises the probe students' validation accuracy")
    algorithm = _algorithm(entry.get("algorithm", "random"), problems)
    num_samples = check_int(entry.get("num_samples", 1), "search.num_samples", problems)
    concurrent = entry.get("max_concurrent")
    concurrent = None if concurrent is None else check_int(concurrent, "search.max_concurrent", problems)
    metric = _metric(entry.get("metric", OBJECTIVE), probe, problems)
    mode = entry.get("mode", "max")
    if mode not in ("max", "min"):
        problems.add("search.mode", f"must be max or min, got {shown(mode)}")
    seed = check_int(entry.get("seed", 0), "search.seed", problems, minimum=0)
    asha = _scheduler(entry.get("scheduler"), fixed_raw, problems)
    space, pool_base = _space(entry.get("space"), fixed_raw, grid_raw, problems)
    if len(problems) > before:
        return INVALID
    return SearchSpec(algorithm, num_samples, space, pool_base, concurrent, metric, mode, seed, asha)


def _algorithm(value: Any, problems: Problems) -> Any:
    if value not in ALGORITHMS:
        problems.add("search.algorithm", f"unknown algorithm {shown(value)}; known: {', '.join(ALGORITHMS)}")
        return INVALID
    package = ALGORITHMS[value]
    if package and importlib.util.find_spec(package) is None:
        problems.add("search.algorithm", f"{value} needs the {package} package: pip install 'raydd[search]'")
    return value


def _metric(value: Any, probe: Any, problems: Problems) -> Any:
    known = probe.metric_names() if isinstance(probe, ProbeSpec) else (OBJECTIVE,)
    if value not in known:
        problems.add("search.metric", f"unknown metric {shown(value)}; the probe reports: {', '.join(known)}")
        return INVALID
    return value


def _scheduler(value: Any, fixed_raw: Any, problems: Problems) -> Any:
    entry = check_section(value, "search.scheduler", problems, ("asha",))
    if entry is INVALID or "asha" not in entry:
        return None
    asha = check_section(entry["asha"], "search.scheduler.asha", problems, ASHA_KEYS, required=("grace_period",))
    if asha is INVALID or "grace_period" not in asha:
        return INVALID
    grace = check_int(asha["grace_period"], "search.scheduler.asha.grace_period", problems)
    factor = check_number(asha.get("reduction_factor", 2), "search.scheduler.asha.reduction_factor", problems,
                          above=1)
    iterations = fixed_raw.get("iterations") if isinstance(fixed_raw, dict) else None
    if isinstance(iterations, int) and grace is not INVALID and grace >= iterations:
        problems.add("search.scheduler.asha.grace_period",
                     f"{grace} is not below distill.iterations ({iterations}): ASHA could never stop a trial")
    return AshaSpec(grace, factor) if INVALID not in (grace, factor) else INVALID


def _space(value: Any, fixed_raw: Any, grid_raw: Any, problems: Problems) -> tuple[tuple, tuple]:
    entry = check_section(value, "search.space", problems, distill_fields())
    if entry is INVALID:
        return (), ()
    if not entry:
        problems.add("search.space", "is empty; give at least one distill key to search")
    space, pool_base = [], ()
    for key, raw in entry.items():
        place = join("search.space", key)
        for section, other in (("distill", fixed_raw), ("grid", grid_raw)):
            if isinstance(other, dict) and key in other:
                problems.add(place, f"also set in {section}.{key}; set it in one place")
        if key == "pool":
            domains, pool_base = _pool_space(raw, place, problems)
            space += domains
        else:
            domain = _domain(raw, place, problems, lambda v, p: distill_value(key, v, p, problems))
            if domain is not INVALID:
                space.append((key, domain))
    return tuple(space), pool_base


def _pool_space(value: Any, place: str, problems: Problems) -> tuple[list, tuple]:
    """A main-share pool whose parts may be domains: `{main, others, main_weight, warmup}`."""
    entry = check_section(value, place, problems, POOL_SEARCH_KEYS, required=("main",))
    if entry is INVALID:
        return [], ()
    checks = {
        "main": lambda v, p: check_arch(v, p, problems),
        "others": lambda v, p: _others_text(v, p, problems),
        "main_weight": lambda v, p: check_number(v, p, problems, at_least=0),
        "warmup": lambda v, p: check_int(v, p, problems, minimum=0),
    }
    space, fixed = [], []
    for part, raw in entry.items():
        part_place = join(place, part)
        if _is_domain(raw):
            domain = _domain(raw, part_place, problems, checks[part])
            if domain is not INVALID:
                space.append((POOL + part, domain))
        else:
            checked = checks[part](raw, part_place)
            if checked is not INVALID:
                fixed.append((part, checked))
    if not any(_is_domain(raw) for raw in entry.values()):
        problems.add(place, "searches nothing: make main, others, main_weight or warmup a domain "
                            "({choice: [...]}, {uniform: [lo, hi]}, ...), or fix the pool in distill.pool")
    return space, tuple(fixed)


def _others_text(value: Any, place: str, problems: Problems) -> Any:
    """A list of variants as `A+B` text (a searcher's choice holds plain values)."""
    names = check_list(value, place, problems, check_arch, allow_empty=True)
    return INVALID if names is INVALID else "+".join(names)


def _is_domain(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in DOMAINS


def _domain(value: Any, place: str, problems: Problems, check) -> Any:
    """`{uniform|loguniform|randint: [lo, hi]}` or `{choice: [...]}`, every value checked as the
    key's own values are (`check(value, place)`)."""
    if not _is_domain(value):
        problems.add(place, f"must be a search domain ({{uniform: [lo, hi]}}, {{loguniform: [lo, hi]}}, "
                            f"{{randint: [lo, hi]}} or {{choice: [...]}}), got {shown(value)}; "
                            f"a fixed value belongs in distill")
        return INVALID
    (kind, args), = value.items()
    place = join(place, kind)
    if not isinstance(args, list) or not args or (kind != "choice" and len(args) != 2):
        wanted = "a non-empty list of options" if kind == "choice" else "[lo, hi]"
        problems.add(place, f"must be {wanted}, got {shown(args)}")
        return INVALID
    before = len(problems)
    checked = [check(v, f"{place}[{i}]") for i, v in enumerate(args)]
    if len(problems) > before:
        return INVALID
    if kind != "choice" and not _bounds_ok(kind, checked, place, problems):
        return INVALID
    return Domain(kind, tuple(checked))


def _bounds_ok(kind: str, bounds: list, place: str, problems: Problems) -> bool:
    lo, hi = bounds
    if kind == "randint" and not all(isinstance(b, int) for b in bounds):
        problems.add(place, f"randint needs integer bounds, got {bounds}")
        return False
    if not lo < hi:
        problems.add(place, f"lo must be below hi, got [{lo}, {hi}]")
        return False
    if kind == "loguniform" and lo <= 0:
        problems.add(place, f"loguniform needs lo > 0, got {lo}")
        return False
    return True


def searched_ipc_places(search: SearchSpec) -> list[tuple[str, int]]:
    """The ipc values a search may sample, at their places: each option of a choice, the bounds
    of a randint (whose hi is excluded: hi - 1 is the largest it samples)."""
    places = []
    for key, domain in search.space:
        if key != "ipc":
            continue
        place = f"search.space.ipc.{domain.kind}"
        values = domain.args if domain.kind == "choice" else (domain.args[0], domain.args[1] - 1)
        places += [(f"{place}[{index}]", value) for index, value in enumerate(values)]
    return places


def check_corners(search: SearchSpec, point: TrialPoint, problems: Problems) -> None:
    """Resolve the space's lowest and highest samples at `point`: a config the core refuses (a
    pool weight the variants cannot share, ...) is a problem now, not a failed trial later."""
    for corner in (0, -1):
        sampled = {name: d.args[corner] for name, d in search.space}
        by_core(lambda: resolve_sample(point, search, sampled), "search.space", problems)

