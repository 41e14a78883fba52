"""One table cell's statistics, with distilled sets as the unit, and the test between two cells.

A cell holds the rows of one setting and student. Rows are first averaged per set (the evaluation
seeds of one distilled set: `SET_KEY`), then the cell is the mean ± std over those sets' means,
shown with n = `d×e` (d sets, that is distillation seeds, × e evaluation seeds each). With one set
the spread is that of its evaluation seeds, the only one there is.

Two cells are compared by Welch's t-test over their sets' means when each has at least
`MIN_SETS_FOR_TEST` sets; otherwise over their evaluation runs pooled, at `MIN_N_FOR_TEST` runs
a side, and the result says so ("evaluation seeds only"): evaluation seeds of one set show how
students vary on that set, not how another distillation of the same recipe would do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from raydd.stats import MIN_N_FOR_TEST, SIGNIFICANCE_LEVEL, MeanStd, mean_std, welch_p_value

# What names one distilled set among rows: a sweep's grid point (its key holds the distillation
# seed), or a set evaluated by `raydd evaluate` (its directory).
SET_KEY = ("sweep", "trial_key", "synset_uri", "distill_seed")
MIN_SETS_FOR_TEST = 2  # Welch's test over set means needs two sets a side for a variance
SET_LEVEL = "distillation seeds"
SEED_LEVEL = "evaluation seeds only"
MARKS = {SET_LEVEL: "†", SEED_LEVEL: "‡"}


@dataclass(frozen=True)
class CellStats:
    """A cell: mean and std over its sets' means (std over evaluation seeds with one set)."""

    mean: float
    std: float
    sets: int  # d: distilled sets with at least one finite value
    seeds_min: int  # e: finite evaluation runs per set, least and most
    seeds_max: int
    pooled: MeanStd  # every finite run pooled (the evaluation-seed level)

    @property
    def runs(self) -> int:
        return self.pooled.n

    def n_text(self) -> str:
        """`d×e`, e as a range when sets had different numbers of evaluation seeds."""
        seeds = str(self.seeds_min) if self.seeds_min == self.seeds_max else f"{self.seeds_min}-{self.seeds_max}"
        return f"{self.sets}×{seeds}"

    def over_sets(self) -> MeanStd:
        return MeanStd(self.mean, self.std, self.sets)


EMPTY = CellStats(float("nan"), float("nan"), 0, 0, 0, MeanStd(float("nan"), float("nan"), 0))


def cell_stats(values: pd.Series, sets: pd.Series) -> CellStats:
    """The statistics of one cell's `values` (accuracies), each row's set named by `sets`."""
    finite = values.notna()
    values, sets = values[finite], sets[finite]
    if values.empty:
        return EMPTY
    per_set = values.groupby(sets, sort=False)
    means, counts = per_set.mean(), per_set.size()
    pooled = mean_std(values)
    spread = mean_std(means).std if len(means) >= MIN_SETS_FOR_TEST else pooled.std
    return CellStats(float(means.mean()), spread, len(means), int(counts.min()), int(counts.max()), pooled)


def set_names(df: pd.DataFrame) -> pd.Series:
    """Each row's set as one hashable value (the `SET_KEY` columns joined)."""
    return df[list(SET_KEY)].astype(str).agg("\x1f".join, axis=1)


def compare(a: CellStats, b: CellStats) -> tuple[float, str | None]:
    """Two-sided p of Welch's test that `a` and `b` share a mean, and the level it was taken at:
    over set means (`SET_LEVEL`) when both have >= MIN_SETS_FOR_TEST sets, else over pooled runs
    (`SEED_LEVEL`); (NaN, None) when neither level has enough on each side."""
    if min(a.sets, b.sets) >= MIN_SETS_FOR_TEST:
        return welch_p_value(a.over_sets(), b.over_sets(), min_n=MIN_SETS_FOR_TEST), SET_LEVEL
    if min(a.runs, b.runs) >= MIN_N_FOR_TEST:
        return welch_p_value(a.pooled, b.pooled), SEED_LEVEL
    return float("nan"), None


def is_significant(p: float) -> bool:
    return not np.isnan(p) and p < SIGNIFICANCE_LEVEL
