"""Plots: one bar group per student, one bar per setting, predictable pixel size."""

import json

import matplotlib.image as mpimg
import pandas as pd
import pytest
from matplotlib.container import BarContainer

from raydd.results import bar_figure, plot, pool_weight_figure
from raydd.results.figures import DPI
from test_results_support import make_row


def test_bar_figure_groups_bars_by_student(results_sample):
    fig = bar_figure(results_sample)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 4  # one per setting (pool x kd)
    assert all(len(c.patches) == 2 for c in bars)  # one bar per student in each
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ConvNet", "MLP"]
    assert ax.get_ylabel() == "test accuracy (%)"
    heights = [round(p.get_height(), 6) for p in bars[1].patches]  # mixed pool, KD on
    assert heights == [52.0, 36.0]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "pool_name=ConvNet=1.0, kd=True" in legend


def test_plot_writes_pngs_of_the_figure_size(results_sample, tmp_path):
    out = tmp_path / "figs" / "acc.png"
    paths = plot(results_sample, out)
    assert paths == [out, tmp_path / "figs" / "acc_pool_weight.png"]  # the pool weight varies
    for path, fig in zip(paths, (bar_figure(results_sample), pool_weight_figure(results_sample))):
        height, width, _ = mpimg.imread(path).shape
        expected_w, expected_h = fig.get_size_inches() * DPI
        assert (width, height) == (round(expected_w), round(expected_h))


def test_pool_weight_figure_has_a_panel_per_kd_and_a_line_per_student(results_sample):
    fig = pool_weight_figure(results_sample)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["kd=False", "kd=True"]
    for ax in panels:
        assert [c.get_label() for c in ax.containers] == ["ConvNet", "MLP"]  # errorbar containers
        assert ax.get_xlabel() == "main-architecture weight in the pool"
    mlp_kd = panels[1].containers[1].lines[0]
    assert list(mlp_kd.get_xdata()) == [0.9, 1.0] and list(mlp_kd.get_ydata()) == pytest.approx([36, 32])


def test_no_pool_weight_figure_when_the_weight_is_fixed(tmp_path):
    frame = pd.DataFrame([make_row(kd=k, teacher="ConvNet" if k else None, alpha=0.5 if k else None,
                                   temperature=4.0 if k else None) for k in (False, True)])
    assert plot(frame, tmp_path / "one.png") == [tmp_path / "one.png"]


def test_plot_rejects_unknown_image_type(results_sample, tmp_path):
    with pytest.raises(ValueError, match="must end with one of .png"):
        plot(results_sample, tmp_path / "acc.gif")


def test_pools_with_different_partners_get_their_own_panels():
    """ConvNet 0.9 with ConvNetW64 and ConvNet 0.9 with LeNet are two curves, both ending at ConvNet=1.0."""
    pools = [({"ConvNet": 1.0}, 0.30), ({"ConvNet": 0.9, "ConvNetW64": 0.1}, 0.34),
             ({"ConvNet": 0.9, "LeNet": 0.1}, 0.28)]
    frame = pd.DataFrame([
        make_row(pool_name=",".join(f"{k}={v}" for k, v in pool.items()), pool=json.dumps(pool),
                 pool_main_weight=pool["ConvNet"], test_acc=acc)
        for pool, acc in pools])
    panels = [ax for ax in pool_weight_figure(frame).axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["partners=ConvNetW64", "partners=LeNet"]
    ys = [list(ax.containers[0].lines[0].get_ydata()) for ax in panels]
    assert ys == [pytest.approx([34, 30]), pytest.approx([28, 30])]


def test_the_contact_sheet_holds_every_sets_grid(tmp_path):
    import matplotlib.image as mpimg
    import numpy as np
    from click.testing import CliRunner

    from raydd.cli.main import cli
    from raydd.results import write_rows
    from test_results_support import make_row

    grid = tmp_path / "set-a" / "grid.png"
    grid.parent.mkdir()
    mpimg.imsave(grid, np.linspace(0, 1, 64 * 64).reshape(64, 64), cmap="gray")
    rows = [make_row(trial_key="set-a", pool_name="A=1.0", pool={"A": 1.0}, grid_png_uri=str(grid)),
            make_row(trial_key="set-b", pool_name="B=1.0", pool={"B": 1.0}, grid_png_uri=str(tmp_path / "gone.png"))]
    write_rows(rows, str(tmp_path / "rows"))
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(cli, ["results", "images", str(tmp_path / "rows"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    sheet = mpimg.imread(out)[..., 0]
    assert sheet.shape[1] == 2 * 320  # two panels of 3.2 in at 100 dpi side by side
    drawn = [(sheet[:, :320] < 0.9).mean(), (sheet[:, 320:] < 0.9).mean()]
    assert drawn[0] > 0.3 and drawn[1] < 0.05  # set-a's grid fills its panel; set-b's is missing
    refused = CliRunner().invoke(cli, ["results", "images", str(tmp_path / "rows"), "--out", str(tmp_path / "s.gif")])
    assert refused.exit_code == 1 and "must end with one of .png" in refused.output and not (tmp_path / "s.gif").exists()
