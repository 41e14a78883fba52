"""DD-Ranking's comparable scores (HLR, IOR, LRS, ARS) per (set, student), from result rows.

For each distilled set and student, under one evaluation setting (label regime, KD mode, epochs,
augmentation, lr, selection):

- HLR, hard-label recovery = whole-data accuracy - the set's accuracy with hard labels and no KD,
  in percentage points: how far the set is from the training split it replaces. The whole-data
  accuracy is the `whole_dataset` baseline's (hard labels, its own epochs, same augmentation, lr
  and selection); the set's hard-label accuracy is under the row's own epochs.
- IOR, improvement over random = the set's accuracy - random real images' (`random_real` of the same
  ipc) under the very same setting and label regime, in percentage points.
- LRS, label-robust score = 100 (e^a - e^-1) / (e - e^-1) with a = w IOR - (1 - w) HLR, IOR and HLR
  as fractions (so a lies in [-1, 1] and LRS in [0, 100] %), w = `LRS_WEIGHT`.
- ARS, augmentation-robust score: the same transform of b = g IOR_aug + (1 - g) IOR_plain, IOR
  with augmentation and without (the rows that have both), g = `ARS_WEIGHT`.

A set's accuracy is the mean over its evaluation seeds; a baseline's the mean over its sets' means
(raydd.results.cells). docs/evaluation.md lists every difference from DD-Ranking's own code.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from raydd.results.cells import SET_KEY
from raydd.results.table import order_students, with_setting_lr

LRS_WEIGHT = 0.5  # w: DD-Ranking's leaderboard default, IOR and HLR equally important
ARS_WEIGHT = 0.5  # g: DD-Ranking's default ars_lambda
RANDOM, WHOLE = "random_real", "whole_dataset"
BASELINES = (RANDOM, WHOLE)
# What one score row is computed under: the set and student, and the setting its accuracy was taken in.
SETTING = ("labels", "kd", "epochs", "augment", "lr", "selection", "eval_key")
SET_COLUMNS = (*SET_KEY, "method", "dataset", "ipc", "pool_name", "distill_key")
# The whole-data training has its own epochs (and its own evaluation key): matched on the rest.
WHOLE_MATCH = ("dataset", "student", "augment", "lr", "selection")
SCORE_COLUMNS = ("acc", "hard_acc", "random_acc", "whole_acc", "HLR", "IOR", "LRS", "ARS")


def normalised_score(x: float) -> float:
    """100 (e^x - e^-1) / (e - e^-1): x in [-1, 1] (fractions) onto [0, 100] percent."""
    return 100.0 * (math.exp(x) - math.exp(-1)) / (math.e - math.exp(-1))


def lrs(ior: float, hlr: float, weight: float = LRS_WEIGHT) -> float:
    """Label-robust score in percent from IOR and HLR given as fractions."""
    return normalised_score(weight * ior - (1 - weight) * hlr)


def ars(ior_augmented: float, ior_plain: float, weight: float = ARS_WEIGHT) -> float:
    """Augmentation-robust score in percent from the two IORs given as fractions."""
    return normalised_score(weight * ior_augmented + (1 - weight) * ior_plain)


def _keyed(frame: pd.DataFrame, columns) -> pd.Series:
    """Each row's values of `columns` as one string (a missing value, None or NaN, as "")."""
    if frame.empty:  # agg over no rows gives a frame, not a Series (no hard-label rows left by a filter)
        return pd.Series([], index=frame.index, dtype=str)
    values = frame[list(columns)].astype(object)
    return values.where(values.notna(), "").astype(str).agg("\x1f".join, axis=1)


def _baseline_accuracy(rows: pd.DataFrame, match: tuple[str, ...], metric: str) -> pd.Series:
    """Mean over a baseline's sets of each set's mean, per `match` key (as a joined string)."""
    if rows.empty:
        return pd.Series(dtype=float)
    per_set = rows.groupby([*match, *SET_KEY], dropna=False)[metric].mean().reset_index()
    return per_set.groupby(_keyed(per_set, match))[metric].mean()


def _baseline_for(per_set: pd.DataFrame, rows: pd.DataFrame, match: tuple[str, ...], metric: str) -> pd.Series:
    """Each set row's baseline accuracy: the baseline rows of the same `match` key; for a set whose
    students trained at its own learned lr (MTT's), those of the same key but `lr`, at the lr the
    setting gives the baseline, as DD-Ranking trains random and whole data at their own lr beside a
    set's `syn_lr` (NaN where that leaves several lrs to choose among)."""
    matched = _keyed(per_set, match).map(_baseline_accuracy(rows, match, metric))
    learned = per_set["learned_lr"].notna()
    if not learned.any():
        return matched
    own_lr = tuple(k for k in match if k != "lr")
    one_lr = rows.groupby(_keyed(rows, own_lr))["lr"].nunique(dropna=False) == 1 if not rows.empty else pd.Series(dtype=bool)
    at_own_lr = _baseline_accuracy(rows, own_lr, metric).where(one_lr)
    return matched.where(~learned, _keyed(per_set, own_lr).map(at_own_lr))


def _check_whole_is_unambiguous(whole: pd.DataFrame) -> None:
    settings = whole.drop_duplicates([*WHOLE_MATCH, "epochs"])
    repeated = settings[settings.duplicated(list(WHOLE_MATCH), keep=False)]
    if not repeated.empty:
        epochs = ", ".join(map(str, sorted(repeated["epochs"].unique())))
        raise ValueError(f"whole_dataset rows of one student and setting were trained for several epoch "
                         f"counts ({epochs}); keep one with --where, e.g. \"method != 'whole_dataset' or epochs == ...\"")


def scores(df: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """One row per (distilled set, student, setting) with its accuracies in percent and its scores
    (NaN where a baseline it needs was not evaluated)."""
    for column in ("distill_key", "learned_lr"):  # frames built by hand may lack the later columns
        df = df if column in df.columns else df.assign(**{column: None})
    sets = df[~df["method"].isin(BASELINES)]
    if sets.empty:
        raise ValueError("no distilled or foreign set among the rows: scores compare sets with the "
                         f"{RANDOM} and {WHOLE} baselines")
    per_set = (sets.groupby([*SET_COLUMNS, "learned_lr", "student", *SETTING], dropna=False)[metric]
               .agg(["mean", "size"]).reset_index().rename(columns={"mean": "acc", "size": "seeds"}))
    random_key = ("dataset", "ipc", "student", *SETTING)
    whole_rows = df[(df["method"] == WHOLE) & (df["labels"] == "hard") & ~df["kd"].astype(bool)]
    _check_whole_is_unambiguous(whole_rows)
    hard = per_set[(per_set["labels"] == "hard") & ~per_set["kd"].astype(bool)]
    hard_key = (*SET_KEY, "student", "epochs", "augment", "lr", "selection")
    hard_acc = hard.groupby(_keyed(hard, hard_key))["acc"].mean()
    out = per_set.assign(
        random_acc=_baseline_for(per_set, df[df["method"] == RANDOM], random_key, metric),
        whole_acc=_baseline_for(per_set, whole_rows, WHOLE_MATCH, metric),
        hard_acc=_keyed(per_set, hard_key).map(hard_acc),
    )
    out["IOR"] = out["acc"] - out["random_acc"]
    out["HLR"] = out["whole_acc"] - out["hard_acc"]
    out["LRS"] = [lrs(i, h) if not (np.isnan(i) or np.isnan(h)) else np.nan for i, h in zip(out["IOR"], out["HLR"])]
    out = _with_ars(out)
    for column in ("acc", "hard_acc", "random_acc", "whole_acc", "HLR", "IOR"):  # fractions -> percent (points)
        out[column] = out[column] * 100.0
    order = {name: i for i, name in enumerate(order_students(out["student"]))}
    return out.sort_values(["trial_key", "distill_seed"], kind="stable").sort_values(
        ["trial_key", "distill_seed", "student"], key=lambda c: c.map(order) if c.name == "student" else c,
        kind="stable").reset_index(drop=True)


def _with_ars(out: pd.DataFrame) -> pd.DataFrame:
    """ARS on each augmented row, from its IOR and the IOR of the same set, student, regime and
    selection without augmentation (epochs differ by the protocol: 300 plain, 1000 augmented)."""
    pair = (*SET_KEY, "student", "labels", "kd", "lr", "selection")
    plain = out[out["augment"] == "none"]
    if plain[list(pair)].duplicated().any():  # several plain settings: which one pairs is not clear
        return out.assign(ARS=np.nan)
    plain_ior = plain.set_index(_keyed(plain, pair))["IOR"]
    partner = _keyed(out, pair).map(plain_ior)
    values = [ars(i, p) if a != "none" and not (np.isnan(i) or np.isnan(p)) else np.nan
              for a, i, p in zip(out["augment"], out["IOR"], partner)]
    return out.assign(ARS=values)


SUMMARY_VALUES = ("acc", "HLR", "IOR", "LRS", "ARS")


def summary(scored: pd.DataFrame) -> pd.DataFrame:
    """The scores at the distillation-seed level: per (method, pool, ipc, student, setting), mean and
    population std over the sets (`d`) of each score. An MTT set's learned lr is the set's, not the
    setting's: the sets of one grid point share a row whatever lr each learned."""
    keys = ["method", "dataset", "ipc", "pool_name", "distill_key", "student", *SETTING]
    rows = []
    for key, group in with_setting_lr(scored).groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, key))
        row["d"] = len(group)
        for value in SUMMARY_VALUES:
            finite = group[value].dropna()
            row[f"{value}_mean"] = float(finite.mean()) if len(finite) else np.nan
            row[f"{value}_std"] = float(finite.std(ddof=0)) if len(finite) else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    order = {name: i for i, name in enumerate(order_students(out["student"]))}  # students in table order
    return out.sort_values(keys, key=lambda c: c.map(order) if c.name == "student" else c,
                           kind="stable").reset_index(drop=True)
