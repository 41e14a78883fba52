"""Figures over result rows, drawn with matplotlib's object API (no pyplot, no global backend).

`bar_figure`: one group of bars per student architecture, one bar per setting, error bars =
std over seeds, on a value axis zoomed to the data (or differences to a baseline row). `pool_weight_figure`: accuracy against the main architecture's pool weight,
one line per student. `plot` saves both (the second only when the weight varies).
`contact_sheet`: every evaluated set's images on one page, a row per set, a column per class.
Every bar figure carries a caption with n and the spread convention (`raydd.stats`).
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from raydd.kd_words import shown
from raydd.outputs import check_replaceable, image_metadata, is_raydd_image, write_output
from raydd.results.schema import NO_POOL
from raydd.results.select import image_grids
from raydd.results.table import ResultsTable, default_by, order_students, results_table, summarise
from raydd.results.render import TEST_MAX_NOTE
from raydd.stats import SIGNIFICANCE_NOTE, SPREAD_NOTE, UNIT_NOTE

DPI = 100  # pixels = figsize (inches) x DPI, so a figure's pixel size is predictable
HEIGHT_IN = 5.0
POOL_WEIGHT_SUFFIX = "_pool_weight"
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
_METRIC_LABELS = {"test_acc": "test accuracy (%)", "val_acc": "validation accuracy (%)"}


def _label(setting: dict) -> str:
    return ", ".join(f"{k}={shown(k, v)}" for k, v in setting.items()) or "all rows"


def _short_pool(pool_name: str) -> str:
    """`ConvNet=0.9,ConvNetW64=0.05,ConvNetD2=0.05` -> `ConvNet=0.9,+2`: the main architecture and
    its weight, and how many others share the rest."""
    parts = pool_name.split(",")
    return parts[0] + (f",+{len(parts) - 1}" if len(parts) > 1 else "")


def _pool_labels(pool_names: list[str]) -> dict[str, str]:
    """Each pool's short label; pools whose short labels would coincide keep their full names."""
    short = {name: _short_pool(name) for name in dict.fromkeys(pool_names)}
    taken = Counter(short.values())
    return {name: label if taken[label] == 1 else name for name, label in short.items()}


BARE_KEYS = ("method", "dataset")  # values that name themselves in a legend (dc, random_real, cifar10)


def _legend_labels(settings: list[dict]) -> list[str]:
    """Short legend labels: the pool as `_pool_labels` gives it, methods and datasets bare,
    anything else as `key=value` (kd with its word: `kd=off`, `kd=on`)."""
    pools = _pool_labels([s["pool_name"] for s in settings if "pool_name" in s])

    def part(key: str, value) -> str | None:
        if key == "pool_name":
            return None if value == NO_POOL else pools[value]
        return str(value) if key in BARE_KEYS else f"{key}={shown(key, value)}"

    labels = [", ".join(p for p in (part(k, v) for k, v in s.items()) if p) for s in settings]
    return [label or "all rows" for label in labels]


def _bar_width_inches(n_students: int, n_settings: int) -> float:
    # room for every bar (about 0.25 in each) plus axis labels, within a readable page width
    return float(np.clip(2.5 + 0.25 * n_students * (n_settings + 1), 6.0, 16.0))


@dataclass(frozen=True)
class _Bars:
    """What the bar figure draws: one row of heights and error bars per setting shown."""

    rows: list[int]  # positions in the table
    heights: np.ndarray  # settings x students
    errors: np.ndarray
    marks: np.ndarray  # str, settings x students: a significant difference's mark (†, ‡) or ""
    ylabel: str
    caption: str


def _n_text(table: ResultsTable) -> str:
    """`n = d×e` of the bars (a range of them when cells differ)."""
    counts = sorted({table.cell(r, s).n_text() for r in range(len(table.mean)) for s in table.students
                     if not np.isnan(float(table.mean[s].iloc[r]))})
    return f"n = {counts[0]}" if len(counts) == 1 else f"n = {', '.join(counts)}"


def _caption_head(table: ResultsTable) -> str:
    return f"{TEST_MAX_NOTE}. " if table.test_max else ""


def _zoomed_bottom(heights: np.ndarray, errors: np.ndarray) -> float:
    """A value-axis start a little below the lowest mean - std, on a multiple of 5 points, so that
    bars of 78-92 % do not all look alike; never below 0."""
    low, high = np.nanmin(heights - errors), np.nanmax(heights + errors)
    margin = max(0.15 * (high - low), 1.0)
    return float(max(0.0, np.floor((low - margin) / 5.0) * 5.0))


def _absolute_bars(table: ResultsTable) -> _Bars:
    heights = table.mean.to_numpy(dtype=float)
    errors = np.nan_to_num(table.std.to_numpy(dtype=float))  # n=1: no error bar
    caption = (f"{_caption_head(table)}{_n_text(table)} per bar; {UNIT_NOTE}; error bars: ± that std, "
               f"{SPREAD_NOTE}")
    return _Bars(list(range(len(heights))), heights, errors, np.full(heights.shape, ""),
                 _METRIC_LABELS[table.metric], caption)


def _difference_bars(table: ResultsTable, baseline: dict) -> _Bars:
    """Each non-baseline setting minus its baseline row, with the spread of that difference."""
    base_of = _baseline_rows(table, baseline)
    rows = [r for r in range(len(table.mean)) if r not in table.baseline]
    if not rows:
        raise ValueError("every row of the table is a baseline row: no differences to plot")
    std = table.std.to_numpy(dtype=float)
    base = [base_of[r] for r in rows]
    errors = np.nan_to_num(np.sqrt(std[rows] ** 2 + std[base] ** 2))
    marks = np.array([[table.mark(r, s) for s in table.students] for r in rows], dtype=object)
    named = ";".join(f"{k}={v}" for k, v in baseline.items())
    caption = (f"{_caption_head(table)}bars: difference to the baseline {named} (points); {_n_text(table)} "
               f"per bar; {UNIT_NOTE}; error bars: ± sqrt(std² + std of the baseline²), {SPREAD_NOTE}; "
               f"{SIGNIFICANCE_NOTE}")
    return _Bars(rows, table.diff.to_numpy(dtype=float)[rows], errors, marks,
                 f"{_METRIC_LABELS[table.metric][:-4]} - baseline (points)", caption)


def _baseline_rows(table: ResultsTable, baseline: dict) -> list[int]:
    """Each row's baseline row: the one that agrees with it on the keys `baseline` does not name."""
    free = [k for k in table.by if k not in baseline]
    settings = table.settings
    base_of = {tuple(settings[b][k] for k in free): b for b in table.baseline}
    return [base_of[tuple(s[k] for k in free)] for s in settings]


def bar_figure(df: pd.DataFrame, by: list[str] | None = None, metric: str = "test_acc",
               baseline: dict | None = None) -> Figure:
    """Grouped bars: x = student architectures, one bar (container) per setting, yerr = std over
    seeds, the value axis zoomed to the data; with `baseline` ({key: value}, see
    `parse_baseline`), each setting's difference to its baseline row instead, marked † where
    significant. A caption under the axes gives n and the spread convention."""
    table = results_table(df, by=by, metric=metric, baseline=baseline)
    bars = _difference_bars(table, baseline) if baseline else _absolute_bars(table)
    students = list(table.students)
    labels = _legend_labels([table.settings[r] for r in bars.rows])
    # the legend right of the axes (~0.07 in per small character), the caption under them
    legend_in = 0.6 + 0.07 * max(map(len, labels))
    width_in = _bar_width_inches(len(students), len(labels)) + legend_in
    caption = textwrap.fill(bars.caption, width=int(width_in * 14))  # ~14 small characters per inch
    fig = Figure(figsize=(width_in, HEIGHT_IN + 0.2 * caption.count("\n")), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    colours = _colours(len(labels))
    x = np.arange(len(students))
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        centres = x - 0.4 + width * (i + 0.5)
        heights = np.nan_to_num(bars.heights[i])
        ax.bar(centres, heights, width, yerr=bars.errors[i], capsize=3, color=colours[i], label=label)
        for centre, top, marked in zip(centres, heights + bars.errors[i], bars.marks[i]):
            if marked:
                ax.annotate(marked, (centre, top), ha="center", va="bottom")
    if baseline:
        ax.axhline(0.0, color="black", linewidth=0.8)
    else:
        ax.set_ylim(bottom=_zoomed_bottom(bars.heights, bars.errors))
    ax.set_xticks(x, students)
    ax.set_xlabel("student architecture")
    ax.set_ylabel(bars.ylabel)
    ax.set_title(f"{_METRIC_LABELS[metric][:-4]} per student" + (", against the baseline" if baseline else "")
                 + (" (TEST-MAX: best over epochs on the test set, comparison only)" if table.test_max else ""))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.legend(loc="outside right upper", fontsize="small")
    fig.supxlabel(caption, fontsize="small")
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


def plot_figures(df: pd.DataFrame, by: list[str] | None = None, metric: str = "test_acc",
                 baseline: dict | None = None) -> list[Figure]:
    """The figures `plot` saves: the bar figure and, when pool_main_weight varies, the pool-weight
    figure."""
    figures = [bar_figure(df, by=by, metric=metric, baseline=baseline)]
    pooled = df[df["pool_main_weight"].notna()]  # baselines and foreign sets have no pool
    if pooled["pool_main_weight"].nunique() > 1:
        figures.append(pool_weight_figure(pooled, metric=metric))
    return figures


def check_image_out(out: str | Path, what: str, force: bool = False) -> Path:
    """`out` as an image path raydd may write: a known suffix, and no existing file raydd did not
    write unless `force` (`raydd.outputs`)."""
    out = Path(out)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{what} {str(out)!r} must end with one of {', '.join(IMAGE_SUFFIXES)}")
    check_replaceable(out, is_raydd_image, "an image", force)
    return out


def save_figure(fig: Figure, out: Path) -> Path:
    """Save `fig` marked as raydd's, atomically: a failure leaves an earlier `out` as it was."""
    fmt = out.suffix.lower()[1:]
    return write_output(out, lambda handle: fig.savefig(handle, format=fmt, dpi=DPI, metadata=image_metadata(out)))


def plot(df: pd.DataFrame, out: str | Path, by: list[str] | None = None,
         metric: str = "test_acc", baseline: dict | None = None, force: bool = False) -> list[Path]:
    """Save the bar figure (of differences to `baseline` when given) to `out` and, when
    pool_main_weight varies, the pool-weight figure beside it (`<stem>_pool_weight<suffix>`).
    Every path is checked (`check_image_out`) before any is written. Returns the written paths."""
    out = Path(out)
    figures = list(zip([out, pool_weight_path(out)], plot_figures(df, by=by, metric=metric, baseline=baseline)))
    for path, _ in figures:
        check_image_out(path, "plot output", force)
    return [save_figure(fig, path) for path, fig in figures]


SHEET_CELL_IN = 0.9  # inches per class column of a contact sheet (and per set row)
SHEET_LABEL_IN = 2.6  # inches for the set's description left of its row
SHEET_PADDING = 1  # pixels around each image in grid.png (raydd.core.artifact.save_grid)


@dataclass(frozen=True)
class _SetImages:
    """One synthetic set's images per class, cut out of its grid.png."""

    class_names: tuple[str, ...]
    blocks: tuple[np.ndarray, ...]  # per class: its ipc images in a near-square block


def _tiles(grid: np.ndarray, ipc: int) -> np.ndarray | None:
    """grid.png (one row of `ipc` square images per class, 1 px apart) as classes x ipc images of
    RGB(A); None when its shape is not that of such a grid."""
    if grid.ndim == 2:  # a grey PNG
        grid = np.stack([grid] * 3, axis=-1)
    height, width = grid.shape[:2]
    step, rest = divmod(width - SHEET_PADDING, ipc)  # one image and the padding after it
    classes, rest_h = divmod(height - SHEET_PADDING, step) if step > SHEET_PADDING else (0, 1)
    if rest or rest_h or classes < 1:
        return None
    side = step - SHEET_PADDING

    def tile(y: int, x: int) -> np.ndarray:
        top, left = SHEET_PADDING + y * step, SHEET_PADDING + x * step
        return grid[top:top + side, left:left + side]

    return np.stack([np.stack([tile(y, x) for x in range(ipc)]) for y in range(classes)])


def _block(images: np.ndarray) -> np.ndarray:
    """A class's images in a near-square block (ipc 10 -> 4 x 3), 1 px of white between them."""
    count, side = len(images), images.shape[1]
    columns = int(np.ceil(np.sqrt(count)))
    rows = -(-count // columns)
    step = side + SHEET_PADDING
    block = np.ones((rows * step - SHEET_PADDING, columns * step - SHEET_PADDING, images.shape[3]), images.dtype)
    for i, image in enumerate(images):
        y, x = divmod(i, columns)
        block[y * step:y * step + side, x * step:x * step + side] = image
    return block


def _class_names(synset_uri: str, count: int) -> tuple[str, ...]:
    """The dataset's class names from the set's meta.json; their numbers when it cannot be read."""
    from raydd import storage

    try:
        names = json.loads(storage.read_text(storage.join(synset_uri, "meta.json")))["dataset"]["class_names"]
    except (OSError, ValueError, KeyError, TypeError):
        names = None
    if not isinstance(names, list) or len(names) != count:
        return tuple(str(c) for c in range(count))
    return tuple(map(str, names))


def _set_images(grid_uri, synset_uri: str, ipc: int) -> _SetImages | None:
    """A set's images per class, or None when its grid is missing or not shaped as raydd draws it."""
    import io

    from matplotlib.image import imread

    from raydd import storage

    if not isinstance(grid_uri, str) or not storage.exists(grid_uri):
        return None
    tiles = _tiles(imread(io.BytesIO(storage.read_bytes(grid_uri)), format="png"), ipc)
    if tiles is None:
        return None
    return _SetImages(_class_names(synset_uri, len(tiles)), tuple(_block(t) for t in tiles))


def contact_sheet_figure(df: pd.DataFrame) -> Figure:
    """Every set in `df` on one page: a row per set (its trial key and the settings that vary on
    the left), a column per class with the class's name as the column title (repeated on a row
    whose dataset has other classes); a set without a readable grid says so."""
    sets = image_grids(df)
    facts = df.drop_duplicates("trial_key").set_index("trial_key")
    images = [_set_images(entry.grid_png_uri, facts.at[entry.trial_key, "synset_uri"],
                          int(facts.at[entry.trial_key, "ipc"])) for entry in sets.itertuples(index=False)]
    classes = max([len(i.blocks) for i in images if i is not None], default=1)
    fig = Figure(figsize=(SHEET_LABEL_IN + SHEET_CELL_IN * classes, (SHEET_CELL_IN + 0.25) * len(sets) + 0.2),
                 dpi=DPI, layout="constrained")
    axes = fig.subplots(len(sets), classes + 1, squeeze=False,
                        gridspec_kw={"width_ratios": [SHEET_LABEL_IN / SHEET_CELL_IN] + [1] * classes})
    settings = [c for c in sets.columns if c not in ("trial_key", "grid_png_uri")]
    titled: tuple[str, ...] = ()
    for row, (entry, found) in zip(axes, zip(sets.itertuples(index=False), images)):
        for ax in row:
            ax.set_axis_off()
        text = "\n".join([entry.trial_key] + [f"{k}={getattr(entry, k)}" for k in settings])
        row[0].text(0.0, 0.5, text, ha="left", va="center", fontsize=7, transform=row[0].transAxes)
        if found is None:
            row[1].text(0.0, 0.5, "no image grid", ha="left", va="center", fontsize=7, transform=row[1].transAxes)
            continue
        for ax, name, block in zip(row[1:], found.class_names, found.blocks):
            ax.imshow(block)
            if found.class_names != titled:
                ax.set_title(name, fontsize=7)
        titled = found.class_names
    return fig


def contact_sheet(df: pd.DataFrame, out: str | Path, force: bool = False) -> Path:
    """Save `contact_sheet_figure(df)` to `out` (.png, .svg or .pdf), checked as `check_image_out`
    does; returns the written path."""
    out = check_image_out(out, "contact sheet", force)
    return save_figure(contact_sheet_figure(df), out)
