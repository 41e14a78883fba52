"""The CPU malloc setting (raydd/core/allocator.py): freed activations stay in the process, for
distillation and evaluation alike. Each check runs in a fresh process, as the setting is process-wide."""

import subprocess
import sys

import pytest

FAULTS = """
import resource, torch

def faults_of_a_second_allocation():
    # The fewest page faults of a 64 MB block allocated right after another was freed, over a few
    # tries: reused heap pages can still fault now and then where the kernel reclaims idle memory.
    counts = []
    for _ in range(8):
        torch.ones(16 * 1024 * 1024)  # 64 MB, touched, then freed
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.ones(16 * 1024 * 1024)
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return min(counts)

default = faults_of_a_second_allocation()
"""

# 64 MB is 16,384 pages of 4 KiB: kernel-fresh it faults them all in, reused it faults almost none.
FRESH, REUSED = 10_000, 100


def _printed(script: str) -> list[str]:
    """What `script` prints, run in a fresh Python process."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def _faults(work: str) -> tuple[int, int]:
    """Page faults of a second 64 MB allocation before and after `work`, in a fresh process;
    skipped where glibc does not take the setting."""
    script = FAULTS + work + """
after = faults_of_a_second_allocation()
from raydd.core.allocator import reuse_freed_memory  # asked last: asking turns the setting on
print(reuse_freed_memory(), default, after)
"""
    took, default, after = _printed(script)[-3:]
    if took == "False":
        pytest.skip("not glibc: the setting does not apply")
    return int(default), int(after)


def test_reuse_freed_memory_keeps_a_freed_block_for_the_next_allocation():
    default, kept = _faults("from raydd.core.allocator import reuse_freed_memory; reuse_freed_memory()\n")
    assert default > FRESH and kept < REUSED


def test_evaluating_a_student_on_cpu_turns_the_setting_on():
    """Inference batches of ConvNet are 67 MB apiece: the evaluation sets it itself, no distillation needed."""
    default, kept = _faults("""
from raydd.core.datasets import load_dataset
from raydd.core.evaluate import EvalConfig, evaluate_student, random_real
data = load_dataset("digits")
images, labels = random_real(data, 1, seed=0)
evaluate_student(images, labels, data, "MLP", EvalConfig(epochs=1), 0, "cpu")
""")
    assert default > FRESH and kept < REUSED


def test_without_evaluation_or_distillation_the_default_stays():
    """The check above can fail: a process that does no raydd work keeps faulting fresh pages."""
    first, second = map(int, _printed(FAULTS + "print(default, faults_of_a_second_allocation())\n"))
    assert first > FRESH and second > FRESH
