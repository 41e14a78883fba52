"""`raydd sweep submit FILE key.path=value ...`: overrides validated as the file is, recorded with
the stored sweep, and what `resume` runs."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from sweep_support import tiny_sweep, write_sweep

from raydd.cli.main import cli
from raydd.spec import SpecError, load_spec
from raydd.spec.overrides import parse_override
from raydd.sweep.layout import SweepPaths
from raydd.sweep.runner import load_stored_spec, store_spec, stored_overrides

SMALLER = ("distill.iterations=10", "grid.ipc=[1,2]")


def submit(*args):
    return CliRunner().invoke(cli, ["sweep", "submit", *args])


@pytest.fixture
def sweep_file(tmp_path):
    return str(write_sweep(tmp_path, tiny_sweep("over", str(tmp_path / "runs"))))


@pytest.fixture
def no_ray(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray started"))


def overridden(path, *texts):
    return load_spec(path, data="skip", overrides=[parse_override(t) for t in texts])


def test_overrides_change_what_the_dry_run_counts(sweep_file):
    plain = json.loads(submit(sweep_file, "--dry-run", "--json").stdout)
    result = submit(sweep_file, *SMALLER, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (plain["trial_count"], doc["trial_count"]) == (2, 4)
    assert [t["axes"]["ipc"] for t in doc["trials"]] == [1, 1, 2, 2]
    assert doc["overrides"] == list(SMALLER) and plain["overrides"] == []
    assert doc["estimate"]["core_seconds"] > plain["estimate"]["core_seconds"]  # 10 iterations, not 4
    assert "overrides: distill.iterations=10 grid.ipc=[1,2]" in submit(sweep_file, *SMALLER, "--dry-run").output
    spec = overridden(sweep_file, *SMALLER)
    assert {p.config.iterations for p in spec.points} == {10}
    assert spec.source["distill"]["iterations"] == 10 and spec.source["grid"]["ipc"] == [1, 2]


def test_a_later_override_of_the_same_setting_wins_and_a_missing_section_is_made(tmp_path):
    raw = tiny_sweep("over", str(tmp_path / "runs"))
    del raw["distill"]
    path = write_sweep(tmp_path, raw)
    spec = overridden(path, "distill.iterations=3", "distill.iterations=5", "distill.method=dc")
    assert spec.points[0].config.iterations == 5 and spec.source["distill"] == {"iterations": 5, "method": "dc"}


@pytest.mark.parametrize("text, why", [
    ("distill.iterations", "override 'distill.iterations' has no '=': write key.path=value"),
    ("=3", "override '=3' has no key path before '='"),
    ("distill..iterations=3", "override 'distill..iterations=3' has an empty key in its key path"),
    ("distill.=3", "override 'distill.=3' has an empty key in its key path"),
])
def test_an_override_that_is_not_key_path_equals_value_is_one_line_before_ray(tmp_path, sweep_file, no_ray,
                                                                              text, why):
    for dry_run in ([], ["--dry-run"]):
        result = submit(sweep_file, text, *dry_run)
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
        assert why in result.output and result.output.startswith("Error: ")
    assert not (tmp_path / "runs").exists()


def test_a_bad_value_gets_the_files_problem_naming_the_override(tmp_path, sweep_file, no_ray):
    in_file = tiny_sweep("over", str(tmp_path / "runs"))
    in_file["distill"]["iterations"] = "abc"
    in_file["distill"]["iterationz"] = 3
    (tmp_path / "bad").mkdir()
    from_file = submit(str(write_sweep(tmp_path / "bad", in_file)))
    result = submit(sweep_file, "distill.iterations=abc", "distill.iterationz=3")
    assert result.exit_code == from_file.exit_code == 2, result.output
    labels = {"distill.iterations": "distill.iterations=abc", "distill.iterationz": "distill.iterationz=3"}
    expected = []
    for line in from_file.output.splitlines()[1:]:  # `  - place: message (line N)`, in the file's order
        problem = line.rsplit(" (line ", 1)[0]
        expected.append(f"{problem} (override {labels[problem.split()[1].rstrip(':')]})")
    assert result.output.splitlines() == [f"{sweep_file}: 2 problem(s):", *expected]
    assert "distill.iterationz: unknown setting; did you mean iterations?" in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("text, problem", [
    ("grid.ipc=[1,", "grid.ipc: the value cannot be read: line 1, column 4: invalid YAML"),
    ("grid.ipc=[0, 1]", "grid.ipc[0]: must be an integer >= 1, got 0"),
    ("dataset.name.x=1", "dataset.name.x: dataset.name is 'digits', not a mapping of settings"),
    ("distill.lr_img=&a [*a]", "distill.lr_img: the value cannot be read: line 1: an alias refers to a value"),
    ("grid.pool={a: 1, a: 2}", "grid.pool.a: is given again at line 1"),
])
def test_a_value_is_read_as_the_file_is(sweep_file, text, problem):
    with pytest.raises(SpecError) as error:
        overridden(sweep_file, text)
    assert any(p.startswith(problem) and p.endswith(f"(override {text})") for p in error.value.problems), \
        error.value.problems


def test_a_value_is_never_evaluated(sweep_file, tmp_path):
    marker = tmp_path / "evaluated"
    text = f"name=!!python/object/apply:os.system ['touch {marker}']"
    with pytest.raises(SpecError, match="could not determine a constructor"):
        overridden(sweep_file, text)
    assert not marker.exists()


def test_the_stored_sweep_is_the_effective_one_and_records_its_overrides(sweep_file):
    spec = overridden(sweep_file, *SMALLER)
    paths = SweepPaths.of(spec.storage, spec.name)
    store_spec(spec, paths)
    assert stored_overrides(paths) == list(SMALLER)
    stored = yaml.safe_load(open(paths.spec))
    assert stored["distill"]["iterations"] == 10 and stored["grid"]["ipc"] == [1, 2]
    resumed = load_stored_spec(spec.name, spec.storage, data="skip")
    assert len(resumed.points) == 4 and {p.config.iterations for p in resumed.points} == {10}
    assert resumed.experiment_hash() == spec.experiment_hash()
    shown = CliRunner().invoke(cli, ["sweep", "status", sweep_file, "--json"])
    assert json.loads(shown.stdout)["overrides"] == list(SMALLER)
    text = CliRunner().invoke(cli, ["sweep", "status", sweep_file]).output
    assert "submitted with overrides: distill.iterations=10 grid.ipc=[1,2]" in text.splitlines()
    store_spec(load_spec(sweep_file, data="skip"), paths)  # a later submit without overrides
    assert stored_overrides(paths) == []


def test_submit_runs_and_resume_reruns_the_overridden_sweep(sweep_file, monkeypatch):
    from raydd.sweep import runner

    monkeypatch.setenv("TUNE_DISABLE_SIGINT_HANDLER", "0")  # restored after: the driver sets it
    ran = []

    def recorded_run(spec, *, resume, echo, start_ray):  # the run itself is tests/test_sweep_run.py's
        ran.append((spec, resume))
        if not resume:
            store_spec(spec, SweepPaths.of(spec.storage, spec.name))
        raise SystemExit(0)

    monkeypatch.setattr(runner, "run_sweep", recorded_run)
    assert submit(sweep_file, *SMALLER).exit_code == 0
    assert CliRunner().invoke(cli, ["sweep", "resume", sweep_file]).exit_code == 0
    (submitted, _), (resumed, resume) = ran
    assert submitted.overrides == SMALLER and resume is True
    for spec in (submitted, resumed):
        assert len(spec.points) == 4 and {p.config.iterations for p in spec.points} == {10}


def test_a_ray_job_gets_the_overrides(tmp_path, sweep_file, monkeypatch):
    from raydd.sweep import jobs

    monkeypatch.chdir(tmp_path)
    sent = []
    monkeypatch.setattr(jobs, "submit_job", lambda args, address, **kw: sent.append(args) or "job-1")
    result = submit(sweep_file, *SMALLER, "--address", "http://head:8265")
    assert result.exit_code == 0, result.output
    assert sent == [["submit", "over.yaml", *SMALLER, "--storage", str(tmp_path / "runs")]]


def test_a_damaged_overrides_record_is_one_line_naming_it(sweep_file):
    spec = overridden(sweep_file, *SMALLER)
    paths = SweepPaths.of(spec.storage, spec.name)
    store_spec(spec, paths)
    for damaged in ("{not json", '{"overrides": 3}', '["distill.iterations=10"]'):
        with open(paths.overrides, "w") as record:
            record.write(damaged)
        for as_json in ([], ["--json"]):
            result = CliRunner().invoke(cli, ["sweep", "status", sweep_file, *as_json])
            assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
            assert f"{paths.overrides} is not a record of overrides" in result.output and result.stdout == ""


def test_a_long_override_is_named_cut_short(sweep_file):
    text = "distill.lr_img=" + "[" * 3000 + "]" * 3000
    with pytest.raises(SpecError) as error:
        overridden(sweep_file, text)
    (problem,) = error.value.problems
    assert problem.startswith("distill.lr_img: the value cannot be read: nested too deeply")
    assert problem.endswith(f"(override {text[:57]}...)") and len(problem) < 200
