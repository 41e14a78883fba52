"""A sweep file -> frozen, validated dataclasses: every problem at once, each with its place.

The YAML format is described in docs/sweep-format.md. Parsing happens once, at the edge, before
any Ray work: `load_spec` either returns a `SweepSpec` whose grid is expanded into `TrialPoint`s
with fully resolved `DistillConfig`s, or raises one `SpecError` listing every problem as
`place: message` (with the line in the file when it is known), e.g.

    grid.pool[2]: pool probabilities sum to 0.9, not 1 (...) (line 17)
    distill.lr_imgg: unknown setting; did you mean lr_img? (line 9)

Values are checked by the core's own registries (ARCHS, DATASETS, METHODS) and rules
(`DistillConfig`, `EvalConfig`, `PoolSpec`, the validation carve), whose ValueErrors are
re-reported with the place they came from.

Modules: `model` (the dataclasses, SpecError, the KD words), `checks` (problems, places, lines and
the checks of single values), `sections` (one parser per section of the file), `grid` (expansion
and trial keys, and the evaluation axes' settings) and `load` (the whole file).
"""

from raydd.core.distill import DistillConfig  # the class grid points are built with
from raydd.spec.checks import name_problem
from raydd.spec.grid import trial_keys
from raydd.spec.load import load_spec, load_spec_text, parse_spec
from raydd.spec.model import (
    DatasetSpec,
    EvalPoint,
    EvaluationSpec,
    ResourceSpec,
    SpecError,
    SweepSpec,
    TrialPoint,
    kd_mode,
    kd_word,
)

__all__ = [
    "DatasetSpec", "DistillConfig", "EvalPoint", "EvaluationSpec", "ResourceSpec", "SpecError",
    "SweepSpec", "TrialPoint", "kd_mode", "kd_word", "load_spec", "load_spec_text", "name_problem",
    "parse_spec", "trial_keys",
]
