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
# How a results table aggregates: evaluation seeds within a set first, then the distilled sets.
UNIT_NOTE = ("n = d×e: d distilled sets (distillation seeds) × e evaluation seeds each; a set's "
             "evaluation seeds are averaged first, then mean ± std are over the sets' means "
             "(over the evaluation seeds where d = 1)")


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


# A difference to a baseline counts as significant below this p of Welch's t-test, and only with
# at least MIN_N_FOR_TEST seeds on each side (two seeds give no usable variance).
SIGNIFICANCE_LEVEL = 0.05
MIN_N_FOR_TEST = 3
SIGNIFICANCE_NOTE = (f"† = differs from its baseline at p < {SIGNIFICANCE_LEVEL} (Welch's two-sided "
                     "t-test over the sets' means, >= 2 distilled sets on each side); ‡ = the same test over "
                     f"evaluation seeds only (a side has one set; n >= {MIN_N_FOR_TEST} on each side)")

BEST_NOTE = (f"marked only where it leads the runner-up at p < {SIGNIFICANCE_LEVEL} (Welch over the sets' "
             f"means with >= 2 sets a side, else over evaluation seeds only with n >= {MIN_N_FOR_TEST})")


def welch_p_value(a: MeanStd, b: MeanStd, min_n: int = MIN_N_FOR_TEST) -> float:
    """Two-sided p of Welch's t-test that two groups share a mean, from their summaries
    (population stds, as `mean_std` gives them); NaN with fewer than `min_n` on a side."""
    from scipy.stats import ttest_ind_from_stats

    if min(a.n, b.n) < max(min_n, 2):
        return float("nan")
    sample_std = [s.std * np.sqrt(s.n / (s.n - 1)) for s in (a, b)]  # ddof 0 -> ddof 1
    if sample_std[0] == 0 and sample_std[1] == 0:
        return 1.0 if a.mean == b.mean else 0.0
    return float(ttest_ind_from_stats(a.mean, sample_std[0], a.n, b.mean, sample_std[1], b.n,
                                      equal_var=False).pvalue)
