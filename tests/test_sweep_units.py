"""The sweep layer's pieces that need no Ray: storage, jobs, idempotent rows, CLI guards."""

from __future__ import annotations

import json
import os
import signal

import pyarrow.fs as pafs
import pytest
from click.testing import CliRunner
from sweep_support import tiny_sweep, write_sweep

from raydd import storage
from raydd.sweep.layout import SweepPaths


def _s3_options(fs) -> dict:
    return fs.__reduce__()[1][0]


# ---- storage -----------------------------------------------------------------------------------
def test_local_locations_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fs, path = storage.filesystem_for("runs/x")
    assert isinstance(fs, pafs.LocalFileSystem) and path == str(tmp_path / "runs" / "x")
    assert storage.absolute("runs") == str(tmp_path / "runs")
    assert storage.absolute("s3://b/p") == "s3://b/p"


def test_s3_endpoint_comes_from_raydd_variable_before_the_aws_one(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://aws.example:443")
    monkeypatch.setenv("RAYDD_S3_ENDPOINT", "http://127.0.0.1:9000")
    fs, path = storage.filesystem_for("s3://bucket/prefix/")
    assert path == "bucket/prefix"
    options = _s3_options(fs)
    assert (options["endpoint_override"], options["scheme"]) == ("127.0.0.1:9000", "http")
    monkeypatch.delenv("RAYDD_S3_ENDPOINT")
    assert _s3_options(storage.filesystem_for("s3://bucket")[0])["endpoint_override"] == "aws.example:443"


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot open storage location 'nope://x'"):
        storage.filesystem_for("nope://x")


def test_storage_env_is_forwarded_without_overriding(monkeypatch):
    monkeypatch.setenv("RAYDD_S3_ENDPOINT", "http://driver:1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "driver-key")
    captured = storage.capture_storage_env()
    assert captured["RAYDD_S3_ENDPOINT"] == "http://driver:1"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "worker-key")
    monkeypatch.delenv("RAYDD_S3_ENDPOINT")
    storage.apply_storage_env(captured)
    assert os.environ["RAYDD_S3_ENDPOINT"] == "http://driver:1"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "worker-key"


def test_sweep_layout(tmp_path):
    paths = SweepPaths.of(str(tmp_path), "demo")
    assert paths.root == str(tmp_path / "demo")
    assert paths.spec.endswith("demo/spec.yaml") and paths.tune.endswith("demo/tune")
    assert paths.teacher("k", 3).endswith("demo/synsets/k/teachers/seed3.pt")
    assert paths.result_file("job").endswith("demo/results/job.parquet")
    s3 = SweepPaths.of("s3://b/runs", "demo")
    assert s3.synset("k") == "s3://b/runs/demo/synsets/k"


def test_atomic_write_leaves_no_temp_and_lists_visible_names(tmp_path):
    target = str(tmp_path / "d" / "f.txt")
    storage.write_text(target, "one")
    storage.write_text(target, "two")
    (tmp_path / "d" / ".hidden").write_text("x")
    assert storage.read_text(target) == "two"
    assert storage.list_names(str(tmp_path / "d")) == ["f.txt"]
    assert storage.list_names(str(tmp_path / "missing")) == []
    storage.delete(target)
    assert not storage.exists(target)


# ---- jobs and rows -----------------------------------------------------------------------------
@pytest.fixture
def tiny_spec(tmp_path):
    from raydd.spec import load_spec

    return load_spec(write_sweep(tmp_path, tiny_sweep("units", str(tmp_path / "runs"), students=("ConvNetW32", "MLP"))))


def test_jobs_cover_the_grid_once_kd_off_first(tiny_spec):
    from raydd.sweep.evaluation import all_jobs, jobs_for

    point = tiny_spec.points[0]
    jobs = jobs_for(point, tiny_spec.evaluation)
    assert len(jobs) == 2 * 2 * 1 and len({j.name for j in jobs}) == 4
    assert [j.kd for j in jobs] == [False, False, True, True]
    assert jobs[0].name == f"{point.trial_key}__ConvNetW32__kd-off__seed0" and jobs[0].point is point
    assert len({j.name for j in all_jobs(tiny_spec)}) == 8


def _context(spec):
    from raydd.sweep.context import SweepContext

    return SweepContext.of(spec, SweepPaths.of(spec.storage, spec.name))


def test_a_row_carries_its_own_point_and_the_sweeps_hash(tiny_spec):
    from raydd.core.evaluate import EvalRecord
    from raydd.results import load
    from raydd.sweep.evaluation import MISSING, EvalJob, job_state, job_states, record_rows, write_job_rows

    context = _context(tiny_spec)
    paths = context.paths
    point = tiny_spec.points[0]
    job = EvalJob(point, "MLP", True, 0, tiny_spec.evaluation.settings[0])
    record = EvalRecord("MLP", "ConvNetW32", True, 0.5, 2.0, 0, 0.4, 0.35, 1.5)
    target = paths.result_file(job.name)
    assert job_state(target, job) == MISSING
    write_job_rows(record_rows(record, job, context, {"wall_seconds": 3.0}, ("cpu", "127.0.0.1")), target, MISSING, paths)
    assert job_state(target, job) is None
    df = load(paths.results)
    assert len(df) == 1 and df["test_acc"].iloc[0] == 0.35
    assert (df["trial_key"].iloc[0], df["distill_seconds"].iloc[0], df["pool_name"].iloc[0]) == (
        point.trial_key, 3.0, "ConvNetW32=1.0")
    recipe = json.loads(df["config_json"].iloc[0])
    own = {"sweep_hash": tiny_spec.experiment_hash(), "trial_key": point.trial_key, "axes": point.axes,
           "dataset": {"name": "digits", "data_dir": None, "download": False, "val_size": 0.1},
           "distill": point.config.to_dict(), "evaluation": tiny_spec.evaluation.config.to_dict()}
    assert recipe == json.loads(json.dumps(own))
    assert "points" not in df["config_json"].iloc[0]  # not the whole sweep: that is spec.yaml's
    assert [name for name, state in job_states([job], paths).items() if state is None] == [job.name]


@pytest.fixture
def worker(tiny_spec, monkeypatch):
    """An evaluation actor's object, run in this process, with a random real set as the point's set."""
    from raydd.core.artifact import SyntheticSet, build_meta
    from raydd.core.evaluate import random_real
    from raydd.sweep import artifacts, evaluation

    monkeypatch.setattr(evaluation, "worker_device", lambda: "cpu")
    context = _context(tiny_spec)
    worker = evaluation.EvaluationWorker(context)
    point = tiny_spec.points[0]
    images, labels = random_real(worker.data, 1, seed=0)
    meta = build_meta(point.config, worker.data.info, 0, 0.0, val_size=0.1, split_seed=0)
    artifacts.save_synset_to(SyntheticSet(images, labels, meta), context.paths.synset(point.trial_key))
    return worker


def test_an_evaluation_job_looks_at_its_file_once_and_its_teacher_is_read_once(tiny_spec, worker, monkeypatch):
    from raydd.sweep import evaluation

    looked, read = [], []
    exists, read_bytes = storage.exists, storage.read_bytes
    monkeypatch.setattr(storage, "exists", lambda loc: looked.append(loc) or exists(loc))
    monkeypatch.setattr(storage, "read_bytes", lambda loc: read.append(loc) or read_bytes(loc))
    jobs = [j for j in evaluation.jobs_for(tiny_spec.points[0], tiny_spec.evaluation) if j.kd]
    worker.train_teachers(jobs[0].trial_key, [0], jobs[0].setting)
    looked.clear()
    assert [worker.evaluate_group([job]) for job in jobs] == [1, 1]
    assert [worker.evaluate_group([job]) for job in jobs] == [0, 0]  # a retried call finds its rows written
    files = [worker.context.paths.result_file(job.name) for job in jobs]
    assert looked == files + files  # once per call
    teacher = worker.context.paths.teacher(jobs[0].trial_key, 0)
    assert read.count(teacher) == 1  # the second KD job (and every later one) shares it


def test_seeds_go_to_one_call_where_stacking_pays_on_the_pools_device(tmp_path):
    from dataclasses import replace

    from raydd.spec import load_spec
    from raydd.sweep.evaluation import job_groups, jobs_for

    spec = load_spec(write_sweep(tmp_path, tiny_sweep("grouped", str(tmp_path / "runs"), students=("ConvNetW32", "MLP"))))
    spec = replace(spec, evaluation=replace(spec.evaluation, seeds=3))
    jobs = jobs_for(spec.points[0], spec.evaluation)
    on_cpu = job_groups(jobs, "cpu", 10)
    flat = [job for group in on_cpu for job in group]
    assert sorted(j.name for j in flat) == sorted(j.name for j in jobs) and len(flat) == len(jobs)
    assert [j.kd for j in flat] == sorted(j.kd for j in flat)  # KD-off first still: they need no teacher
    assert sorted(len(g) for g in on_cpu if g[0].student == "MLP") == [3, 3]  # MLP stacks on CPU
    assert all(len(g) == 1 for g in on_cpu if g[0].student == "ConvNetW32")  # conv nets do not
    for group in on_cpu:
        assert len({(j.trial_key, j.setting.eval_key, j.student, j.kd) for j in group}) == 1
        assert sorted(j.seed for j in group) == list(range(len(group))) or len(group) == 1
    assert sorted(len(g) for g in job_groups(jobs, "cuda", 10)) == [3, 3, 3, 3]  # every family on CUDA


def test_a_group_call_writes_each_jobs_rows_and_redoes_only_the_missing(tiny_spec, worker):
    from raydd.core.evaluate import evaluate_seeds
    from raydd.results import load
    from raydd.sweep import artifacts, evaluation

    setting = tiny_spec.evaluation.settings[0]
    jobs = [evaluation.EvalJob(tiny_spec.points[0], "MLP", False, seed, setting) for seed in (0, 1, 2)]
    assert worker.evaluate_group([jobs[1]]) == 1  # one seed done alone first
    alone = load(worker.context.paths.results)
    assert worker.evaluate_group(jobs) == 2 and worker.evaluate_group(jobs) == 0
    df = load(worker.context.paths.results)
    assert sorted(df["eval_seed"]) == [0, 1, 2] and len(df) == 3
    assert df[df["eval_seed"] == 1]["created_at"].tolist() == alone["created_at"].tolist()  # kept, not redone
    for job in jobs:
        assert evaluation.job_state(worker.context.paths.result_file(job.name), job) is None
    # the two stacked seeds got the accuracies their own trainings get (float rounding aside)
    synset = artifacts.load_synset_from(worker.context.paths.synset(jobs[0].trial_key))
    sequential = evaluate_seeds(synset.images, synset.labels, worker.data, "MLP", setting.config, [0, 2], "cpu",
                                stacked=False)
    stacked = df.set_index("eval_seed").loc[[0, 2], "test_acc"].tolist()
    assert stacked == pytest.approx([r.test_acc for r in sequential], abs=2 / len(worker.data.test))


def test_teachers_of_several_seeds_train_in_one_call_and_only_once(tiny_spec, worker, monkeypatch):
    import raydd.core.evaluate as core_evaluate

    calls = []
    train_teachers = core_evaluate.train_teachers
    monkeypatch.setattr(core_evaluate, "train_teachers",
                        lambda *a, **k: calls.append(list(a[4])) or train_teachers(*a, **k))  # a[4]: seeds
    setting = tiny_spec.evaluation.settings[0]
    key = tiny_spec.points[0].trial_key
    assert worker.train_teachers(key, [1], setting) == [worker.context.paths.teacher(key, 1)]
    locations = worker.train_teachers(key, [0, 1, 2], setting)
    assert locations == [worker.context.paths.teacher(key, seed) for seed in (0, 1, 2)]
    assert all(storage.exists(loc) for loc in locations)
    assert worker.train_teachers(key, [0, 1, 2], setting) == locations
    assert calls == [[1], [0, 2]]  # seed 1 was saved already; nothing is trained twice


def test_a_row_says_which_device_and_node_computed_it(tiny_spec, worker):
    import socket

    from raydd.results import load
    from raydd.sweep import evaluation

    job = next(j for j in evaluation.jobs_for(tiny_spec.points[0], tiny_spec.evaluation) if not j.kd)
    assert worker.evaluate_group([job]) == 1
    df = load(worker.context.paths.results)
    assert df["device"].tolist() == ["cpu"]  # CUDA absent here, whatever GPUs a cluster declares
    assert df["node"].tolist() == [socket.gethostname()]  # the host's name, as `raydd evaluate --out` writes it


def test_job_entry_needs_the_spec_under_the_working_dir(tmp_path):
    from raydd.sweep.jobs import job_runtime_env, spec_argument

    (tmp_path / "wd").mkdir()
    assert spec_argument(str(tmp_path / "wd" / "s.yaml"), str(tmp_path / "wd")) == "s.yaml"
    with pytest.raises(ValueError, match="outside"):
        spec_argument(str(tmp_path / "s.yaml"), str(tmp_path / "wd"))
    env = job_runtime_env(str(tmp_path / "working_dir.zip"))
    assert env["env_vars"]["RAY_JOB_STOP_SIGNAL"] == "SIGINT"
    assert env["working_dir"] == str(tmp_path / "working_dir.zip") and "excludes" not in env


# ---- stopping ----------------------------------------------------------------------------------
def test_stop_request_makes_the_watcher_raise_sigusr1(tiny_spec, monkeypatch):
    """SIGUSR1, which Tune handles as a resumable stop, as it does SIGINT; SIGINT (Ctrl-C) is left
    to `raydd sweep`'s own handler."""
    from raydd.sweep.callbacks import StopRequestWatcher
    from raydd.sweep.runner import request_stop, store_spec

    paths = SweepPaths.of(tiny_spec.storage, tiny_spec.name)
    store_spec(tiny_spec, paths)
    received = []
    previous = {signum: signal.signal(signum, lambda *a: received.append(a[0]))
                for signum in (signal.SIGINT, signal.SIGUSR1)}
    try:
        watcher = StopRequestWatcher(paths.stop_request, every_s=0.0)
        watcher.on_step_begin(0, [])
        assert received == []
        assert request_stop(tiny_spec.name, tiny_spec.storage) == paths.stop_request
        watcher.on_step_begin(1, [])
        watcher.on_step_begin(2, [])  # once only
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert received == [signal.SIGUSR1]


def test_stop_and_status_of_an_unknown_sweep_fail_clearly(tmp_path):
    from raydd.cli.sweep_cmd import sweep

    for command in ("stop", "status"):
        result = CliRunner().invoke(sweep, [command, "ghost", "--storage", str(tmp_path)])
        assert result.exit_code == 1
        assert "no sweep 'ghost'" in result.output


# ---- submit's guards ---------------------------------------------------------------------------
def test_submit_prints_every_problem_and_exits_2_before_ray(tmp_path, monkeypatch):
    import ray

    from raydd.cli.sweep_cmd import sweep

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started for an invalid sweep")

    monkeypatch.setattr(ray, "init", no_ray)
    raw = tiny_sweep("bad", str(tmp_path / "runs"))
    raw["grid"]["ipc"] = [0]
    raw["evaluation"]["students"] = ["NoSuchNet"]
    raw["resources"]["checkpoint_every"] = -1
    result = CliRunner().invoke(sweep, ["submit", str(write_sweep(tmp_path, raw))])
    assert result.exit_code == 2, result.output
    assert "3 problem(s)" in result.output
    for place in ("ipc", "NoSuchNet", "checkpoint_every"):
        assert place in result.output
    assert not (tmp_path / "runs").exists()


def test_a_local_sweep_with_compile_and_no_compiler_fails_before_ray(tmp_path, monkeypatch, broken_cpp_compiler):
    import ray

    from raydd.cli.sweep_cmd import sweep

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "init", lambda *a, **k: (_ for _ in ()).throw(AssertionError("Ray started")))
    raw = tiny_sweep("compiled", str(tmp_path / "runs"))
    raw["distill"]["compile"] = True
    result = CliRunner().invoke(sweep, ["submit", str(write_sweep(tmp_path, raw))])
    assert result.exit_code == 1, result.output
    assert "compile=True, but torch.compile cannot build kernels on cpu" in result.output
    assert not (tmp_path / "runs").exists()


def test_where_submit_runs(monkeypatch):
    from raydd.cli.sweep_cmd import _job_address

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert _job_address(None, False) is None
    assert _job_address("http://head:8265", False) == "http://head:8265"
    assert _job_address("http://head:8265", True) is None  # inside the job: drive it here
    monkeypatch.setenv("RAY_ADDRESS", "http://env:8265")
    assert _job_address(None, False) == "http://env:8265"
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # a GCS address: attach, no job
    assert _job_address(None, False) is None


def test_a_changed_experiment_under_an_existing_name_is_refused_before_ray(tmp_path, monkeypatch):
    import ray

    from raydd.cli.sweep_cmd import sweep
    from raydd.spec import load_spec
    from raydd.sweep.runner import check_same_experiment, store_spec

    runs = str(tmp_path / "runs")
    first = load_spec(write_sweep(tmp_path, tiny_sweep("same", runs)))
    paths = SweepPaths.of(first.storage, first.name)
    store_spec(first, paths)
    stored_text = (tmp_path / "runs" / "same" / "spec.yaml").read_text()

    more_evaluators = tiny_sweep("same", runs)
    more_evaluators["resources"]["evaluators"]["count"] = 1
    check_same_experiment(load_spec(write_sweep(tmp_path, more_evaluators)), paths)  # resources may change

    monkeypatch.setattr(ray, "init", lambda *a, **k: (_ for _ in ()).throw(AssertionError("Ray started")))
    changed = tiny_sweep("same", runs)
    changed["evaluation"]["epochs"] = 7
    result = CliRunner().invoke(sweep, ["submit", str(write_sweep(tmp_path, changed))])
    assert result.exit_code == 1, result.output
    assert "already exists" in result.output and "different experiment" in result.output
    assert (tmp_path / "runs" / "same" / "spec.yaml").read_text() == stored_text


def test_a_result_file_counts_only_when_it_holds_its_jobs_row(tiny_spec):
    from raydd.core.evaluate import EvalRecord
    from raydd.sweep.evaluation import MISSING, EvalJob, job_state, record_rows, write_job_rows

    context = _context(tiny_spec)
    paths = context.paths
    point = tiny_spec.points[0]
    setting = tiny_spec.evaluation.settings[0]
    mine, other = EvalJob(point, "MLP", False, 0, setting), EvalJob(point, "ConvNetW32", False, 0, setting)
    target = paths.result_file(mine.name)
    assert job_state(target, mine) == MISSING
    record = EvalRecord("ConvNetW32", None, False, None, None, 0, 0.4, 0.35, 1.5)
    write_job_rows(record_rows(record, other, context, {}, ("cpu", "127.0.0.1")), target, MISSING, paths)  # the wrong file name
    state = job_state(target, mine)
    assert state.startswith(f"not the result of job {mine.name}")
    right = EvalRecord("MLP", None, False, None, None, 0, 0.4, 0.35, 1.5)
    write_job_rows(record_rows(right, mine, context, {}, ("cpu", "127.0.0.1")), target, state, paths)
    assert job_state(target, mine) is None
    (kept,) = storage.list_names(paths.root + "/quarantine")  # the wrong file, moved aside
    assert kept.startswith(f"{mine.name}.parquet.")


def test_device_labels_name_the_gpu(monkeypatch):
    import torch

    from raydd.core.devices import device_label

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    assert device_label("cuda") == "cuda:NVIDIA H200" and device_label("cpu") == "cpu"


_UNRAISABLE = """
import weakref
from raydd.sweep.context import quiet_termination_in_callbacks

quiet_termination_in_callbacks()
quiet_termination_in_callbacks()  # a reused actor enters again: still one hook


class Thing:
    pass


def raise_{kind}(ref):
    raise {kind}({arg})


thing = Thing()
ref = weakref.ref(thing, raise_{kind})
del thing  # the callback runs here, where Python cannot raise
print("went on")
"""


@pytest.mark.parametrize("kind, arg, printed", [("SystemExit", 1, False), ("ValueError", "'a real bug'", True)])
def test_a_worker_ended_inside_a_callback_prints_no_traceback_but_other_errors_still_show(kind, arg, printed):
    """Ray ends a stopped trial's worker with SIGTERM, whose handler raises SystemExit; landing in a
    weakref callback, it was printed as a traceback on the user's console after Ctrl-C."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _UNRAISABLE.format(kind=kind, arg=arg)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "went on\n", done.stderr
    assert ("Traceback" in done.stderr) is printed, done.stderr
    assert ("a real bug" in done.stderr) is printed


def test_a_trial_that_never_started_is_left_out_of_the_outcomes_not_a_crash(tiny_spec):
    """Stopped while a trial was still pending, Tune hands back a result with no config for it
    (nothing of it was stored); the driver crashed on it with a TypeError after `raydd sweep stop`."""
    from types import SimpleNamespace

    from raydd.sweep.context import SweepContext
    from raydd.sweep.runner import _searched_points, _trial_outcomes

    started = SimpleNamespace(config={"point": {"trial_key": "ipc1-seed0"}}, metrics={"loss": 0.5}, error=None)
    failed = SimpleNamespace(config={"point": {"trial_key": "ipc1-seed1"}}, metrics=None, error=ValueError("bad"))
    pending = SimpleNamespace(config=None, metrics=None, error=None)
    metrics, errors = _trial_outcomes([started, failed, pending])
    assert metrics == {"ipc1-seed0": {"loss": 0.5}, "ipc1-seed1": {}}
    assert errors == {"ipc1-seed1": "ValueError: bad"}
    context = SweepContext.of(tiny_spec, SweepPaths.of(tiny_spec.storage, tiny_spec.name))
    assert _searched_points([started, pending], context) == []  # no searched trial among them


def test_tunes_warning_about_a_trial_that_never_reported_stays_out_of_status():
    import logging

    import raydd.sweep.runner  # noqa: F401 (installs the filter)

    class Kept(logging.Handler):  # its own handler: whether Ray's loggers propagate varies by session
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger, kept = logging.getLogger("ray.tune.analysis.experiment_analysis"), Kept()
    logger.addHandler(kept)
    try:
        logger.warning("Failed to fetch metrics for 1 trial(s):\n- ipc1-seed2: FileNotFoundError('...')")
        logger.warning("another warning of Tune's")
    finally:
        logger.removeHandler(kept)
    assert kept.messages == ["another warning of Tune's"]
