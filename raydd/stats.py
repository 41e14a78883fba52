"""Mean ± std over seeds: the one spread convention of raydd, shared by `raydd evaluate` (core)
and `raydd results` (which must not import torch), so numpy only.

The std is the population std (ddof 0), `np.std`'s default and what the DC/DSA/DM code reports
as "mean ± std" over its evaluation runs: the same records print the same spread everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

SPREAD_DDOF = 0
SPREAD_NOTE = "std = population std over seeds (ddof 0, as numpy's np.std and the DC/DSA/DM papers)"


@dataclass(frozen=True)
class MeanStd:
    """Mean and std (ddof 0) of the finite values, and how many there were (NaN, NaN, 0 if none)."""

    mean: float
    std: float
    n: int


def mean_std(values: Iterable[float]) -> MeanStd:
    """Mean ± std of `values`, skipping NaN (a missing accuracy, a diverged training)."""
    array = np.asarray(list(values), dtype=np.float64)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return MeanStd(float("nan"), float("nan"), 0)
    return MeanStd(float(array.mean()), float(array.std(ddof=SPREAD_DDOF)), int(array.size))
