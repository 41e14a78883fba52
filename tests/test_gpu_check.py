"""The GPU check script stays runnable: its --dry mode runs every stage at toy size on CPU."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_runs_every_stage_and_writes_its_summary(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry", "--budget", "300",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    summary = (tmp_path / "gpu_check.md").read_text()
    assert result.returncode == 0, summary + result.stderr[-3000:]
    for stage in ("speed", "evaluate", "fmnist", "ray"):
        assert f"## {stage}: ok" in summary
    assert "speedup" in summary and "raydd evaluate_student" in summary  # stacking table, one student
    assert "dc " in summary and "ratio" in summary  # the distillation benchmark's table
    assert "ConvNetW32 kd off" in summary and "MLP        kd on" in summary  # the evaluation records
    assert "8 rows" in summary  # 2 trials x 2 students x kd off/on x 1 seed


def test_an_unknown_stage_is_refused():
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--stages", "speed,warp"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2 and "unknown stage(s) warp" in result.stderr


def test_a_stage_cut_off_by_its_budget_keeps_what_it_measured_before(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry", "--stages", "speed",
                             "--budget", "2", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300,
                            cwd=ROOT)
    summary = (tmp_path / "gpu_check.md").read_text()
    assert result.returncode == 1
    assert "## speed: FAILED" in summary
    assert "vs the original DC code: not run in --dry" in summary  # written before the cut
    assert "FAILED: stopped at the stage's time budget: " in summary and "bench_distill.py" in summary


def test_the_standard_study_stage_runs_the_shipped_grid_and_brings_its_rows_back(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry", "--stages", "standard",
                             "--budget", "600", "--out", str(tmp_path)], capture_output=True, text=True,
                            timeout=900, cwd=ROOT)
    summary = (tmp_path / "gpu_check.md").read_text()
    assert result.returncode == 0, summary + result.stderr[-3000:]
    assert "## standard: ok" in summary
    assert "(2×2)" in summary and "whole_dataset" in summary and "random_real" in summary  # d×e cells, baselines
    assert "ConvNetW32=1.0 | off (baseline)" in summary and "HLR" in summary
    import pandas as pd

    rows = pd.read_parquet(tmp_path / "fashion_mnist_standard" / "results")
    # 4 distilled + 2 random sets x 2 students x kd off/on x 2 seeds, + the whole split's 2 students
    assert len(rows) == 6 * 2 * 2 * 2 + 2


def test_the_mtt_study_stage_trains_its_experts_and_brings_the_pool_comparison_back(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry", "--stages", "mtt",
                             "--budget", "600", "--out", str(tmp_path)], capture_output=True, text=True,
                            timeout=900, cwd=ROOT)
    summary = (tmp_path / "gpu_check.md").read_text()
    assert result.returncode == 0, summary + result.stderr[-3000:]
    assert "## mtt: ok" in summary
    assert "[experts] 3 trained, 0 retrained, 0 reused" in summary  # ConvNetW32's expert shared by both pools
    assert "(2×2)" in summary and "random_real" in summary  # the sets of 2 distillation seeds in one cell
    assert "ConvNetW32=1.0 | off (baseline)" in summary
    import pandas as pd
    import yaml

    spec = yaml.safe_load((tmp_path / "fashion_mnist_mtt" / "spec.yaml").read_text())
    assert spec["resources"]["trial"]["gpu"] > 0 and spec["resources"]["evaluators"]["gpu"] > 0  # the GPU shape
    rows = pd.read_parquet(tmp_path / "fashion_mnist_mtt" / "results")
    # 4 distilled + 2 random sets x 2 students x kd off/on x 2 seeds
    assert len(rows) == 6 * 2 * 2 * 2
    mtt = rows[rows["method"] == "mtt"]
    assert len(mtt) == 32 and mtt["learned_lr"].notna().all()  # students trained at each set's learned lr


def test_a_study_cut_off_by_its_budget_still_brings_back_its_spec(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry", "--stages", "mtt",
                             "--budget", "20", "--out", str(tmp_path)], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    summary = (tmp_path / "gpu_check.md").read_text()
    assert result.returncode == 1 and "## mtt: FAILED" in summary
    assert "FAILED: stopped at the stage's time budget: " in summary
    assert "rows under" in summary or "no rows were written" in summary
    assert (tmp_path / "fashion_mnist_mtt" / "spec.yaml").is_file()
