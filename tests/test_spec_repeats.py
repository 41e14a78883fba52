"""A key given twice in a sweep file (PyYAML keeps the last value silently) and a distillation of
zero iterations (a set that was never distilled): refused with their places, before Ray."""

from __future__ import annotations

import json
import re

import pytest
import ray
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.core.artifact import ArtifactError, load_synset, save_synset
from raydd.spec import SpecError, load_spec, parse_spec
from sweep_support import tiny_sweep, write_sweep
from test_artifact import make_synset

REPEATED = """\
name: twice
dataset: digits
distill:
  method: dc
  iterations: 5
  batch_real: 16
  iterations: 50
grid:
  ipc: [1]
  pool:
    - {archs: [ConvNetW32], probabilities: [1.0], archs: [MLP]}
evaluation:
  students: [MLP]
  epochs: 5
  students: [LeNet]
name: again
"""


def _problems(path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value.problems


def test_a_key_given_twice_at_any_depth_is_a_problem_with_both_lines(tmp_path, monkeypatch):
    path = tmp_path / "twice.yaml"
    path.write_text(REPEATED)
    assert _problems(path) == [
        "distill.iterations: is given again at line 7 (YAML would keep the last silently); give it once (line 5)",
        "grid.pool[0].archs: is given again at line 11 (YAML would keep the last silently); give it once (line 11)",
        "evaluation.students: is given again at line 15 (YAML would keep the last silently); give it once (line 13)",
        "name: is given again at line 16 (YAML would keep the last silently); give it once (line 1)",
    ]
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started for a refused file"))
    result = CliRunner().invoke(cli, ["sweep", "submit", str(path)])
    assert result.exit_code == 2 and "4 problem(s)" in result.output and "Traceback" not in result.output


def test_a_merge_key_overridden_on_purpose_is_not_a_repeat(tmp_path):
    merged = tmp_path / "merged.yaml"
    merged.write_text("name: merged\ndataset: digits\nevaluation: {students: [MLP]}\n"
                      "distill:\n  <<: {iterations: 9, batch_real: 16}\n  iterations: 2\n")
    assert load_spec(merged).points[0].config.iterations == 2


@pytest.mark.parametrize("where, place", [("distill", "distill.iterations"), ("grid", "grid.iterations[0]"),
                                          ("search", "search.space.iterations.choice[0]")])
def test_zero_iterations_are_refused_with_their_place(tmp_path, where, place):
    raw = tiny_sweep("zero", str(tmp_path / "runs"))
    if where == "grid":
        del raw["distill"]["iterations"]
        raw["grid"]["iterations"] = [0, 5]
    elif where == "search":
        del raw["distill"]["iterations"]
        raw["probe"] = {"students": ["MLP"], "epochs": 2}
        raw["search"] = {"num_samples": 2, "space": {"iterations": {"choice": [0, 5]}}}
    else:
        raw["distill"]["iterations"] = 0
    [problem] = _problems(write_sweep(tmp_path, raw))
    assert re.fullmatch(rf"{re.escape(place)}: must be at least 1 \(a set of 0 iterations was never distilled\), "
                        r"got 0 \(line \d+\)", problem), problem


def test_distill_with_zero_iterations_is_refused_and_writes_nothing(tmp_path):
    result = CliRunner().invoke(cli, ["distill", "--iterations", "0", "--out", str(tmp_path / "never")])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "'--iterations': 0 is not in the range x>=1" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_searched_ipc_above_the_smallest_class_is_a_problem_with_its_place(tmp_path):
    """The one rule of raydd.core.datasets.class_sizes reaches the values a search may sample."""
    raw = tiny_sweep("searched", str(tmp_path / "runs"))
    del raw["grid"]["ipc"]
    raw["probe"] = {"students": ["MLP"], "epochs": 2}
    raw["search"] = {"num_samples": 2, "space": {"ipc": {"randint": [1, 127]}}}  # 126 may be sampled
    problems = _problems(write_sweep(tmp_path, raw))
    assert len(problems) == 1 and problems[0].startswith(
        "search.space.ipc.randint[1]: 126 is more than the 125 training images of digits's smallest class")
    raw["search"]["space"]["ipc"] = {"randint": [1, 126]}  # hi excluded: at most 125, which fits
    assert parse_spec(raw).search.space[0][0] == "ipc"


def test_a_meta_json_with_a_key_given_twice_is_refused_naming_it(tmp_path):
    directory = save_synset(make_synset(), tmp_path / "set")
    text = (directory / "meta.json").read_text()
    meta = json.loads(text)
    (directory / "meta.json").write_text(text.rstrip().rstrip("}") + f', "ipc": {meta["ipc"] + 1}}}')
    with pytest.raises(ArtifactError, match="key 'ipc' appears twice in one object"):
        load_synset(directory)


def test_a_student_named_twice_is_refused_before_the_dataset_loads(monkeypatch):
    """`--students MLP,MLP` trained MLP twice and reported n=2 for one seed."""
    import raydd.core.datasets as datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("the dataset was loaded"))
    result = CliRunner().invoke(cli, ["evaluate", "--random-real", "1", "--students", "MLP,LeNet,MLP",
                                      "--epochs", "1"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "student 'MLP' is given twice; name each once" in result.output
