"""`raydd evaluate` and a sweep's `evaluation:` section fall back on one set of defaults
(raydd.eval_defaults): the same students, KD settings and seeds when none are given."""

from __future__ import annotations

from raydd.cli.evaluate_cmd import _kd_modes, _split, evaluate
from raydd.eval_defaults import EVAL_DEFAULTS
from raydd.spec import parse_spec


def evaluate_defaults() -> tuple[tuple[str, ...], tuple[bool, ...], int]:
    """(students, KD modes, seeds) that `raydd evaluate` runs with no option given, read as it reads them."""
    params = evaluate.make_context("evaluate", []).params
    return tuple(_split(params["students"], "student")), _kd_modes(params["kd_text"]), params["seeds"]


def sweep_defaults(evaluation: dict) -> tuple[tuple[str, ...], tuple[bool, ...], int]:
    spec = parse_spec({"name": "defaults", "dataset": "digits", "evaluation": evaluation})
    return spec.evaluation.students, spec.evaluation.kd_modes, spec.evaluation.seeds


def test_evaluate_and_an_empty_evaluation_section_use_the_same_defaults():
    expected = (EVAL_DEFAULTS.students, EVAL_DEFAULTS.kd_modes, EVAL_DEFAULTS.seeds)
    assert evaluate_defaults() == sweep_defaults({}) == expected


def test_the_defaults_are_the_papers_protocol():
    assert EVAL_DEFAULTS.students == ("ConvNet", "MLP", "LeNet", "AlexNet", "VGG11", "ResNet18")
    assert EVAL_DEFAULTS.kd_modes == (False, True) and EVAL_DEFAULTS.seeds == 5


def test_a_sweep_sets_only_what_it_names():
    students, kd_modes, seeds = sweep_defaults({"students": ["MLP"], "epochs": 3})
    assert (students, kd_modes, seeds) == (("MLP",), EVAL_DEFAULTS.kd_modes, EVAL_DEFAULTS.seeds)
    assert sweep_defaults({"kd": ["off"], "seeds": 1})[1:] == ((False,), 1)
