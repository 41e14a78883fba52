"""Reading a whole sweep file: every section checked, every problem raised at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import yaml

from raydd.spec.checks import (
    INVALID,
    Problems,
    check_bool,
    check_name,
    check_section,
    check_storage,
    join,
    line_map,
    shown,
    yaml_problem,
)
from raydd.spec.data import DataMode, dataset_class_sizes
from raydd.spec.experts import (
    check_experts_place,
    check_searched_experts,
    check_whitened_labels,
    parse_experts_storage,
)
from raydd.spec.foreign import parse_sets
from raydd.spec.grid import baseline_points, check_class_sizes, expand, expand_evaluation, ipc_places
from raydd.spec.model import SpecError, SweepSpec
from raydd.spec.overrides import Override, relabel, set_value
from raydd.spec.search import check_corners, parse_probe, parse_search, parse_tracking, searched_ipc_places
from raydd.spec.sections import (
    parse_baselines,
    parse_dataset,
    parse_distill,
    parse_evaluation,
    parse_grid,
    parse_resources,
)
from raydd.storage import DEFAULT_STORAGE

SWEEP_KEYS = ("name", "storage", "experts_storage", "dataset", "distill", "grid", "evaluation", "baselines",
              "baselines_only", "resources", "probe", "search", "tracking")
# Bounds on what validating one file may cost (docs/sweep-format.md states them). A real sweep
# file is a page of YAML: a few KB and a few hundred values.
MAX_FILE_BYTES = 100_000
MAX_VALUES = 10_000  # YAML values (scalars, lists, mappings) with every alias expanded


def load_spec(path: str | Path, *, storage: str | None = None, data: DataMode = "if_present",
              overrides: Sequence[Override] = ()) -> SweepSpec:
    """Read and validate a sweep file; `storage` overrides the file's `storage:`; `data` says how
    hard to try to read the dataset's class sizes (`raydd.spec.data`); `overrides` set settings
    of the file before it is validated (`raydd.spec.overrides`)."""
    return load_spec_text(_read_file(path), str(path), storage=storage, data=data, overrides=overrides)


def _read_file(path: str | Path) -> str:
    """The text of a sweep file, within MAX_FILE_BYTES."""
    source = str(path)
    path = Path(path)
    if not path.is_file():
        why = "is a directory, not a sweep file" if path.is_dir() else "no such file"
        raise SpecError([f"{source}: {why}"], source)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SpecError([f"{source}: {size} bytes; a sweep file may hold at most {MAX_FILE_BYTES}"], source)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SpecError([f"{source}: not UTF-8 text ({error.reason} at byte {error.start})"], source) from None


def read_name_and_storage(path: str | Path) -> tuple[str, str]:
    """The `name:` and `storage:` (default DEFAULT_STORAGE) of a sweep file, the rest unchecked:
    they find the sweep the file started, and the file may have changed since (the stored copy
    under the sweep root is what runs). Raises SpecError."""
    source = str(path)
    raw, lines, _ = _read_yaml(_read_file(path), source)
    if not isinstance(raw, dict):
        raise SpecError([f"{source}: must be a mapping of settings, got {shown(raw)}"], source)
    problems = Problems()
    if "name" not in raw:
        problems.add("name", "missing (required)")
    else:
        check_name(raw["name"], problems)
    storage = raw.get("storage", DEFAULT_STORAGE)
    check_storage(storage, "storage", problems)
    if problems:
        raise SpecError(problems.lines(lines), source)
    return raw["name"], storage


def load_spec_text(text: str, source: str, *, storage: str | None = None,
                   data: DataMode = "if_present", overrides: Sequence[Override] = ()) -> SweepSpec:
    """Validate a sweep file's text; `source` names it in every problem (e.g. the stored copy).
    The spec's `source` is the file with its overrides put in: the effective sweep."""
    raw, lines, repeats = _read_yaml(text, source)
    if overrides and isinstance(raw, dict):
        repeats = repeats + _apply_overrides(raw, lines, overrides)
    spec = _parse(raw, source, lines, storage_override=storage, data=data, repeats=repeats)
    return dataclasses.replace(spec, overrides=tuple(o.text for o in overrides))


def _apply_overrides(raw: dict, lines: dict[str, int | str], overrides: Sequence[Override]) -> list[tuple[str, str]]:
    """Set each override's value in `raw`, in order (a later one wins); (place, problem) for each
    that cannot be set. A value is read as a file is: YAML, safely, within MAX_VALUES."""
    problems = []
    for override in overrides:
        relabel(lines, override)
        try:
            value, _, repeats = _read_yaml(override.value_text, override.label)
        except SpecError as error:
            problems += [(override.place, f"the value cannot be read: {p.removeprefix(override.label + ': ')}")
                         for p in error.problems]
            continue
        problems += [(override.place + ("" if place.startswith("[") else ".") + place, problem)
                     for place, problem in repeats]
        why = set_value(raw, override, value)
        if why:
            problems.append((override.place, why))
    return problems


def _read_yaml(text: str, source: str) -> tuple[Any, dict[str, int], list[tuple[str, str]]]:
    """The parsed YAML, its line map and its repeated keys (`_repeated_keys`), within MAX_VALUES:
    the size of the tree with aliases expanded is counted on the composed graph (shared nodes
    counted once per use, each node's size computed once) before anything is built from it, so
    an alias bomb costs microseconds."""
    loader = yaml.SafeLoader(text)
    repeats: list[tuple[int, str, str]] = []
    try:
        node = loader.get_single_node()
        if node is not None:
            _expanded_size(node, {}, set(), source)
            _repeated_keys(node, "", set(), repeats)
        raw = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as error:
        raise SpecError([yaml_problem(error)], source) from None
    except RecursionError:
        raise SpecError([f"{source}: nested too deeply to be a sweep file"], source) from None
    finally:
        loader.dispose()
    return raw, line_map(node), [(place, problem) for _, place, problem in sorted(repeats)]


def _repeated_keys(node: yaml.Node, place: str, seen: set[int], out: list[tuple[int, str, str]]) -> None:
    """(line, place, problem) for every key given twice in one mapping, at any depth: PyYAML keeps the
    last value without a word. Keys a merge (`<<`) brings in may be overridden: that is what a
    merge is for. Each node is walked once, however many aliases use it."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _repeated_keys(item, f"{place}[{index}]", seen, out)
    elif isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                line = key.start_mark.line + 1
                if (key.tag, key.value) in first:
                    out.append((line, join(place, key.value), f"is given again at line {line} (YAML would keep "
                                                              "the last silently); give it once"))
                first.setdefault((key.tag, key.value), line)
            _repeated_keys(value, join(place, key.value), seen, out)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], source: str) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise SpecError([f"line {node.start_mark.line + 1}: an alias refers to a value that contains it"], source)
    open_nodes.add(key)
    children = node.value if isinstance(node, yaml.SequenceNode) else (
        [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else [])
    size = 1
    for child in children:
        size += _expanded_size(child, sizes, open_nodes, source)
        if size > MAX_VALUES:
            raise SpecError([f"line {node.start_mark.line + 1}: with its aliases expanded the file holds "
                             f"more than {MAX_VALUES} values; a sweep file holds far fewer"], source)
    open_nodes.discard(key)
    sizes[key] = size
    return size


def parse_spec(raw: dict, *, source_name: str = "<sweep>", data: DataMode = "if_present") -> SweepSpec:
    """Validate an already parsed sweep description (the YAML as Python objects)."""
    return _parse(raw, source_name, {}, data=data)


def _parse(raw: Any, source: str, lines: dict[str, int], storage_override: str | None = None,
           data: DataMode = "if_present", repeats: list[tuple[str, str]] = ()) -> SweepSpec:
    problems = Problems()
    for place, problem in repeats:
        problems.add(place, problem)
    if raw is None:
        raise SpecError([f"{source}: the file is empty"], source)
    top = check_section(raw, "", problems, SWEEP_KEYS, required=("name", "dataset", "evaluation"))
    if top is INVALID:
        raise SpecError(problems.lines(lines), source)
    name = check_name(top["name"], problems) if "name" in top else INVALID
    if storage_override is not None:
        storage = check_storage(storage_override, "--storage", problems)
    else:
        storage = check_storage(top.get("storage", DEFAULT_STORAGE), "storage", problems)
    experts_storage = parse_experts_storage(top.get("experts_storage"), problems)
    dataset = parse_dataset(top["dataset"], problems) if "dataset" in top else INVALID
    fixed = parse_distill(top.get("distill"), problems)
    fixed = {} if fixed is INVALID else fixed
    axes, eval_axes = parse_grid(top.get("grid"), top.get("distill"), top.get("evaluation"), problems)
    evaluation = parse_evaluation(top["evaluation"], problems) if "evaluation" in top else INVALID
    baselines = parse_baselines(top.get("baselines"), problems)
    baselines_only = check_bool(top.get("baselines_only", False), "baselines_only", problems)
    sets = parse_sets(top.get("evaluation"), dataset, problems)
    resources = parse_resources(top.get("resources"), problems)
    probe = parse_probe(top.get("probe"), problems)
    search = parse_search(top.get("search"), probe, top.get("distill"), top.get("grid"), problems)
    tracking = parse_tracking(top.get("tracking"), problems)
    points, baseline_sets = (), ()
    if not problems and dataset is not INVALID:
        points = expand(axes, fixed, dataset.name, problems)
        sizes = dataset_class_sizes(dataset, data, problems) if not problems else None
        if sizes is not None:
            places = ipc_places(axes, fixed) + (searched_ipc_places(search) if search else [])
            check_class_sizes(places, dataset.name, sizes, problems)
        baseline_sets = baseline_points(points, baselines) + sets
        if baselines_only is True:
            points = _only_baselines(baseline_sets, search, problems)
        evaluation = expand_evaluation(eval_axes, evaluation, len(points) + len(baseline_sets), problems)
    for taken in {p.trial_key for p in points} & {s.trial_key for s in sets}:
        problems.add("evaluation.sets", f"a set is named {taken!r}, as a grid point is; rename the set")
    if search and not problems:
        check_corners(search, points[0], problems)
    if not problems:
        check_experts_place(experts_storage, storage, name, points, problems)
        check_searched_experts(search, points, problems)
        check_whitened_labels(points, evaluation, problems)
    if problems:
        raise SpecError(problems.lines(lines), source)
    return SweepSpec(name, storage, dataset, evaluation, resources, points, raw, baseline_sets, probe, search,
                     tracking, experts_storage=experts_storage)


def _only_baselines(baseline_sets: tuple, search: Any, problems: Problems) -> tuple:
    """`baselines_only: true`: the grid only says which baselines to draw (random_real's ipc and
    seeds), nothing is distilled; so a study's baselines can run apart from its distillations,
    their rows read beside the others'. No points, then."""
    if not baseline_sets:
        problems.add("baselines_only", "true needs something to evaluate: a `baselines` list or evaluation.sets")
    if search:
        problems.add("baselines_only", "true distills nothing, so `search` has nothing to sample; drop one")
    return ()
