"""The report's pictures: `results plot`'s figures and each set's contact sheet, as data: URIs."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass

import pandas as pd

from raydd.results.figures import DPI, contact_sheet_figure, plot_figures
from raydd.results.select import image_grids


@dataclass(frozen=True)
class Picture:
    caption: str
    uri: str  # data:image/png;base64,...


def png_uri(figure) -> str:
    """A matplotlib figure as an inline PNG, at the size `results plot` saves it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_pictures(df: pd.DataFrame, metric: str, baseline: dict | None) -> list[Picture]:
    bars = "difference to the baseline row" if baseline else "accuracy"
    captions = [f"{bars} per student, one bar per setting", "accuracy against the main architecture's pool weight"]
    figures = plot_figures(df, metric=metric, baseline=baseline)
    return [Picture(caption, png_uri(figure)) for caption, figure in zip(captions, figures)]


def sheet_pictures(df: pd.DataFrame) -> list[Picture]:
    """One contact sheet per synthetic set (a row of its images per class), as `results images`
    draws each set's row."""
    keys = image_grids(df)["trial_key"]
    return [Picture(f"set {key}", png_uri(contact_sheet_figure(df[df["trial_key"] == key]))) for key in keys]


def figure_html(picture: Picture) -> str:
    caption = html.escape(picture.caption)
    return f'<figure><img src="{picture.uri}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'
