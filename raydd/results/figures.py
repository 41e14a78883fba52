"""Figures over result rows, drawn with matplotlib's object API (no pyplot, no global backend).

`bar_figure`: one group of bars per student architecture, one bar per setting, error bars =
std over seeds. `pool_weight_figure`: accuracy against the main architecture's pool weight,
one line per student. `plot` saves both (the second only when the weight varies).
`contact_sheet`: every evaluated set's image grid on one page, titled with its settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from raydd.results.table import default_by, order_students, results_table, summarise

DPI = 100  # pixels = figsize (inches) x DPI, so a figure's pixel size is predictable
HEIGHT_IN = 5.0
POOL_WEIGHT_SUFFIX = "_pool_weight"
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
_METRIC_LABELS = {"test_acc": "test accuracy (%)", "val_acc": "validation accuracy (%)"}


def _label(setting: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in setting.items()) or "all rows"


def _bar_width_inches(n_students: int, n_settings: int) -> float:
    # room for every bar (about 0.25 in each) plus axis labels, within a readable page width
    return float(np.clip(2.5 + 0.25 * n_students * (n_settings + 1), 6.0, 16.0))


def bar_figure(df: pd.DataFrame, by: list[str] | None = None, metric: str = "test_acc") -> Figure:
    """Grouped bars: x = student architectures, one bar (container) per setting, yerr = std."""
    table = results_table(df, by=by, metric=metric)
    students, settings = list(table.students), table.settings
    labels = [_label(s) for s in settings]
    width_in = _bar_width_inches(len(students), len(settings))
    # two legend columns only when two labels fit side by side (~0.08 in per character)
    columns = 2 if len(settings) > 1 and max(map(len, labels)) * 0.08 * 2 + 1 < width_in else 1
    legend_rows = -(-len(settings) // columns)
    fig = Figure(figsize=(width_in, HEIGHT_IN + 0.2 * legend_rows), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    colours = _colours(len(settings))
    x = np.arange(len(students))
    width = 0.8 / len(settings)
    for i in range(len(settings)):
        means = table.mean.iloc[i].to_numpy(dtype=float)
        stds = np.nan_to_num(table.std.iloc[i].to_numpy(dtype=float))  # n=1: no error bar
        ax.bar(x - 0.4 + width * (i + 0.5), np.nan_to_num(means), width, yerr=stds, capsize=3,
               color=colours[i], label=labels[i])
    ax.set_xticks(x, students)
    ax.set_xlabel("student architecture")
    ax.set_ylabel(_METRIC_LABELS[metric])
    ax.set_title(f"{_METRIC_LABELS[metric][:-4]} per student (mean ± std over seeds)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.legend(loc="outside lower center", ncols=columns, fontsize="small")
    return fig


def _colours(n: int) -> list:
    """n distinguishable colours: tab10, then tab20, then evenly spaced viridis."""
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["viridis"](i / (n - 1)) for i in range(n)]


def _panel_grid(n_panels: int) -> tuple[int, int]:
    columns = min(n_panels, 3)
    return -(-n_panels // columns), columns


def _by_pool_partners(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Pools that share the main weight with different partners (ConvNet 0.9 + ConvNetW64 vs
    ConvNet 0.9 + LeNet) are different curves: add a `partners` key when there are several,
    and give each curve the single-architecture pool (weight 1.0) as its common end point."""
    partners = df["pool"].map(lambda pool: "+".join(list(json.loads(pool))[1:]))
    kinds = sorted(set(partners) - {""})
    if len(kinds) < 2:
        return df, []
    alone = df[partners == ""]
    parts = [df[partners == k].assign(partners=k) for k in kinds] + [alone.assign(partners=k) for k in kinds]
    return pd.concat(parts, ignore_index=True), ["partners"]


def pool_weight_figure(df: pd.DataFrame, metric: str = "test_acc") -> Figure:
    """Accuracy vs the main architecture's pool probability, one line per student; one panel per
    combination of the other grid axes that vary (e.g. ipc x kd) and of the main architecture's
    pool partners, so lines never mix settings."""
    others = [k for k in default_by(df) if k not in ("pool_name", "pool_warmup")]
    df, split = _by_pool_partners(df)
    others += split
    stats = summarise(df, others + ["pool_main_weight"])
    students = order_students(df["student"])
    colour = dict(zip(students, _colours(len(students))))
    panels = list(stats.groupby(others, dropna=False, sort=True)) if others else [((), stats)]
    rows, columns = _panel_grid(len(panels))
    fig = Figure(figsize=(4.5 * columns + 1.5, 3.5 * rows + 0.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False, sharey=True).ravel()
    for ax, (key, panel) in zip(axes, panels):
        key = key if isinstance(key, tuple) else (key,)
        for student in students:
            line = panel[panel["student"] == student].sort_values("pool_main_weight")
            ax.errorbar(line["pool_main_weight"], line[f"{metric}_mean"] * 100,
                        yerr=line[f"{metric}_std"].fillna(0) * 100, marker="o", capsize=3,
                        color=colour[student], label=student)
        ax.set_title(_label(dict(zip(others, key))), fontsize="medium")
        ax.set_xticks(sorted(df["pool_main_weight"].unique()))
        ax.set_xlabel("main-architecture weight in the pool")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel(_METRIC_LABELS[metric])
    fig.suptitle(f"{_METRIC_LABELS[metric][:-4]} vs pool weight (mean ± std over seeds)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", title="student")
    return fig


def pool_weight_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}{POOL_WEIGHT_SUFFIX}{out.suffix}")


def plot(df: pd.DataFrame, out: str | Path, by: list[str] | None = None,
         metric: str = "test_acc") -> list[Path]:
    """Save the bar figure to `out` and, when pool_main_weight varies, the pool-weight figure
    beside it (`<stem>_pool_weight<suffix>`). Returns the written paths."""
    out = Path(out)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"plot output {str(out)!r} must end with one of {', '.join(IMAGE_SUFFIXES)}")
    figures = [(out, bar_figure(df, by=by, metric=metric))]
    if df["pool_main_weight"].nunique() > 1:
        figures.append((pool_weight_path(out), pool_weight_figure(df, metric=metric)))
    for path, fig in figures:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    return [path for path, _ in figures]


SHEET_COLUMNS = 4  # image grids per row of a contact sheet
SHEET_CELL_IN = 3.2  # inches per grid, square


def contact_sheet(df: pd.DataFrame, out: str | Path) -> Path:
    """Save one figure holding the synthetic-image grid (`grid.png`) of every set in `df`, each
    titled with its trial key and the settings that vary; a set without a grid gets an empty panel
    saying so. Returns the written path."""
    import io

    from matplotlib.image import imread

    from raydd import storage
    from raydd.results.select import image_grids

    out = Path(out)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"contact sheet {str(out)!r} must end with one of {', '.join(IMAGE_SUFFIXES)}")
    sets = image_grids(df)
    columns = min(SHEET_COLUMNS, len(sets))
    rows = -(-len(sets) // columns)
    fig = Figure(figsize=(SHEET_CELL_IN * columns, (SHEET_CELL_IN + 0.4) * rows))
    settings = [c for c in sets.columns if c not in ("trial_key", "grid_png_uri")]
    for i, entry in enumerate(sets.itertuples(index=False)):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.set_axis_off()
        title = "\n".join([entry.trial_key, ", ".join(f"{k}={getattr(entry, k)}" for k in settings)])
        ax.set_title(title, fontsize=7)
        uri = entry.grid_png_uri
        if isinstance(uri, str) and storage.exists(uri):
            ax.imshow(imread(io.BytesIO(storage.read_bytes(uri)), format="png"))
        else:
            ax.text(0.5, 0.5, "no image grid", ha="center", va="center", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    return out
