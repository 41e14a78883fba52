"""Measured choices of how to run evaluation fast: stacked or one after another, inference batch size.

Placeholder: filled in from benchmarks/bench_evaluate.py.
"""

from __future__ import annotations


def stack_pays(arch: str, device_type: str, members: int) -> bool:
    return members > 1


def inference_batch_size(arch: str, device_type: str) -> int:
    return 256
