"""Summaries over seeds and the paper-style table: settings x student architectures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from raydd.kd_words import KD_COLUMN, kd_mode, shown
from raydd.results.cells import EMPTY, MARKS, CellStats, cell_stats, compare, is_significant, set_names
from raydd.results.schema import ACCURACY_COLUMNS, TEST_MAX, is_missing
from raydd.stats import MeanStd

# Columns that describe how students were trained: a sweep's evaluation setting. `eval_key` names the
# whole setting, so it tells apart settings that differ in what no column holds (KD candidates, ...).
EVAL_COLUMNS = ("epochs", "lr", "augment", "labels", "selection", "eval_key")
# Columns that describe a setting of the grid, in the order a table's rows are keyed by them;
# kd last so each setting reads "..., kd". Seeds are replicates, not settings.
GRID_AXES = ("method", "dataset", "ipc", "iterations", "pool_name", "pool_warmup", "distill_key", *EVAL_COLUMNS,
             "teacher", "kd")
# the seed paper's student order; other architectures follow in order of first appearance
CANONICAL_STUDENTS = ("ConvNet", "MLP", "LeNet", "AlexNet", "VGG11", "ResNet18")
# Rows are only ranked against rows of the same dataset, images-per-class budget and evaluation
# setting: a larger ipc, or a longer or augmented training, soft labels or test-set selection
# always win, and that says nothing about the settings compared (pool, KD, ...).
BLOCK_AXES = ("dataset", "ipc", *EVAL_COLUMNS)
METRICS = ACCURACY_COLUMNS
# Columns whose values are never averaged together: a cell mixing label regimes or selection modes
# would average numbers taken in different ways.
NEVER_POOLED = ("labels", "selection")
# The statistics `summarise` gives per metric (`<metric>_<stat>`), CellStats' fields.
CELL_STATS = ("mean", "std", "n", "sets", "seeds_min", "seeds_max", "pooled_mean", "pooled_std")


def _check_columns(df: pd.DataFrame, names: list[str], what: str) -> None:
    unknown = [n for n in names if n not in df.columns]
    if unknown:
        raise ValueError(f"unknown {what} column(s) {', '.join(unknown)}; known: {', '.join(df.columns)}")


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def summarise(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Statistics of val_acc and test_acc per `by` x student, with distilled sets as the unit
    (`raydd.results.cells`): the evaluation seeds of each set (`SET_KEY`) are averaged first,
    then `<metric>_mean` and `<metric>_std` (population std, ddof 0) are over those sets' means
    (over the evaluation seeds when there is one set). `<metric>_n` counts the runs, `_sets`
    the sets (d), `_seeds_min`/`_seeds_max` the evaluation seeds per set (e), and
    `_pooled_mean`/`_pooled_std` summarise every run pooled. NaN accuracies are left out."""
    keys = [k for k in by if k != "student"] + ["student"]
    _check_columns(df, keys, "group-by")
    columns = keys + [f"{metric}_{stat}" for metric in ACCURACY_COLUMNS for stat in CELL_STATS]
    df = df.reset_index(drop=True)  # frames concatenated from several loads repeat index labels
    sets = set_names(df)
    rows = []
    for key, group in df.groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, key))
        for metric in ACCURACY_COLUMNS:
            row.update(_stat_columns(metric, cell_stats(group[metric], sets.loc[group.index])))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _stat_columns(metric: str, cell: CellStats) -> dict:
    values = {"mean": cell.mean, "std": cell.std, "n": cell.runs, "sets": cell.sets, "seeds_min": cell.seeds_min,
              "seeds_max": cell.seeds_max, "pooled_mean": cell.pooled.mean, "pooled_std": cell.pooled.std}
    return {f"{metric}_{stat}": values[stat] for stat in CELL_STATS}


def with_setting_lr(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with `lr` left empty where the students trained at their set's own learned lr (an MTT
    set's, `learned_lr`): that lr belongs to the set, as its images do, not to the evaluation
    setting, so the sets of one grid point (one per distillation seed) share a table row."""
    if "learned_lr" not in df.columns or "lr" not in df.columns or df["learned_lr"].isna().all():
        return df
    return df.assign(lr=df["lr"].where(df["learned_lr"].isna()))


def default_by(df: pd.DataFrame) -> list[str]:
    """The grid axes that take more than one value in `df` (teacher only among KD rows); so rows
    of one set evaluated under several settings are never pooled. `eval_key` only where the other
    axes leave settings apart (`augment: [none, dsa]` is told by `augment` alone)."""
    df = with_setting_lr(df)
    varying = [axis for axis in GRID_AXES if axis in df.columns and df[axis].nunique(dropna=True) > 1]
    others = [axis for axis in varying if axis != "eval_key"]
    if "eval_key" in varying and others:
        told = df.groupby(others, dropna=False)["eval_key"].nunique(dropna=False).max() <= 1
        return others if told else varying
    return varying


def order_students(students) -> list[str]:
    """The paper's column order (ConvNet, MLP, LeNet, AlexNet, VGG11, ResNet18), each family's
    variants (ConvNetW32, VGG11BN, ...) beside it, then any other name in order of appearance."""
    seen = list(dict.fromkeys(students))

    def family(name: str) -> int:
        return next((i for i, f in enumerate(CANONICAL_STUDENTS) if name.startswith(f)), len(CANONICAL_STUDENTS))

    return sorted(seen, key=lambda name: (family(name), name not in CANONICAL_STUDENTS, seen.index(name)))


@dataclass(frozen=True)
class ResultsTable:
    """Settings (rows) x students (columns) of one metric, in percent.

    `mean` and `std` (over the distilled sets' means, `raydd.results.cells`), `n` (runs), `sets`
    (d), `seeds_min`/`seeds_max` (e) and `pooled_mean`/`pooled_std` (every run pooled) are
    DataFrames indexed by the setting keys with one column per student; `row_mean` is the mean over
    `mean_students` (the students every row has, so that rows stay comparable); `diff` and
    `mean_diff` hold each row minus the baseline row (percentage points) when a baseline was given:
    the baseline row of each group of rows that agree on the keys the baseline does not name, with
    each cell's `p_value` and the level its test was taken at (`p_level`).
    """

    metric: str
    by: tuple[str, ...]
    students: tuple[str, ...]
    mean: pd.DataFrame
    std: pd.DataFrame
    n: pd.DataFrame
    row_mean: pd.Series
    mean_students: tuple[str, ...]
    sets: pd.DataFrame
    seeds_min: pd.DataFrame
    seeds_max: pd.DataFrame
    pooled_mean: pd.DataFrame
    pooled_std: pd.DataFrame
    baseline: tuple[int, ...] = ()  # positions of the baseline rows (one per group of other keys)
    diff: pd.DataFrame | None = None
    mean_diff: pd.Series | None = None
    p_value: pd.DataFrame | None = None  # Welch's t-test of each cell against its baseline cell
    p_level: pd.DataFrame | None = None  # cells.SET_LEVEL or cells.SEED_LEVEL (None: no test)
    selections: tuple[str, ...] = ()  # the `selection` values of the rows tabulated

    @property
    def test_max(self) -> bool:
        """Whether any row took its test accuracy as the best over epochs (comparison only)."""
        return TEST_MAX in self.selections

    def cell(self, row: int, student: str) -> CellStats:
        """One cell's statistics (in percent); `cells.EMPTY` where the setting lacks the student."""
        mean = float(self.mean[student].iloc[row])
        if np.isnan(mean):
            return EMPTY
        def at(frame: pd.DataFrame) -> float:
            return float(frame[student].iloc[row])

        return CellStats(mean, at(self.std), int(at(self.sets)), int(at(self.seeds_min)), int(at(self.seeds_max)),
                         MeanStd(at(self.pooled_mean), at(self.pooled_std), int(at(self.n))))

    def significant(self, row: int, student: str) -> bool:
        """Whether the cell differs from its baseline cell at `SIGNIFICANCE_LEVEL`."""
        if self.p_value is None:
            return False
        return is_significant(float(self.p_value[student].iloc[row]))

    def mark(self, row: int, student: str) -> str:
        """`†` for a significant difference over distillation seeds, `‡` over evaluation seeds
        only, "" when not significant."""
        if not self.significant(row, student):
            return ""
        return MARKS[self.p_level[student].iloc[row]]

    @property
    def settings(self) -> list[dict]:
        """Each row's setting as {key: value} (empty when nothing varies)."""
        def plain(value):  # numpy scalars -> Python values and NaN -> None, for JSON and labels
            value = value.item() if isinstance(value, np.generic) else value
            return None if is_missing(value) else value

        return [{k: plain(v) for k, v in zip(self.by, key if isinstance(key, tuple) else (key,))}
                if self.by else {} for key in self.mean.index]

    def best(self, column: str) -> set[int]:
        """Row positions of the best mean in a student column, one per block of rows sharing
        dataset, ipc and evaluation setting (`BLOCK_AXES`), marked only when it beats the block's
        runner-up at `SIGNIFICANCE_LEVEL` (`cells.compare`: Welch's test over the sets' means, or
        over evaluation seeds only where a side has one set): a lead inside the noise, a tie, or a
        block of one row gets no mark. The mean over students has no spread of its own, so that
        column is never marked."""
        if column == "mean":
            return set()
        best: set[int] = set()
        for rows in self.blocks():
            cells = [(float(self.mean[column].iloc[r]), r) for r in rows]
            ranked = sorted((c for c in cells if not np.isnan(c[0])), reverse=True)
            if len(ranked) < 2:
                continue
            (_, top), (_, runner_up) = ranked[0], ranked[1]
            p, _ = compare(self.cell(top, column), self.cell(runner_up, column))
            if is_significant(p) and ranked[0][0] > ranked[1][0]:
                best.add(top)
        return best

    def blocks(self) -> list[list[int]]:
        """Row positions grouped by the values of the `BLOCK_AXES` among the row keys, in row order."""
        axes = [a for a in BLOCK_AXES if a in self.by]
        groups: dict[tuple, list[int]] = {}
        for row, setting in enumerate(self.settings):
            groups.setdefault(tuple(setting[a] for a in axes), []).append(row)
        return list(groups.values())


def _pivot(stats: pd.DataFrame, by: list[str], value: str, students: list[str]) -> pd.DataFrame:
    """One statistic as settings x students (unstack keeps NaN keys, e.g. no teacher)."""
    index = (by or ["_all"]) + ["student"]
    return stats.set_index(index)[value].unstack("student").reindex(columns=students)


def _common_students(mean: pd.DataFrame) -> list[str]:
    return [s for s in mean.columns if mean[s].notna().all()]


def results_table(df: pd.DataFrame, by: list[str] | None = None, baseline: dict | None = None,
                  metric: str = "test_acc") -> ResultsTable:
    """The paper-style table of `metric` (in percent) per setting and student.

    `by` defaults to `default_by(df)`. `baseline` is {key: value} (see `parse_baseline`); every
    row then also gets its difference to the baseline row that shares its other row keys.
    """
    _check_metric(metric)
    if df.empty:
        raise ValueError("no result rows to tabulate")
    df = with_setting_lr(df)
    by = list(default_by(df) if by is None else by)
    if "student" in by:
        raise ValueError("'student' is the table's columns; leave it out of `by`")
    _check_columns(df, by, "group-by")
    check_not_pooled(df, by)
    frame = df.assign(_all="all")
    stats = summarise(frame, by or ["_all"])
    students = order_students(df["student"])
    pivots = {stat: _pivot(stats, by, f"{metric}_{stat}", students) for stat in CELL_STATS}
    for stat in ("mean", "std", "pooled_mean", "pooled_std"):  # fractions -> percent
        pivots[stat] = pivots[stat] * 100.0
    common = _common_students(pivots["mean"])
    row_mean = pivots["mean"][common].mean(axis=1) if common else pd.Series(np.nan, index=pivots["mean"].index)
    selections = tuple(sorted(df["selection"].dropna().unique())) if "selection" in df.columns else ()
    table = ResultsTable(metric, tuple(by), tuple(students), pivots["mean"], pivots["std"], pivots["n"], row_mean,
                         tuple(common), **{stat: pivots[stat] for stat in CELL_STATS[3:]}, selections=selections)
    return _with_baseline(table, baseline) if baseline else table


def check_not_pooled(df: pd.DataFrame, by: list[str]) -> None:
    """A ValueError, in one line, when rows of different label regimes or selection modes would
    share a cell: `by` must split them (the default does)."""
    for column in NEVER_POOLED:
        values = sorted(df[column].dropna().unique()) if column in df.columns else []
        if len(values) > 1 and column not in by:
            raise ValueError(f"the rows mix {column} {', '.join(map(str, values))}, which are never averaged "
                             f"together: add {column} to the row keys (--by) or keep one with --where")


def _matches(settings: list[dict], baseline: dict) -> list[int]:
    return [i for i, s in enumerate(settings) if all(_same(s[k], v) for k, v in baseline.items())]


def _same(actual, wanted: str) -> bool:
    """Compare a setting value with a command-line value by the setting's own type (a boolean
    with its KD word, off/on or false/true, as `parse_baseline` has checked)."""
    if actual is None:
        return wanted.lower() in ("none", "null", "")
    if isinstance(actual, bool):
        try:
            return kd_mode(wanted) == actual
        except ValueError:
            return False
    if isinstance(actual, (int, float)):
        try:
            return float(wanted) == float(actual)
        except ValueError:
            return False
    return str(actual) == wanted


def _with_baseline(table: ResultsTable, baseline: dict) -> ResultsTable:
    """Each row minus its baseline: the row that matches `baseline` and agrees with it on every
    other row key. With `ipc` varying and `baseline = {pool_name: ..., kd: off}`, each ipc block
    is compared with its own baseline row, as the paper's ablation reads."""
    stray = [k for k in baseline if k not in table.by]
    if stray:
        rows = ", ".join(table.by) or "(nothing: a single setting)"
        raise ValueError(f"baseline key(s) {', '.join(stray)} are not row keys of the table; "
                         f"rows are by: {rows}")
    settings = table.settings
    free = [k for k in table.by if k not in baseline]
    hits = _matches(settings, {k: str(v) for k, v in baseline.items()})
    wanted = ";".join(f"{k}={v}" for k, v in baseline.items())
    base_of_group: dict[tuple, int] = {}
    for i in hits:
        base_of_group[tuple(settings[i][k] for k in free)] = i  # unique: settings are unique rows
    groups = [tuple(s[k] for k in free) for s in settings]
    missing = sorted({g for g in groups if g not in base_of_group}, key=str)
    if missing:
        listed = "\n  ".join(";".join(f"{k}={shown(k, v)}" for k, v in s.items()) for s in settings)
        where = "; ".join(",".join(f"{k}={shown(k, v)}" for k, v in zip(free, g)) for g in missing)
        what = "matches no row" if not hits else f"has no row for {where}"
        raise ValueError(f"baseline {wanted!r} {what}. Rows:\n  {listed}")
    base_rows = [base_of_group[g] for g in groups]
    diff = table.mean - table.mean.iloc[base_rows].to_numpy()
    mean_diff = table.row_mean - table.row_mean.iloc[base_rows].to_numpy()
    p_value, p_level = _p_values(table, base_rows)
    return ResultsTable(**{**table.__dict__, "baseline": tuple(sorted(set(base_rows))), "diff": diff,
                           "mean_diff": mean_diff, "p_value": p_value, "p_level": p_level})


def _p_values(table: ResultsTable, base_rows: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each cell's p against its baseline cell (`cells.compare`), and the level of that test."""
    p = table.mean.copy()
    level = pd.DataFrame(None, index=table.mean.index, columns=table.mean.columns, dtype=object)
    for row, base in enumerate(base_rows):
        for student in table.students:
            column = p.columns.get_loc(student)
            if row == base:
                p.iloc[row, column] = float("nan")
                continue
            p.iloc[row, column], level.iloc[row, column] = compare(table.cell(row, student), table.cell(base, student))
    return p, level


def parse_baseline(specs: str | list[str] | tuple[str, ...]) -> dict[str, str]:
    """`key=value` pairs separated by ';' (or given as several strings) -> {key: value}.

    Only the first '=' splits, so `pool_name=ConvNet=1.0` names pool `ConvNet=1.0`; ';' is the
    separator because pool names contain ','. Example: `pool_name=ConvNet=1.0;kd=off`. The kd value
    is checked here (off/on, or false/true), so a typo fails before any rows are read.
    """
    parts = [specs] if isinstance(specs, str) else list(specs)
    pairs = [p.strip() for spec in parts for p in spec.split(";") if p.strip()]
    baseline: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"baseline part {pair!r} is not key=value (e.g. 'kd=off;ipc=10')")
        if key.strip() in baseline:
            raise ValueError(f"baseline key {key.strip()!r} is given twice")
        baseline[key.strip()] = value.strip()
    if KD_COLUMN in baseline:
        try:
            kd_mode(baseline[KD_COLUMN])
        except ValueError:
            raise ValueError(f"baseline kd={baseline[KD_COLUMN]!r}: kd is off or on (or false/true)") from None
    if not baseline:
        raise ValueError("empty baseline; give key=value pairs such as 'pool_name=ConvNet=1.0;kd=off'")
    return baseline
