"""benchmarks/mtt_reference_check.py: skipped cleanly without the reference, refuses a directory
that is not it, and (where RAYDD_MTT_REFERENCE_DIR names a checkout of the reference) passes on
raydd's step and fails on a step that differs.

The reference MTT code is not part of raydd and CI has no network, so the tests that run it are
skipped unless that variable names a checkout (github.com/GeorgeCazenavette/mtt-distillation).
"""

import os
import sys
from pathlib import Path

import pytest

from test_benchmarks import run_benchmark

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = os.environ.get("RAYDD_MTT_REFERENCE_DIR")
NETWORKS = ("MLP", "ConvNet", "LeNet", "AlexNet", "VGG11BN", "VGG11", "ResNet18", "ResNet18BN_AP", "ResNet18_AP")
needs_reference = pytest.mark.skipif(not REFERENCE, reason="RAYDD_MTT_REFERENCE_DIR names no checkout of the "
                                                           "reference MTT code")


def test_the_smoke_test_is_skipped_cleanly_without_the_reference():
    result = run_benchmark("mtt_reference_check.py", "--smoke-test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("smoke test skipped: no --reference-dir")


def test_a_directory_without_the_reference_is_one_line(tmp_path):
    result = run_benchmark("mtt_reference_check.py", "--reference-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {tmp_path}/distill.py does not exist: --reference-dir must be a "
                                      "checkout of github.com/GeorgeCazenavette/mtt-distillation")


def test_a_checkout_whose_loop_is_not_the_references_is_one_line(tmp_path):
    for name in ("distill.py", "utils.py", "networks.py", "reparam_module.py"):
        (tmp_path / name).write_text("import torch\n")
    result = run_benchmark("mtt_reference_check.py", "--reference-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path}/networks.py does not define {', '.join(NETWORKS)}"
    (tmp_path / "networks.py").write_text("".join(f"class {n}: pass\n" for n in NETWORKS))
    (tmp_path / "reparam_module.py").write_text("class ReparamModule: pass\n")
    result = run_benchmark("mtt_reference_check.py", "--reference-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {tmp_path}/utils.py does not define AUGMENT_FNS, DiffAugment")


@needs_reference
def test_raydds_step_equals_the_references():
    result = run_benchmark("mtt_reference_check.py", "--smoke-test", "--reference-dir", REFERENCE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "EQUAL within the tolerance 0.0001" in result.stdout
    assert "DSA ops EQUAL within 1e-05" in result.stdout


@needs_reference
def test_the_check_fails_on_a_step_that_differs(monkeypatch, capsys):
    """raydd's loss nudged by 0.1 %: the check sees it and exits 1."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import mtt_reference_check

    real = mtt_reference_check.matching_loss
    monkeypatch.setattr(mtt_reference_check, "matching_loss", lambda *a, **k: real(*a, **k) * 1.001)
    assert mtt_reference_check.main(["--smoke-test", "--reference-dir", REFERENCE]) == 1
    assert "DIFFERENT beyond the tolerance 0.0001" in capsys.readouterr().out
