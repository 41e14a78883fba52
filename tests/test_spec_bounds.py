"""Validating any sweep file stays within a small, stated memory and time bound
(docs/sweep-format.md): alias bombs, recursive aliases, deep nesting, huge files, absurd sizes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from raydd.spec import SpecError, load_spec
from raydd.spec.load import MAX_FILE_BYTES, MAX_VALUES

HEAD = "name: bomb\ndataset: digits\nevaluation: {students: [MLP]}\n"
# What validating a hostile file may cost, at most (the bound docs/sweep-format.md states).
PEAK_BYTES = 10 * 1024**2
SECONDS = 5.0


def alias_bomb(levels: int = 8) -> str:
    """Eight levels of ten-fold aliases under grid.seed: 10^9 values once expanded, ~1.3 KB."""
    lines = [HEAD + "grid:", "  seed:", "    - &level_zero [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]"]
    names = ["level_zero"] + [f"level_{n}" for n in range(1, levels + 1)]
    for before, name in zip(names, names[1:]):
        lines.append(f"    - &{name} [" + ", ".join([f"*{before}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def merge_key_bomb(levels: int = 8) -> str:
    """The same growth through YAML merge keys, which PyYAML expands while building mappings."""
    lines = [HEAD + "defs:", "  m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*m{level - 1}"] * 10)
        lines.append(f"  m{level}: &m{level} {{<<: [{refs}], k{level}: 0}}")
    return "\n".join(lines) + "\n"


MEASURE = """
import json, resource, sys, time, tracemalloc
from raydd.core.datasets import class_sizes
from raydd.spec import SpecError, load_spec
# Validation reads the dataset's class sizes once per process, whatever the file holds (a fixed
# cost of the dataset, stated in docs/sweep-format.md): read before measuring what the file costs.
class_sizes("digits")
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
start = time.perf_counter()
try:
    load_spec(sys.argv[1])
    problems = []
except SpecError as err:
    problems = err.problems
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"problems": problems, "seconds": seconds, "peak_bytes": peak,
                  "rss_growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss}))
"""


def measure(path) -> dict:
    """Validate `path` in a fresh process (a failed bound must not take the test run down)."""
    run = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("make", [alias_bomb, merge_key_bomb], ids=["aliases", "merge-keys"])
def test_a_yaml_bomb_is_refused_within_the_memory_and_time_bound(tmp_path, make):
    path = tmp_path / "bomb.yaml"
    path.write_text(make())
    assert path.stat().st_size < 1500
    got = measure(path)
    assert len(got["problems"]) == 1 and f"more than {MAX_VALUES} values" in got["problems"][0]
    assert got["peak_bytes"] < PEAK_BYTES, got
    assert got["seconds"] < SECONDS, got
    assert got["rss_growth_kib"] < PEAK_BYTES // 1024, got


def test_the_submit_command_refuses_a_bomb_before_ray(tmp_path, monkeypatch):
    import ray

    from raydd.cli.main import cli

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started for a refused file"))
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    result = CliRunner().invoke(cli, ["sweep", "submit", str(path)])
    assert result.exit_code == 2 and "more than 10000 values" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("text, expected", [
    (HEAD + "grid:\n  seed: &a [1, *a]\n", "an alias refers to a value that contains it"),
    (HEAD + "grid:\n  seed: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    (HEAD + "grid:\n  seed: [" + ", ".join(["1"] * (MAX_VALUES + 1)) + "]\n", f"more than {MAX_VALUES} values"),
    (HEAD + "grid: {ipc: [1, 100000000]}\n", "grid.ipc[1]: 100000000 images per class of digits make a 2921 GiB"),
    (HEAD + "distill: {ipc: 10000000}\n", "distill.ipc: 10000000 images per class"),
])
def test_hostile_or_absurd_files_get_one_problem_each(tmp_path, text, expected):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert any(expected in p for p in caught.value.problems), caught.value.problems


def test_a_huge_or_binary_file_is_refused_before_parsing(tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text(HEAD + "#" * MAX_FILE_BYTES)
    with pytest.raises(SpecError, match=f"may hold at most {MAX_FILE_BYTES}"):
        load_spec(huge)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: x\n\xff\xfe\x00")
    with pytest.raises(SpecError, match="not UTF-8 text"):
        load_spec(binary)


def test_anchors_of_a_normal_size_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text(HEAD.replace("{students: [MLP]}", "{students: &s [MLP]}") +
                    "grid:\n  seed: &seeds [0, 1]\n  ipc: [1]\ndistill: {iterations: 2}\n")
    spec = load_spec(path)
    assert len(spec.points) == 2 and spec.evaluation.students == ("MLP",)


def test_the_largest_legitimate_file_stays_within_the_memory_bound(tmp_path):
    """MAX_VALUES values, all of them grid points: the most a file can ask validation to do."""
    path = tmp_path / "largest.yaml"
    seeds = ", ".join(str(s) for s in range(MAX_VALUES - 20))
    path.write_text(HEAD.replace("bomb", "largest") + f"grid:\n  seed: [{seeds}]\n")
    got = measure(path)
    assert got["problems"] == []
    assert got["peak_bytes"] < 32 * 1024**2, got
