"""`raydd sweep submit SPEC --dry-run`: validated as submit validates, counted as the driver counts,
and nothing started or written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.spec import load_spec
from raydd.sweep import costs
from raydd.sweep.dry_run import plan, sweep_jobs
from raydd.sweep.evaluation import all_jobs
from sweep_support import tiny_sweep, write_sweep

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_GRIDS = ["quickstart.yaml", "fashion_mnist_standard.yaml", "fashion_mnist_cpu.yaml", "fashion_mnist_mtt.yaml"]


def submit(*args):
    return CliRunner().invoke(cli, ["sweep", "submit", *args])


@pytest.mark.parametrize("name", SHIPPED_GRIDS)
def test_the_counts_are_the_drivers(name):
    spec = load_spec(ROOT / "sweeps" / name, data="skip")
    planned = plan(spec, cores=2)
    assert planned.trial_count == len(spec.points)
    assert planned.job_count == len(all_jobs(spec))  # the driver's own list of jobs
    assert sum(g.jobs for g in planned.groups) == len(all_jobs(spec))


def test_the_standard_study_counts_its_baselines_and_whole_split_apart():
    planned = plan(load_spec(ROOT / "sweeps" / "fashion_mnist_standard.yaml", data="skip"), cores=2)
    groups = {g.kind: (g.sets, g.students, g.kd_modes, g.seeds, g.jobs) for g in planned.groups}
    assert groups == {"distilled": (6, 6, 2, 3, 216), "random_real": (3, 6, 2, 3, 108), "whole_dataset": (1, 6, 1, 1, 6)}


def test_the_estimate_agrees_with_the_studys_own_arithmetic():
    # The size comment of the study adds its measured pieces to 34,400 core-seconds (teachers ~80).
    planned = plan(load_spec(ROOT / "sweeps" / "fashion_mnist_standard.yaml", data="skip"), cores=2)
    assert planned.estimate.not_measured == ()
    assert 34_300 < planned.estimate.core_seconds < 34_600
    assert planned.estimate.seconds == planned.estimate.core_seconds / 2


def test_the_mtt_studys_estimate_agrees_with_its_size_section():
    # Its size section adds experts 2,474, distillation 2,087 and the students 22,572 (+ teachers).
    planned = plan(load_spec(ROOT / "sweeps" / "fashion_mnist_mtt.yaml", data="skip"), cores=2)
    assert planned.estimate.not_measured == ()
    assert planned.experts.train_seconds == pytest.approx(5 * 3 * (30.1 + 70.8 + 64.0))
    assert 27_100 < planned.estimate.core_seconds < 27_400


def test_mtt_costs_scale_with_steps_and_draws_and_guess_nothing_else():
    from raydd.core.experts import ExpertSettings
    from raydd.core.pool import PoolSpec

    alone = PoolSpec.single("ConvNetW32")
    pool = PoolSpec.main_share("ConvNetW32", ["ConvNetW64", "ConvNetD1"], 0.9)
    base = costs.mtt_seconds(alone, 50, 10, 100, 28)
    assert base == pytest.approx(111.3) and costs.mtt_seconds(alone, 25, 10, 100, 28) == pytest.approx(base / 2)
    assert costs.mtt_seconds(pool, 50, 10, 1, 28) == pytest.approx(0.9 * 1.113 + 0.05 * 2.411 + 0.05 * 1.670)
    assert costs.mtt_seconds(alone, 50, 100, 100, 28) is None  # ipc 10's steps: not measured
    assert costs.mtt_seconds(PoolSpec.single("MLP"), 50, 10, 100, 28) is None
    assert costs.expert_seconds("ConvNetW32", ExpertSettings(epochs=3), 27_000, 28) == pytest.approx(3 * 30.1 / 2)
    assert costs.expert_seconds("ConvNetW32", ExpertSettings(augment="none"), 54_000, 28) is None
    assert costs.expert_seconds("MLP", ExpertSettings(), 54_000, 28) is None


def test_costs_scale_with_pixels_iterations_and_epochs():
    base = costs.distill_seconds("dc", ("ConvNetW32",), 100, 28)
    assert costs.distill_seconds("dc", ("ConvNetW32",), 200, 28) == pytest.approx(2 * base)
    assert costs.distill_seconds("dc", ("ConvNetW32",), 100, 56) == pytest.approx(4 * base)
    assert costs.distill_seconds("dm", ("ConvNetW32",), 100, 28) is None  # not measured: not guessed
    assert costs.student_seconds("NoSuchNet", 10, 10, 28, whole=False) is None
    measured = costs.student_seconds("ResNet18", costs.SET_EPOCHS, costs.SET_IMAGES, 28, whole=False)
    assert measured == pytest.approx(costs.STUDENT_TRAIN_S["ResNet18"] + costs.STUDENT_MEASURE_S["ResNet18"])


def test_a_search_counts_every_sampled_trial():
    spec = load_spec(ROOT / "sweeps" / "quickstart_search.yaml", data="skip")
    planned = plan(spec, cores=2)
    assert planned.trial_count == len(spec.points) * spec.search.num_samples
    assert planned.job_count == len(sweep_jobs(spec)) == len(all_jobs(spec)) * spec.search.num_samples
    assert any("probe" in part for part in planned.estimate.not_measured)


def test_the_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    storage = tmp_path / "store"
    spec_path = write_sweep(tmp_path, tiny_sweep("dry", str(storage)))
    result = submit(str(spec_path), "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "trials: 2" and lines[2].split()[1:] == ["ipc=1", "seed=0", "pool=ConvNetW32=1.0"]
    assert "evaluation jobs: 4" in lines and "  distilled      2 sets x 1 students x 2 KD modes x 1 seeds = 4" in lines
    assert "resources: per trial 1 CPU, 0 GPU; evaluators 2 x (0.5 CPU, 0 GPU); max concurrent trials: no limit" in lines
    assert lines[-1].startswith("estimated wall time ~0 h ")
    assert "(from costs measured on a 2-core AMD EPYC CPU; an estimate)" in lines[-1]
    assert not storage.exists()


def test_the_dry_run_leaves_an_existing_storage_as_it_was(tmp_path):
    storage = tmp_path / "store"
    (storage / "dry").mkdir(parents=True)
    (storage / "dry" / "note.txt").write_text("mine")
    before = sorted(p.relative_to(storage) for p in storage.rglob("*"))
    result = submit(str(write_sweep(tmp_path, tiny_sweep("dry", str(storage)))), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(storage) for p in storage.rglob("*")) == before


def test_json_is_the_same_plan_as_one_object(tmp_path):
    spec_path = str(write_sweep(tmp_path, tiny_sweep("dry", str(tmp_path / "store"))))
    doc = json.loads(submit(spec_path, "--dry-run", "--json").output)
    text = submit(spec_path, "--dry-run").output.splitlines()
    assert doc["trial_count"] == 2 and doc["evaluation_jobs"] == 4 and len(doc["trials"]) == 2
    assert doc["resources"]["evaluators"] == 2 and doc["estimate"]["text"] == text[-1]
    assert doc["job_groups"] == [{"kind": "distilled", "sets": 2, "settings": 1, "students": 1, "kd_modes": 2,
                                  "seeds": 1, "jobs": 4}]


def test_json_without_dry_run_is_refused(tmp_path):
    result = submit(str(write_sweep(tmp_path, tiny_sweep("dry", str(tmp_path / "store")))), "--json")
    assert result.exit_code == 2 and "--json goes with --dry-run" in result.output


def test_a_bad_file_gives_the_same_problems_as_submit(tmp_path, monkeypatch):
    import ray

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(ray, "init", no_ray)
    raw = tiny_sweep("bad", str(tmp_path / "runs"))
    raw["grid"]["ipc"] = [0]
    raw["evaluation"]["students"] = ["NoSuchNet"]
    spec_path = str(write_sweep(tmp_path, raw))
    dry, real = submit(spec_path, "--dry-run"), submit(spec_path)
    assert dry.exit_code == real.exit_code == 2
    assert dry.output == real.output and "2 problem(s)" in dry.output
    assert not (tmp_path / "runs").exists()


def test_ray_is_not_even_imported(tmp_path):
    spec_path = write_sweep(tmp_path, tiny_sweep("dry", str(tmp_path / "store")))
    program = ("import sys\nfrom raydd.cli.main import cli\n"
               f"cli(['sweep', 'submit', {str(spec_path)!r}, '--dry-run'], standalone_mode=False)\n"
               "print('ray imported' if 'ray' in sys.modules else 'no ray')\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "no ray"
    assert not (tmp_path / "store").exists()


def test_the_dry_run_lists_the_expert_stage_and_what_the_store_holds(tmp_path):
    from raydd.core.datasets import load_dataset
    from raydd.core.experts import ExpertStore
    from raydd.core.experts.catalog import ensure_all
    from raydd.sweep.experts_stage import needed_experts

    raw = tiny_sweep("mttdry", str(tmp_path / "runs"), seeds=(0,))
    raw["distill"] = {"method": "mtt", "iterations": 2, "syn_steps": 2, "expert_epochs": 1, "max_start_epoch": 1,
                      "num_experts": 2, "train_epochs": 1, "augment_teacher": "none"}
    raw["grid"] = {"pool": [{"archs": ["MLP"]}, {"archs": ["MLP", "ConvNetD1"]}]}
    spec = load_spec(write_sweep(tmp_path, raw))
    before = plan(spec, cores=2)
    assert (before.experts.needed, before.experts.stored, before.experts.to_train) == (4, 0, 4)
    assert f"experts: 4 for 2 MTT point(s), 0 stored already, 4 to train first (each as a trial's resources) " \
           f"in {tmp_path / 'runs' / 'experts'}" in before.lines()
    assert "training 4 expert(s)" in before.estimate.not_measured
    mlp = [identity for identity in needed_experts(spec) if identity.arch == "MLP"]
    ensure_all(ExpertStore(spec.experts_root), mlp, load_dataset("digits", val_size=0.1))
    after = plan(spec, cores=2)
    assert (after.experts.stored, after.experts.to_train) == (2, 2)
    assert "training 2 expert(s)" in after.estimate.not_measured
    assert after.as_dict()["experts"]["stored"] == 2


def test_a_sweep_without_mtt_points_has_no_expert_stage(tmp_path):
    planned = plan(load_spec(write_sweep(tmp_path, tiny_sweep("dcdry", str(tmp_path / "runs")))), cores=2)
    assert planned.experts is None and "experts" not in planned.as_dict()
    assert not any(line.startswith("experts:") for line in planned.lines())
    assert not (tmp_path / "runs").exists()
