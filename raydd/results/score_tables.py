"""`raydd results show --scores`: DD-Ranking's scores per (set, student), then per setting over the
distilled sets, as aligned text, Markdown, CSV or JSON."""

from __future__ import annotations

import io
import json
import math

import pandas as pd

from raydd.kd_words import with_kd_words
from raydd.results.render import MISSING, TEST_MAX_NOTE, aligned_text
from raydd.results.schema import TEST_MAX
from raydd.results.scores import LRS_WEIGHT, SETTING, SUMMARY_VALUES, scores, summary

SCORE_FORMATS = ("table", "markdown", "csv", "json")
NOTE = (f"acc: the set's accuracy (%, mean over its evaluation seeds); HLR = whole-data accuracy - the set's "
        f"hard-label accuracy without KD, IOR = acc - random real images' accuracy under the same setting and "
        f"label regime (both in percentage points); LRS = 100 (e^a - e^-1)/(e - e^-1), a = {LRS_WEIGHT} IOR - "
        f"{1 - LRS_WEIGHT} HLR with IOR and HLR as fractions; ARS the same of 0.5 IOR(augmented) + "
        "0.5 IOR(not augmented) (both in %, 0-100); '-': a baseline was not evaluated. Summary: mean ± std "
        "(population) over the d distilled sets (distillation seeds). Differences from DD-Ranking's code: "
        "docs/evaluation.md")
SET_LABEL = ("trial_key", "method", "pool_name", "ipc", "student")


def _varying(frame: pd.DataFrame, columns) -> list[str]:
    return [c for c in columns if c in frame.columns and frame[c].astype(str).nunique() > 1]


def _number(value) -> str:
    return MISSING if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _per_set(scored: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    keys = ["trial_key", "student", *_varying(scored, ("method", "pool_name", "distill_key", "ipc", *SETTING))]
    values = ["acc", "hard_acc", "random_acc", "whole_acc", "HLR", "IOR", "LRS", "ARS"]
    body = [[str(row[k]) for k in keys] + [_number(row[v]) for v in values] for _, row in scored.iterrows()]
    return keys + values, body


def _summary(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    keys = ["method", "pool_name", "student", *_varying(table, ("distill_key", "ipc", *SETTING))]
    body = []
    for _, row in table.iterrows():
        cells = [f"{_number(row[f'{v}_mean'])} ± {_number(row[f'{v}_std'])}" if not math.isnan(row[f"{v}_mean"])
                 else MISSING for v in SUMMARY_VALUES]
        body.append([str(row[k]) for k in keys] + cells + [str(row["d"])])
    return keys + list(SUMMARY_VALUES) + ["d"], body


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *body]
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines)


def _note(scored: pd.DataFrame) -> str:
    return f"{TEST_MAX_NOTE}. {NOTE}" if (scored["selection"] == TEST_MAX).any() else NOTE


def render_scores(df: pd.DataFrame, fmt: str = "table", metric: str = "test_acc") -> str:
    """The scores of the rows in `df` in one of SCORE_FORMATS."""
    if fmt not in SCORE_FORMATS:
        raise ValueError(f"--scores prints {', '.join(SCORE_FORMATS)}, not {fmt}")
    scored = scores(df, metric)
    summed = summary(scored)
    scored, summed = with_kd_words(scored), with_kd_words(summed)  # printed only: kd reads off/on
    if fmt == "json":
        doc = {"metric": metric, "unit": "percent (HLR, IOR: percentage points)", "note": _note(scored),
               "per_set": json.loads(scored.to_json(orient="records")),
               "summary": json.loads(summed.to_json(orient="records"))}
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        scored.assign(level="set").to_csv(out, index=False)
        return out.getvalue()
    per_set, over_sets = _per_set(scored), _summary(summed)
    if fmt == "markdown":
        parts = [_markdown(*per_set), _markdown(*over_sets)]
    else:
        parts = [aligned_text(*per_set, keys=len(per_set[0]) - 8), aligned_text(*over_sets, keys=len(over_sets[0]) - 6)]
    return f"{parts[0]}\n\nover distilled sets:\n{parts[1]}\n\n{_note(scored)}\n"
