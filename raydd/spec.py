"""A sweep file -> frozen, validated dataclasses: every problem at once, each with its place.

The YAML format is described in docs/sweep-format.md. Parsing happens once, at the edge, before
any Ray work: `load_spec` either returns a `SweepSpec` whose grid is expanded into `TrialPoint`s
with fully resolved `DistillConfig`s, or raises one `SpecError` listing every problem as
`place: message` (with the line in the file when it is known), e.g.

    grid.pool[2].probabilities: sums to 0.9, not 1 (or set normalize: true) (line 17)
    distill.lr_imgg: unknown setting; did you mean lr_img? (line 9)

Values are checked against the core's own registries (ARCHS, DATASETS, METHODS) and config
dataclasses (`DistillConfig`, `EvalConfig`, `PoolSpec`), whose ValueErrors are re-reported with
the place they came from.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import math
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from raydd.core.archs import ARCHS
from raydd.core.datasets import DATASETS
from raydd.core.distill import DistillConfig
from raydd.core.evaluate import EvalConfig
from raydd.core.pool import PROB_TOLERANCE, PoolSpec

DEFAULT_STORAGE = "./runs"
STORAGE_SCHEMES = ("s3", "gs")  # object stores every node of a cluster can reach
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")  # characters a trial key may not hold
KEY_MAX_CHARS = 96  # trial keys become directory names; longer keys are cut and hashed
MAX_POINTS = 10_000  # a grid larger than this is a typo (an axis of ranges), not an experiment

# Distillation fields that count things: zero makes no sense for any of them.
POSITIVE_INT_FIELDS = ("ipc", "batch_real", "batch_train", "outer_loop", "inner_loop", "bn_batch_per_class")
SWEEP_KEYS = ("name", "storage", "dataset", "distill", "grid", "evaluation", "resources")
DATASET_KEYS = ("name", "data_dir", "download", "val_size")
LISTED_POOL_KEYS = ("archs", "probabilities", "warmup", "normalize")
MAIN_POOL_KEYS = ("main", "others", "main_weight", "warmup")
KD_WORDS = {"on": True, "off": False, "true": True, "false": False}

_INVALID = object()  # a value that failed its check (None can be a valid value)


# ---- the public dataclasses ---------------------------------------------------------------------
class SpecError(ValueError):
    """A sweep file with problems; `.problems` holds every one as `place: message`."""

    def __init__(self, problems: Iterable[str], source: str = "<sweep>") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        header = f"{source}: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([header, *(f"  {p}" for p in self.problems)]))


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    data_dir: str | None = None
    download: bool = False
    val_size: float = 0.1  # fraction of the training data held out to choose KD settings


@dataclass(frozen=True)
class EvaluationSpec:
    students: tuple[str, ...]
    teacher: str
    kd_modes: tuple[bool, ...]
    seeds: int  # evaluation seeds 0 .. seeds-1
    config: EvalConfig


@dataclass(frozen=True)
class ResourceSpec:
    trial_cpu: float = 1.0
    trial_gpu: float = 0.0
    evaluators: int = 1
    evaluator_cpu: float = 1.0
    evaluator_gpu: float = 0.0
    max_concurrent_trials: int | None = None
    max_failures: int = 2  # retries of a trial from its last checkpoint (Tune FailureConfig)
    checkpoint_every: int = 25  # distillation iterations between Tune checkpoints


@dataclass(frozen=True)
class TrialPoint:
    trial_key: str  # stable, readable, unique, filesystem-safe id of the grid point
    config: DistillConfig  # fully resolved
    axes: dict[str, object]  # this point's grid values (a pool as its PoolSpec.name)


@dataclass(frozen=True)
class SweepSpec:
    name: str
    storage: str
    dataset: DatasetSpec
    evaluation: EvaluationSpec
    resources: ResourceSpec
    points: tuple[TrialPoint, ...]
    source: dict  # the raw parsed YAML, travelling with the results

    def with_storage(self, storage: str) -> "SweepSpec":
        """The same sweep writing to another storage location (the `--storage` override)."""
        problems = _Problems()
        _check_storage(storage, "--storage", problems)
        if problems:
            raise SpecError(problems.lines({}), "--storage")
        return dataclasses.replace(self, storage=storage)

    def describe(self) -> dict[str, Any]:
        """The resolved description: every setting actually used, as plain JSON values."""
        ev = self.evaluation
        return {
            "name": self.name,
            "storage": self.storage,
            "dataset": dataclasses.asdict(self.dataset),
            "evaluation": {"students": list(ev.students), "teacher": ev.teacher,
                           "kd_modes": list(ev.kd_modes), "seeds": ev.seeds, "config": ev.config.to_dict()},
            "resources": dataclasses.asdict(self.resources),
            "points": [{"trial_key": p.trial_key, "axes": p.axes, "config": p.config.to_dict()}
                       for p in self.points],
        }

    def to_json(self) -> str:
        """`describe()` as compact JSON with sorted keys: equal specs give equal text."""
        return json.dumps(self.describe(), sort_keys=True, separators=(",", ":"))


def load_spec(path: str | Path, *, storage: str | None = None) -> SweepSpec:
    """Read and validate a sweep file; `storage` overrides the file's `storage:`."""
    source = str(path)
    path = Path(path)
    if not path.is_file():
        why = "is a directory, not a sweep file" if path.is_dir() else "no such file"
        raise SpecError([f"{source}: {why}"], source)
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
        lines = _line_map(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise SpecError([_yaml_problem(error)], source) from None
    return _parse(raw, source, lines, storage_override=storage)


def parse_spec(raw: dict, *, source_name: str = "<sweep>") -> SweepSpec:
    """Validate an already parsed sweep description (the YAML as Python objects)."""
    return _parse(raw, source_name, {})


# ---- problems and places ------------------------------------------------------------------------
class _Problems:
    """Collects (place, message) pairs; places look like `grid.pool[2].probabilities`."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, place: str, message: str) -> None:
        self.items.append((place, message))

    def __len__(self) -> int:
        return len(self.items)

    def lines(self, line_of: dict[str, int]) -> list[str]:
        out = []
        for place, message in self.items:
            line = _nearest_line(place, line_of)
            out.append(f"{place}: {message}" + (f" (line {line})" if line else ""))
        return out


def _join(place: str, key: object) -> str:
    return f"{place}.{key}" if place else str(key)


def _line_map(node: yaml.Node | None, place: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """Place -> 1-based line of every key and list item in the composed YAML tree."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = _join(place, key.value)
            out.setdefault(child, key.start_mark.line + 1)
            _line_map(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{place}[{index}]"
            out.setdefault(child, item.start_mark.line + 1)
            _line_map(item, child, out)
    return out


def _nearest_line(place: str, line_of: dict[str, int]) -> int | None:
    """The line of `place`, or of its closest enclosing setting (a missing key's parent)."""
    while place:
        if place in line_of:
            return line_of[place]
        parent = re.sub(r"(\.[^.\[\]]*|\[\d+\])$", "", place)
        if parent == place:
            break
        place = parent
    return None


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    return f"{where}: invalid YAML: {problem}" + (f" ({context})" if context else "")


def _unknown_key(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=3, cutoff=0.6)
    # abbreviations (`probs`) are too short for difflib's ratio; a shared prefix names them
    close = close or [a for a in allowed if len(os.path.commonprefix([key, a])) >= 4]
    if close:
        return f"unknown setting; did you mean {' or '.join(close)}?"
    return f"unknown setting; known: {', '.join(allowed)}"


def _known(registry: Iterable[str]) -> str:
    return ", ".join(registry)


# ---- value checks: each returns the value (converted) or _INVALID after recording a problem -----
def _section(value: Any, place: str, problems: _Problems, allowed: Iterable[str],
             required: Iterable[str] = ()) -> dict | Any:
    """A mapping whose keys are all known; unknown keys get close-match suggestions."""
    allowed, required = list(allowed), list(required)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        problems.add(place or "(file)", f"must be a mapping of settings, got {_shown(value)}")
        return _INVALID
    for key in value:
        if key not in allowed:
            problems.add(_join(place, key), _unknown_key(str(key), allowed))
    for key in required:
        if key not in value:
            problems.add(_join(place, key), "missing (required)")
    return {k: v for k, v in value.items() if k in allowed}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(value: Any, place: str, problems: _Problems, minimum: int = 1, too_small: str | None = None) -> Any:
    """An integer >= minimum; `too_small` rewords the message for an integer below it."""
    wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and value >= minimum:
        return value
    problems.add(place, f"must be {too_small if is_int and too_small else wanted}, got {_shown(value)}")
    return _INVALID


def _number(value: Any, place: str, problems: _Problems, *, above: float | None = None,
            at_least: float | None = None, below: float | None = None) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.add(place, f"must be a number, got {_shown(value)}")
        return _INVALID
    failed = [text for bound, ok, text in (
        (above, lambda: value > above, f"> {above}"),
        (at_least, lambda: value >= at_least, f">= {at_least}"),
        (below, lambda: value < below, f"< {below}"),
    ) if bound is not None and not ok()]
    if failed:
        problems.add(place, f"must be {' and '.join(failed)}, got {value}")
        return _INVALID
    return float(value)


def _string(value: Any, place: str, problems: _Problems) -> Any:
    if not isinstance(value, str) or not value:
        problems.add(place, f"must be a non-empty string, got {_shown(value)}")
        return _INVALID
    return value


def _bool(value: Any, place: str, problems: _Problems) -> Any:
    if not isinstance(value, bool):
        problems.add(place, f"must be true or false, got {_shown(value)}")
        return _INVALID
    return value


def _arch(value: Any, place: str, problems: _Problems) -> Any:
    if _string(value, place, problems) is _INVALID:
        return _INVALID
    if value not in ARCHS:
        problems.add(place, f"unknown architecture {value!r}; known: {_known(ARCHS)}")
        return _INVALID
    return value


def _list(value: Any, place: str, problems: _Problems, item: Callable[[Any, str, _Problems], Any],
          *, allow_empty: bool = False) -> Any:
    """A list whose items each pass `item` and appear once."""
    if not isinstance(value, list):
        problems.add(place, f"must be a list, got {_shown(value)}")
        return _INVALID
    if not value and not allow_empty:
        problems.add(place, "is empty; give at least one value")
        return _INVALID
    checked = [item(v, f"{place}[{i}]", problems) for i, v in enumerate(value)]
    _report_duplicates(checked, place, problems)
    return _INVALID if any(v is _INVALID for v in checked) else tuple(checked)


def _report_duplicates(values: list, place: str, problems: _Problems) -> bool:
    first: dict[Any, int] = {}
    found = False
    for index, value in enumerate(values):
        if value is _INVALID:
            continue
        if value in first:
            problems.add(f"{place}[{index}]", f"duplicate of {place}[{first[value]}]")
            found = True
        else:
            first[value] = index
    return found


# ---- typed dataclass fields ---------------------------------------------------------------------
def _convert(value: Any, hint: Any) -> tuple[bool, Any]:
    """Does `value` fit the field type `hint`? Returns (fits, value converted to it)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            fits, converted = _convert(value, arm)
            if fits:
                return True, converted
        return False, None
    if hint is type(None):
        return value is None, None
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        fits = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return fits, float(value) if fits else None
    if hint is str:
        return isinstance(value, str), value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False, None
        items = [_convert(v, typing.get_args(hint)[0]) for v in value]
        return all(ok for ok, _ in items), tuple(v for _, v in items)
    return True, value


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arm) for arm in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(hint)[0]).split(' ', 1)[-1]}s"
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _field_value(cls: type, field: str, value: Any, place: str, problems: _Problems, base: dict) -> Any:
    """Check one field of `cls` by its type, then by `cls` itself (built from `base` + this field)."""
    hint = typing.get_type_hints(cls)[field]
    fits, converted = _convert(value, hint)
    if not fits:
        problems.add(place, f"must be {_describe(hint)}, got {_shown(value)}")
        return _INVALID
    try:
        cls(**{**base, field: converted})
    except (ValueError, TypeError) as error:
        problems.add(place, _strip_field(str(error), cls, field))
        return _INVALID
    return converted


def _strip_field(message: str, cls: type, field: str) -> str:
    """`EvalConfig: lr must be > 0` -> `must be > 0` (the place already names the field)."""
    message = message.removeprefix(f"{cls.__name__}: ")
    return message.removeprefix(f"{field} ")


def _field_place(message: str, cls: type, section: str, present: Iterable[str]) -> str:
    """Place of a whole-config error: the field it names when the file set that field."""
    message = message.removeprefix(f"{cls.__name__}: ")
    for name in present:
        if message.startswith(f"{name} "):
            return _join(section, name)
    return section


def _distill_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(DistillConfig) if f.name != "dataset"]


def _eval_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(EvalConfig)]


# ---- pools --------------------------------------------------------------------------------------
def _pool(value: Any, place: str, problems: _Problems) -> Any:
    """One pool: `{archs, probabilities}`, `{main, others, main_weight}`, or `"A=0.9,B=0.1"` text."""
    if isinstance(value, str):
        return _build(lambda: PoolSpec.parse(value), place, problems)
    if not isinstance(value, dict):
        problems.add(place, f"must be a pool mapping ({{archs, probabilities}} or {{main, others, "
                            f"main_weight}}) or text like 'ConvNet=0.9,ConvNetW64=0.1', got {_shown(value)}")
        return _INVALID
    if "main" in value and "archs" in value:
        problems.add(place, "give either archs/probabilities or main/others/main_weight, not both")
        return _INVALID
    if "main" in value:
        return _main_share_pool(value, place, problems)
    return _listed_pool(value, place, problems)


def _listed_pool(value: dict, place: str, problems: _Problems) -> Any:
    before = len(problems)
    entry = _section(value, place, problems, LISTED_POOL_KEYS, required=("archs",))
    if entry is _INVALID or "archs" not in entry:
        return _INVALID
    archs = _list(entry["archs"], _join(place, "archs"), problems, _arch)
    warmup = _int(entry.get("warmup", 0), _join(place, "warmup"), problems, minimum=0)
    normalize = _bool(entry.get("normalize", False), _join(place, "normalize"), problems)
    if archs is _INVALID:
        return _INVALID
    probs = _probabilities(entry.get("probabilities"), len(archs), normalize is True,
                           _join(place, "probabilities"), problems)
    if len(problems) > before:
        return _INVALID
    return _build(lambda: PoolSpec(archs, probs, warmup), place, problems)


def _probabilities(value: Any, count: int, normalize: bool, place: str, problems: _Problems) -> Any:
    """Aligned with archs; omitted means equal shares."""
    if value is None:
        return tuple([1.0 / count] * count)
    if not isinstance(value, list):
        problems.add(place, f"must be a list of numbers, got {_shown(value)}")
        return _INVALID
    probs = [_number(p, f"{place}[{i}]", problems, at_least=0) for i, p in enumerate(value)]
    if any(p is _INVALID for p in probs):
        return _INVALID
    if len(probs) != count:
        entries = "entry" if len(probs) == 1 else "entries"
        problems.add(place, f"has {len(probs)} {entries} but archs has {count}; they must align")
        return _INVALID
    total = sum(probs)
    if total <= 0:
        problems.add(place, "are all zero")
        return _INVALID
    if normalize:
        return tuple(p / total for p in probs)
    if abs(total - 1.0) > PROB_TOLERANCE:
        problems.add(place, f"sums to {total:.6g}, not 1 (or set normalize: true)")
        return _INVALID
    return tuple(probs)


def _main_share_pool(value: dict, place: str, problems: _Problems) -> Any:
    before = len(problems)
    entry = _section(value, place, problems, MAIN_POOL_KEYS, required=("main",))
    if entry is _INVALID:
        return _INVALID
    main = _arch(entry["main"], _join(place, "main"), problems)
    others = _list(entry.get("others", []), _join(place, "others"), problems, _arch, allow_empty=True)
    if others is not _INVALID and main in others:
        problems.add(_join(place, "others"), f"lists the main architecture {main!r} again")
    if "main_weight" not in entry and others:
        problems.add(_join(place, "main_weight"), "missing (required when others are given)")
    weight = _number(entry.get("main_weight", 1.0), _join(place, "main_weight"), problems, at_least=0)
    if weight is not _INVALID and weight > 1:
        problems.add(_join(place, "main_weight"), f"must be <= 1, got {weight}")
    warmup = _int(entry.get("warmup", 0), _join(place, "warmup"), problems, minimum=0)
    if len(problems) > before:
        return _INVALID
    return _build(lambda: PoolSpec.main_share(main, others, weight, warmup), place, problems)


def _build(make: Callable[[], Any], place: str, problems: _Problems) -> Any:
    """Call a core constructor; its ValueError becomes a problem at `place`."""
    try:
        return make()
    except ValueError as error:
        problems.add(place, str(error))
        return _INVALID


# ---- sections -----------------------------------------------------------------------------------
def _check_name(value: Any, problems: _Problems) -> Any:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        problems.add("name", f"{_shown(value)} is not filesystem-safe: use 1-64 letters, digits, '_' or '-', "
                             "starting with a letter or digit")
        return _INVALID
    return value


def _check_storage(value: Any, place: str, problems: _Problems) -> Any:
    """A local path, or s3://bucket/prefix, gs://bucket/prefix."""
    if not isinstance(value, str) or not value.strip():
        problems.add(place, f"must be a local path or s3:// / gs:// location, got {_shown(value)}")
        return _INVALID
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", value)
    if scheme is None:
        return value
    if scheme.group(1).lower() not in STORAGE_SCHEMES:
        problems.add(place, f"unsupported storage scheme {scheme.group(1)!r}; use a local path, "
                            "s3://bucket/prefix or gs://bucket/prefix")
        return _INVALID
    if not scheme.group(2).split("/")[0]:
        problems.add(place, f"{value!r} names no bucket")
        return _INVALID
    return value


def _parse_dataset(value: Any, problems: _Problems) -> Any:
    if isinstance(value, str):  # shorthand `dataset: digits`
        value = {"name": value}
    before = len(problems)
    entry = _section(value, "dataset", problems, DATASET_KEYS, required=("name",))
    if entry is _INVALID:
        return _INVALID
    name = entry.get("name")
    if "name" in entry and _string(name, "dataset.name", problems) is not _INVALID and name not in DATASETS:
        problems.add("dataset.name", f"unknown dataset {name!r}; known: {_known(DATASETS)}")
    data_dir = entry.get("data_dir")
    if data_dir is not None:
        _string(data_dir, "dataset.data_dir", problems)
    download = _bool(entry.get("download", False), "dataset.download", problems)
    if download is True and data_dir is None:
        problems.add("dataset.download", "true needs dataset.data_dir, the directory to download into")
    val_size = _number(entry.get("val_size", 0.1), "dataset.val_size", problems, above=0, below=1)
    if len(problems) > before:
        return _INVALID
    return DatasetSpec(name, data_dir, download, val_size)


def _distill_value(field: str, value: Any, place: str, problems: _Problems) -> Any:
    if field == "pool":
        return _pool(value, place, problems)
    if field in POSITIVE_INT_FIELDS and value is not None:
        if _int(value, place, problems) is _INVALID:
            return _INVALID
    return _field_value(DistillConfig, field, value, place, problems, {})


def _parse_distill(value: Any, problems: _Problems) -> Any:
    entry = _section(value, "distill", problems, _distill_fields())
    if entry is _INVALID:
        return _INVALID
    checked = {k: _distill_value(k, v, _join("distill", k), problems) for k, v in entry.items()}
    return {k: v for k, v in checked.items() if v is not _INVALID}


def _parse_grid(value: Any, raw_distill: Any, problems: _Problems) -> dict[str, tuple]:
    entry = _section(value, "grid", problems, _distill_fields())
    if entry is _INVALID:
        return {}
    axes = {}
    for axis, values in entry.items():
        place = _join("grid", axis)
        if isinstance(raw_distill, dict) and axis in raw_distill:
            problems.add(place, f"also set in distill.{axis}; set it in one place")
        if not isinstance(values, list):
            problems.add(place, f"must be a list of values (one per trial), got {_shown(values)}")
            continue
        if not values:
            problems.add(place, "is empty; give at least one value")
            continue
        checked = [_distill_value(axis, v, f"{place}[{i}]", problems) for i, v in enumerate(values)]
        _report_duplicates(checked, place, problems)
        axes[axis] = tuple(checked)
    return axes


def _kd_mode(value: Any, place: str, problems: _Problems) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in KD_WORDS:
        return KD_WORDS[value.lower()]
    problems.add(place, f"must be off or on, got {_shown(value)}")
    return _INVALID


def _parse_evaluation(value: Any, problems: _Problems) -> Any:
    before = len(problems)
    entry = _section(value, "evaluation", problems, ["students", "kd", "seeds", *_eval_fields()],
                     required=("students",))
    if entry is _INVALID:
        return _INVALID
    students = _list(entry.get("students", []), "evaluation.students", problems, _arch)
    kd_modes = _list(entry.get("kd", [False]), "evaluation.kd", problems, _kd_mode)
    seeds = _int(entry.get("seeds", 1), "evaluation.seeds", problems)
    if "teacher" in entry:
        _arch(entry["teacher"], "evaluation.teacher", problems)
    settings = {k: v for k, v in entry.items() if k not in ("students", "kd", "seeds")}
    config_fields = {k: _field_value(EvalConfig, k, v, _join("evaluation", k), problems, {})
                     for k, v in settings.items()}
    if len(problems) > before:
        return _INVALID
    try:
        config = EvalConfig(**config_fields)
    except ValueError as error:
        problems.add(_field_place(str(error), EvalConfig, "evaluation", settings), str(error))
        return _INVALID
    return EvaluationSpec(students, config.teacher, kd_modes, seeds, config)


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


# ---- the grid -----------------------------------------------------------------------------------
def _expand(axes: dict[str, tuple], fixed: dict, dataset: str, problems: _Problems) -> tuple[TrialPoint, ...]:
    """The cartesian product of the axes, in file order, each point a resolved DistillConfig."""
    count = math.prod(len(values) for values in axes.values())
    if count > MAX_POINTS:
        problems.add("grid", f"has {count} points; more than {MAX_POINTS} is surely a mistake")
        return ()
    combos = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    keys = trial_keys(combos)
    failures: dict[str, list[str]] = {}
    points, seen = [], {}
    for key, values in zip(keys, combos):
        try:
            config = DistillConfig(**{**fixed, **values, "dataset": dataset})
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


def trial_keys(combos: list[dict[str, Any]]) -> list[str]:
    """Readable, filesystem-safe, unique keys: `ipc10-pool_ConvNet0.9+ConvNetW64+ConvNetD2-seed0`."""
    keys = ["-".join(_token(axis, value) for axis, value in combo.items()) or "base" for combo in combos]
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    # values that differ only in unsafe characters collide: their full values tell them apart
    keys = [key if counts[key] == 1 else f"{key}-{_digest(repr(list(combo.items())))}"
            for key, combo in zip(keys, combos)]
    return [_shorten(key) for key in keys]


def _token(axis: str, value: Any) -> str:
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


def _shorten(key: str) -> str:
    if len(key) <= KEY_MAX_CHARS:
        return key
    return f"{key[:KEY_MAX_CHARS - 9].rstrip('-_+.')}-{_digest(key)}"


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


# ---- the whole file -----------------------------------------------------------------------------
def _parse(raw: Any, source: str, lines: dict[str, int], storage_override: str | None = None) -> SweepSpec:
    problems = _Problems()
    if raw is None:
        raise SpecError([f"{source}: the file is empty"], source)
    top = _section(raw, "", problems, SWEEP_KEYS, required=("name", "dataset", "evaluation"))
    if top is _INVALID:
        raise SpecError(problems.lines(lines), source)
    name = _check_name(top["name"], problems) if "name" in top else _INVALID
    if storage_override is not None:
        storage = _check_storage(storage_override, "--storage", problems)
    else:
        storage = _check_storage(top.get("storage", DEFAULT_STORAGE), "storage", problems)
    dataset = _parse_dataset(top["dataset"], problems) if "dataset" in top else _INVALID
    fixed = _parse_distill(top.get("distill"), problems)
    fixed = {} if fixed is _INVALID else fixed
    axes = _parse_grid(top.get("grid"), top.get("distill"), problems)
    evaluation = _parse_evaluation(top["evaluation"], problems) if "evaluation" in top else _INVALID
    resources = _parse_resources(top.get("resources"), problems)
    points: tuple[TrialPoint, ...] = ()
    if not problems and dataset is not _INVALID:
        points = _expand(axes, fixed, dataset.name, problems)
    if problems:
        raise SpecError(problems.lines(lines), source)
    return SweepSpec(name, storage, dataset, evaluation, resources, points, raw)
