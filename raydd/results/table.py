"""Summaries over seeds and the paper-style table: settings x student architectures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from raydd.results.schema import ACCURACY_COLUMNS, is_missing
from raydd.stats import SIGNIFICANCE_LEVEL, MeanStd, mean_std, welch_p_value

# Columns that describe how students were trained: a sweep's evaluation setting. `eval_key` names the
# whole setting, so it tells apart settings that differ in what no column holds (KD candidates, ...).
EVAL_COLUMNS = ("epochs", "lr", "augment", "eval_key")
# Columns that describe a setting of the grid, in the order a table's rows are keyed by them;
# kd last so each setting reads "..., kd". Seeds are replicates, not settings.
GRID_AXES = ("method", "dataset", "ipc", "iterations", "pool_name", "pool_warmup", *EVAL_COLUMNS, "teacher", "kd")
# the seed paper's student order; other architectures follow in order of first appearance
CANONICAL_STUDENTS = ("ConvNet", "MLP", "LeNet", "AlexNet", "VGG11", "ResNet18")
# Rows are only ranked against rows of the same dataset, images-per-class budget and evaluation
# setting: a larger ipc, or a longer or augmented training, always wins, and that says nothing about
# the settings compared (pool, KD, ...).
BLOCK_AXES = ("dataset", "ipc", *EVAL_COLUMNS)
METRICS = ACCURACY_COLUMNS


def _check_columns(df: pd.DataFrame, names: list[str], what: str) -> None:
    unknown = [n for n in names if n not in df.columns]
    if unknown:
        raise ValueError(f"unknown {what} column(s) {', '.join(unknown)}; known: {', '.join(df.columns)}")


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def summarise(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean, std and n of val_acc and test_acc per `by` x student, by `raydd.stats.mean_std`
    (population std, ddof 0: 0 for a single row; NaN accuracies are left out of all three).

    All rows of a group are pooled: several distillation seeds x several evaluation seeds give
    one spread, as the DC/DSA papers report it. Columns: the keys, then `val_acc_mean`,
    `val_acc_std`, `val_acc_n`, `test_acc_mean`, ... (fractions, like the rows).
    """
    keys = [k for k in by if k != "student"] + ["student"]
    _check_columns(df, keys, "group-by")
    columns = keys + [f"{metric}_{stat}" for metric in ACCURACY_COLUMNS for stat in ("mean", "std", "n")]
    rows = []
    for key, group in df.groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, key))
        for metric in ACCURACY_COLUMNS:
            stats = mean_std(group[metric])
            row.update({f"{metric}_mean": stats.mean, f"{metric}_std": stats.std, f"{metric}_n": stats.n})
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def default_by(df: pd.DataFrame) -> list[str]:
    """The grid axes that take more than one value in `df` (teacher only among KD rows); so rows
    of one set evaluated under several settings are never pooled. `eval_key` only where the other
    axes leave settings apart (`augment: [none, dsa]` is told by `augment` alone)."""
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

    `mean`, `std` and `n` are DataFrames indexed by the setting keys with one column per
    student; `row_mean` is the mean over `mean_students` (the students every row has, so
    that rows stay comparable); `diff` and `mean_diff` hold each row minus the baseline row
    (percentage points) when a baseline was given: the baseline row of each group of rows
    that agree on the keys the baseline does not name.
    """

    metric: str
    by: tuple[str, ...]
    students: tuple[str, ...]
    mean: pd.DataFrame
    std: pd.DataFrame
    n: pd.DataFrame
    row_mean: pd.Series
    mean_students: tuple[str, ...]
    baseline: tuple[int, ...] = ()  # positions of the baseline rows (one per group of other keys)
    diff: pd.DataFrame | None = None
    mean_diff: pd.Series | None = None
    p_value: pd.DataFrame | None = None  # Welch's t-test of each cell against its baseline cell

    def significant(self, row: int, student: str) -> bool:
        """Whether the cell differs from its baseline cell at `SIGNIFICANCE_LEVEL`."""
        if self.p_value is None:
            return False
        p = float(self.p_value[student].iloc[row])
        return not np.isnan(p) and p < SIGNIFICANCE_LEVEL

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
        runner-up at `SIGNIFICANCE_LEVEL` (Welch's test over seeds, n >= MIN_N_FOR_TEST on each
        side): a lead inside the seeds' noise, a tie, or a block of one row gets no mark. The mean
        over students has no spread over seeds of its own, so that column is never marked."""
        if column == "mean":
            return set()
        best: set[int] = set()
        for rows in self.blocks():
            cells = [(float(self.mean[column].iloc[r]), r) for r in rows]
            ranked = sorted((c for c in cells if not np.isnan(c[0])), reverse=True)
            if len(ranked) < 2:
                continue
            (_, top), (_, runner_up) = ranked[0], ranked[1]
            p = welch_p_value(self._cell(top, column), self._cell(runner_up, column))
            if not np.isnan(p) and p < SIGNIFICANCE_LEVEL and ranked[0][0] > ranked[1][0]:
                best.add(top)
        return best

    def _cell(self, row: int, column: str) -> MeanStd:
        return MeanStd(float(self.mean[column].iloc[row]), float(self.std[column].iloc[row]),
                       int(self.n[column].iloc[row]))

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
    by = list(default_by(df) if by is None else by)
    if "student" in by:
        raise ValueError("'student' is the table's columns; leave it out of `by`")
    _check_columns(df, by, "group-by")
    frame = df.assign(_all="all")
    stats = summarise(frame, by or ["_all"])
    students = order_students(df["student"])
    pct = {stat: _pivot(stats, by, f"{metric}_{stat}", students) for stat in ("mean", "std")}
    mean, std = pct["mean"] * 100.0, pct["std"] * 100.0
    n = _pivot(stats, by, f"{metric}_n", students)
    common = _common_students(mean)
    row_mean = mean[common].mean(axis=1) if common else pd.Series(np.nan, index=mean.index)
    table = ResultsTable(metric, tuple(by), tuple(students), mean, std, n, row_mean, tuple(common))
    return _with_baseline(table, baseline) if baseline else table


def _matches(settings: list[dict], baseline: dict) -> list[int]:
    return [i for i, s in enumerate(settings) if all(_same(s[k], v) for k, v in baseline.items())]


def _same(actual, wanted: str) -> bool:
    """Compare a setting value with a command-line value by the setting's own type."""
    if actual is None:
        return wanted.lower() in ("none", "null", "")
    if isinstance(actual, bool):
        return wanted.lower() in (("true", "1", "yes") if actual else ("false", "0", "no"))
    if isinstance(actual, (int, float)):
        try:
            return float(wanted) == float(actual)
        except ValueError:
            return False
    return str(actual) == wanted


def _with_baseline(table: ResultsTable, baseline: dict) -> ResultsTable:
    """Each row minus its baseline: the row that matches `baseline` and agrees with it on every
    other row key. With `ipc` varying and `baseline = {pool_name: ..., kd: false}`, each ipc block
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
        listed = "\n  ".join(";".join(f"{k}={v}" for k, v in s.items()) for s in settings)
        where = "; ".join(",".join(f"{k}={v}" for k, v in zip(free, g)) for g in missing)
        what = "matches no row" if not hits else f"has no row for {where}"
        raise ValueError(f"baseline {wanted!r} {what}. Rows:\n  {listed}")
    base_rows = [base_of_group[g] for g in groups]
    diff = table.mean - table.mean.iloc[base_rows].to_numpy()
    mean_diff = table.row_mean - table.row_mean.iloc[base_rows].to_numpy()
    return ResultsTable(**{**table.__dict__, "baseline": tuple(sorted(set(base_rows))), "diff": diff,
                           "mean_diff": mean_diff, "p_value": _p_values(table, base_rows)})


def _p_values(table: ResultsTable, base_rows: list[int]) -> pd.DataFrame:
    def cell(row: int, student: str) -> MeanStd:
        n = table.n[student].iloc[row]
        return MeanStd(float(table.mean[student].iloc[row]), float(table.std[student].iloc[row]),
                       0 if np.isnan(n) else int(n))

    p = table.mean.copy()
    for row, base in enumerate(base_rows):
        for student in table.students:
            p.iloc[row, p.columns.get_loc(student)] = (
                float("nan") if row == base else welch_p_value(cell(row, student), cell(base, student)))
    return p


def parse_baseline(specs: str | list[str] | tuple[str, ...]) -> dict[str, str]:
    """`key=value` pairs separated by ';' (or given as several strings) -> {key: value}.

    Only the first '=' splits, so `pool_name=ConvNet=1.0` names pool `ConvNet=1.0`; ';' is the
    separator because pool names contain ','. Example: `pool_name=ConvNet=1.0;kd=false`.
    """
    parts = [specs] if isinstance(specs, str) else list(specs)
    pairs = [p.strip() for spec in parts for p in spec.split(";") if p.strip()]
    baseline: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"baseline part {pair!r} is not key=value (e.g. 'kd=false;ipc=10')")
        if key.strip() in baseline:
            raise ValueError(f"baseline key {key.strip()!r} is given twice")
        baseline[key.strip()] = value.strip()
    if not baseline:
        raise ValueError("empty baseline; give key=value pairs such as 'pool_name=ConvNet=1.0;kd=false'")
    return baseline
