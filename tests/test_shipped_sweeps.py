"""Every sweep in sweeps/ parses cleanly, and each one is the experiment its comments promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from raydd.core.pool import PoolSpec
from raydd.spec import load_spec

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
PAPER_STUDENTS = ("ConvNet", "MLP", "LeNet", "AlexNet", "VGG11", "ResNet18")


def test_sweeps_are_shipped() -> None:
    names = {p.name for p in SWEEPS.glob("*.yaml")}
    assert {"quickstart.yaml", "quickstart_search.yaml", "cifar10_table4.yaml", "cifar10_pool_settings.yaml"} <= names


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_parses_without_problems(path: Path) -> None:
    spec = load_spec(path)  # raises SpecError listing any problem
    assert spec.name == path.stem and spec.points
    assert len({p.trial_key for p in spec.points}) == len(spec.points)


def test_quickstart_is_the_small_cpu_ablation() -> None:
    spec = load_spec(SWEEPS / "quickstart.yaml")
    assert spec.dataset.name == "digits" and spec.storage == "./runs"
    assert spec.resources.trial_gpu == 0 and spec.resources.evaluator_gpu == 0
    assert sorted({p.config.ipc for p in spec.points}) == [1, 10]
    pools = {p.config.pool for p in spec.points}
    assert len(pools) == 2 and any(len(pool.archs) == 1 for pool in pools)
    mixed = next(pool for pool in pools if len(pool.archs) > 1)
    assert mixed.probs[0] == pytest.approx(0.9) and sum(mixed.probs[1:]) == pytest.approx(0.1)
    assert all(a.startswith("ConvNet") for a in mixed.archs)
    assert spec.evaluation.kd_modes == (False, True) and spec.evaluation.seeds == 2
    assert len(spec.evaluation.students) == 3 and "MLP" in spec.evaluation.students
    assert all(p.config.iterations <= 100 for p in spec.points)  # the 5-minute CPU budget


def test_table4_has_the_eight_settings_of_the_paper() -> None:
    spec = load_spec(SWEEPS / "cifar10_table4.yaml")
    assert spec.dataset.name == "cifar10" and spec.storage.startswith("s3://")
    assert spec.evaluation.students == PAPER_STUDENTS and spec.evaluation.teacher == "ConvNet"
    assert all(p.config.method == "dc" and p.config.iterations == 1000 for p in spec.points)
    baseline = PoolSpec.single("ConvNet")
    settings = {(p.config.ipc, p.config.pool == baseline, kd)
                for p in spec.points for kd in spec.evaluation.kd_modes}
    assert len(spec.points) == 4 and len(settings) == 8  # 2 ipc x 2 pools x kd off/on
    assert {s[0] for s in settings} == {1, 10}
    pooled = next(p.config.pool for p in spec.points if p.config.pool != baseline)
    assert pooled.main == "ConvNet" and pooled.probs[0] == pytest.approx(0.9)
    assert all(a.startswith("ConvNet") for a in pooled.archs)
    assert spec.resources.trial_gpu == 1 and 0 < spec.resources.evaluator_gpu < 1


def test_pool_settings_are_the_three_of_table5() -> None:
    spec = load_spec(SWEEPS / "cifar10_pool_settings.yaml")
    assert all(p.config.ipc == 10 and p.config.iterations == 3000 for p in spec.points)
    pools = [p.config.pool for p in spec.points]
    assert pools[0] == PoolSpec(("ConvNet", "LeNet", "AlexNet", "VGG11"), (0.25,) * 4)
    assert pools[1] == PoolSpec.main_share("ConvNet", ["LeNet", "AlexNet", "VGG11"], 0.9)
    assert pools[2].main == "ConvNet" and pools[2].probs[0] == pytest.approx(0.9)
    assert all(a.startswith("ConvNet") for a in pools[2].archs)


def test_search_quickstart_is_an_optuna_pool_search_with_asha_on_cpu() -> None:
    spec = load_spec(SWEEPS / "quickstart_search.yaml")
    assert spec.dataset.name == "digits" and spec.storage == "./runs"
    assert spec.resources.trial_gpu == 0 and spec.resources.evaluator_gpu == 0
    search = spec.search
    assert search.algorithm == "optuna" and search.num_samples >= 8 and search.asha is not None
    space = dict(search.space)
    assert space["pool.main_weight"].kind == "uniform" and space["pool.others"].kind == "choice"
    assert len(space["pool.others"].args) >= 2  # which variants are in the pool is searched too
    assert search.metric == "probe_val_acc" and spec.probe.students
    # the 10-minute CPU budget: one small set per trial, few iterations, cheap probes
    assert len(spec.points) == 1 and spec.points[0].config.ipc == 1 and spec.points[0].config.iterations <= 50
    assert spec.probe.epochs <= 50 and spec.evaluation.seeds == 1


def test_the_standard_study_has_distillation_seeds_baselines_and_the_six_students() -> None:
    """The evaluation-standard study: pool off/on x 3 distillation seeds, KD off/on x 3 evaluation
    seeds, random real images per seed and the whole split, hard labels, validation selection."""
    from raydd.sweep.evaluation import all_jobs

    spec = load_spec(SWEEPS / "fashion_mnist_standard.yaml")
    assert spec.dataset.name == "fashion_mnist" and len(spec.points) == 6
    assert {p.config.seed for p in spec.points} == {0, 1, 2} and {p.config.ipc for p in spec.points} == {1}
    assert len({p.config.pool for p in spec.points}) == 2 and all(p.config.method == "dc" for p in spec.points)
    assert [p.trial_key for p in spec.baselines] == [f"random_real-ipc1-seed{s}" for s in range(3)] + ["whole_dataset"]
    ev = spec.evaluation
    assert len(ev.students) == 6 and ev.kd_modes == (False, True) and ev.seeds == 3
    assert (ev.config.labels, ev.config.selection, ev.config.epochs) == ("hard", "validation", 300)
    whole = [j for j in all_jobs(spec) if j.point.baseline == "whole_dataset"]
    assert len(whole) == 6 * ev.whole_seeds and not any(j.kd for j in whole)  # six students, KD off
    assert len(all_jobs(spec)) == 9 * 6 * 2 * 3 + len(whole)


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_passes_the_dry_run_of_a_cluster_submit(path: Path, tmp_path, monkeypatch) -> None:
    # `--address` is the submit whose trials run elsewhere: the data is checked only where it is
    # here, as for a cluster, so the CIFAR-10 sweeps are validated on a machine without CIFAR-10.
    # The dry run contacts no cluster and writes nothing.
    from click.testing import CliRunner

    from raydd.cli.main import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sweep", "submit", str(path), "--dry-run", "--address", "http://127.0.0.1:1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"sweep {path.stem} at ")
    assert list(tmp_path.iterdir()) == []


def test_quickstart_mtt_is_the_small_cpu_pool_comparison_with_its_experts() -> None:
    from raydd.sweep.experts_stage import needed_experts

    spec = load_spec(SWEEPS / "quickstart_mtt.yaml")
    assert spec.dataset.name == "digits" and spec.storage == "./runs" and spec.experts_storage is None
    assert {p.config.method for p in spec.points} == {"mtt"} and {p.config.ipc for p in spec.points} == {1}
    pools = [p.config.pool for p in spec.points]
    assert len(pools) == 2 and pools[0].archs == ("ConvNetW32",) and pools[1].archs[0] == "ConvNetW32"
    assert len(needed_experts(spec)) == 2 * len(set(pools[0].archs + pools[1].archs))  # shared once
    assert [p.baseline for p in spec.baselines] == ["random_real"]
    assert spec.evaluation.kd_modes == (False, True) and len(spec.evaluation.students) == 3
    assert all(p.config.iterations <= 100 and p.config.settings.num_experts <= 2 for p in spec.points)


def test_the_mtt_study_is_the_pool_comparison_evaluated_as_the_standard_study() -> None:
    """MTT alone vs MTT with the DC study's pool, ipc 1, 3 distillation seeds, random real images,
    and an evaluation section that is the standard study's key for key, so the rows sit beside DC's."""
    import yaml

    from raydd.core.experts import check_unrollable
    from raydd.sweep.evaluation import all_jobs
    from raydd.sweep.experts_stage import needed_experts

    spec = load_spec(SWEEPS / "fashion_mnist_mtt.yaml")
    standard = load_spec(SWEEPS / "fashion_mnist_standard.yaml")
    assert spec.dataset == standard.dataset and spec.dataset.name == "fashion_mnist"
    assert {p.config.method for p in spec.points} == {"mtt"} and {p.config.ipc for p in spec.points} == {1}
    pools = {p.config.pool for p in spec.points}
    assert pools == {p.config.pool for p in standard.points}  # alone, and the DC study's pool
    assert PoolSpec.single("ConvNetW32") in pools
    for arch in {a for pool in pools for a in pool.archs}:
        check_unrollable(arch, 1, 10, 28)  # raises for a net MTT cannot unroll (BatchNorm)
    for pool in pools:
        assert sorted(p.config.seed for p in spec.points if p.config.pool == pool) == [0, 1, 2]
    assert [p.trial_key for p in spec.baselines] == [f"random_real-ipc1-seed{s}" for s in range(3)]
    assert spec.evaluation == standard.evaluation and spec.evaluation.students == (
        "ConvNetW32", "MLP", "LeNet", "AlexNet", "VGG11", "ResNet18")
    assert spec.evaluation.kd_modes == (False, True) and spec.evaluation.seeds == 3
    written = [yaml.safe_load((SWEEPS / f"fashion_mnist_{name}.yaml").read_text()) for name in ("mtt", "standard")]
    assert written[0]["evaluation"] == written[1]["evaluation"]  # as written, too
    settings = {p.config.settings for p in spec.points}
    assert len(settings) == 1 and next(iter(settings)).zca is False
    assert len(needed_experts(spec)) == next(iter(settings)).num_experts * 3  # ConvNetW32's shared by both pools
    assert len(all_jobs(spec)) == 9 * 6 * 2 * 3
