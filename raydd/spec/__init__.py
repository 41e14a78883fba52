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

Layout: `model` (the dataclasses and SpecError), `problems` (places, lines, messages), `values` and
`fields` (checks of single values and of config fields), one module per section (`top_level`,
`dataset`, `distill` with `pools`, `evaluation`, `resources`), `grid` (expansion and trial keys)
and `load` (the whole file).
"""

from raydd.core.distill import DistillConfig  # the class grid points are built with
from raydd.spec.grid import trial_keys
from raydd.spec.load import load_spec, load_spec_text, parse_spec
from raydd.spec.model import DatasetSpec, EvaluationSpec, ResourceSpec, SpecError, SweepSpec, TrialPoint
from raydd.spec.top_level import DEFAULT_STORAGE, name_problem

__all__ = [
    "DEFAULT_STORAGE", "DatasetSpec", "DistillConfig", "EvaluationSpec", "ResourceSpec", "SpecError",
    "SweepSpec", "TrialPoint", "load_spec", "load_spec_text", "name_problem", "parse_spec", "trial_keys",
]
