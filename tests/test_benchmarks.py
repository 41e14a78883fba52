"""The benchmark scripts keep working: CI runs each in its smoke-test mode."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess:
    """benchmarks/<script> with `args` in a fresh interpreter, as a user runs it."""
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_distill_benchmark_smoke_test_prints_both_loops_and_their_ratio():
    result = run_benchmark("bench_distill.py", "--smoke-test")
    assert result.returncode == 0, result.stderr
    out = result.stdout.lower()
    for method in ("dc", "dsa", "dm"):
        assert method in out
    assert "plain" in out and "ratio" in out
    assert out.count("test accuracy") == 3  # --evaluate: both final sets trained, per method


def test_comparison_with_the_original_code_is_skipped_cleanly_without_it():
    result = run_benchmark("vs_original.py", "--smoke-test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("smoke test skipped: no --original-dir")


def test_comparison_refuses_a_directory_without_the_original_code(tmp_path):
    result = run_benchmark("vs_original.py", "--original-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {tmp_path}/main.py does not exist: --original-dir must be a "
                                      "checkout of github.com/VICO-UoE/DatasetCondensation")


def test_evaluation_benchmark_smoke_test_prints_every_section():
    result = run_benchmark("bench_evaluate.py", "--smoke-test")
    assert result.returncode == 0, result.stderr
    for heading in ("## Inference", "## One ConvNetW32 student", "## KD choice on a validation subset"):
        assert heading in result.stdout
    assert "stacked" in result.stdout.lower()


def test_probe_benchmark_smoke_test_prints_the_cost_per_report_and_its_ratio():
    result = run_benchmark("bench_probe.py", "--smoke-test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## Probe cost on digits")
    row = next(line.split() for line in result.stdout.splitlines() if line.split()[:2] == ["1", "MLP"])
    iteration_s, report_s, ratio = map(float, row[2:5])
    assert iteration_s > 0 and report_s > 0 and abs(ratio - report_s / iteration_s) <= 0.05 * ratio + 0.05


def test_mtt_benchmark_smoke_test_prints_time_measured_peak_and_estimate():
    result = run_benchmark("bench_mtt.py", "--smoke-test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## MTT iteration cost on")
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("ConvNetW32")]
    assert [row[1] for row in rows] == ["2", "4"]
    for row in rows:
        seconds, peak, estimate, ratio = map(float, row[2:6])
        assert seconds > 0 and peak > 0 and estimate > 0 and ratio > 0
    # A longer unroll keeps more: both the measured peak and the estimate grow with syn_steps.
    assert float(rows[1][3]) > float(rows[0][3]) and float(rows[1][4]) > float(rows[0][4])


def test_whole_run_refuses_a_directory_without_the_original_code(tmp_path):
    result = run_benchmark("whole_run.py", "--original-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("must be a checkout of github.com/VICO-UoE/DatasetCondensation")


def test_whole_run_refuses_an_unknown_precision_before_running_anything(tmp_path):
    result = run_benchmark("whole_run.py", "--original-dir", str(tmp_path), "--precision", "fp16")
    assert result.returncode == 2 and "invalid choice: 'fp16'" in result.stderr


def test_whole_run_passes_the_asked_precision_to_raydd_and_none_by_default(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import whole_run
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    config = whole_run.CONFIGS["fashion_mnist"]
    default = whole_run.raydd_command(config, 300, tmp_path / "set")
    bf16 = whole_run.raydd_command(config, 300, tmp_path / "set", "bf16")
    assert "--precision" not in default
    assert bf16[bf16.index("--precision") + 1] == "bf16" and bf16[-2:] == ["--out", str(tmp_path / "set")]


def test_iteration_profile_smoke_test_prints_its_groups_and_top_operators():
    result = run_benchmark("profile_iteration.py", "--smoke-test")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "seconds per iteration" in out and "convolution backward" in out and "convolution forward" in out
    shares = [float(m.group(1)) for m in re.finditer(r"^\s+([0-9.]+) %  ", out, re.MULTILINE)]
    assert len(shares) >= 3
    assert sum(shares) == pytest.approx(100.0, abs=0.5)  # every operator in one group
