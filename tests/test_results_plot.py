"""Plots: one bar group per student, one bar per setting, predictable pixel size."""

import json

import matplotlib.image as mpimg
import numpy as np
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
    assert legend == ["ConvNet=0.9,+1, kd=off", "ConvNet=0.9,+1, kd=on", "ConvNet=1.0, kd=off", "ConvNet=1.0, kd=on"]


def _rows(cells: dict[tuple[str, bool], float], *, seeds=(0, 1), spread=0.01, students=("ConvNet", "MLP")) -> pd.DataFrame:
    """Rows of (pool, kd) cells of mean test accuracy `acc`, seed k at acc + spread * (k - mean seed)."""
    rows = []
    for (pool_name, kd), acc in cells.items():
        pool = {name: float(weight) for name, weight in (part.split("=") for part in pool_name.split(","))}
        kd_fields = {"teacher": "ConvNet", "alpha": 0.5, "temperature": 4.0} if kd else {}
        for seed in seeds:
            offset = spread * (seed - np.mean(seeds))
            rows += [make_row(pool_name=pool_name, pool=json.dumps(pool), pool_main_weight=next(iter(pool.values())),
                              trial_key=pool_name, student=student, kd=kd, eval_seed=seed, test_acc=acc + offset,
                              **kd_fields) for student in students]
    return pd.DataFrame(rows)


POOL_THREE = "ConvNet=0.9,ConvNetW64=0.05,ConvNetD2=0.05"


def test_the_value_axis_is_zoomed_to_the_data_not_from_zero():
    frame = _rows({("ConvNet=1.0", False): 0.78, (POOL_THREE, False): 0.92}, spread=0.02)
    ax = bar_figure(frame).axes[0]
    bottom = ax.get_ylim()[0]
    assert 0 < bottom < 77  # lowest mean - std: 78 - 1 points
    assert bottom >= 60  # close enough that a 14-point gap reads as one
    assert ax.get_ylim()[1] > 93


def test_legend_labels_are_short_and_never_the_full_pool():
    other = "ConvNet=0.9,LeNet=0.05,AlexNet=0.05"  # shortens as POOL_THREE does
    frame = _rows({("ConvNet=1.0", False): 0.8, (POOL_THREE, False): 0.82, ("ConvNet=0.9,MLP=0.1", True): 0.83})
    legend = [t.get_text() for t in bar_figure(frame).legends[0].get_texts()]
    assert legend == ["ConvNet=0.9,+2, kd=off", "ConvNet=0.9,+1, kd=on", "ConvNet=1.0, kd=off"]
    clash = _rows({(POOL_THREE, False): 0.8, (other, False): 0.82})
    labels = [t.get_text() for t in bar_figure(clash).legends[0].get_texts()]
    assert sorted(labels) == sorted([other, POOL_THREE])  # ambiguous when shortened: full names


def test_the_caption_gives_n_and_the_spread_convention(results_sample):
    caption = bar_figure(results_sample).get_supxlabel().replace("\n", " ")
    assert "n = 1×2 per bar" in caption and "d distilled sets (distillation seeds)" in caption
    assert "population std over seeds (ddof 0" in caption
    uneven = _rows({("ConvNet=1.0", False): 0.8}, seeds=(0, 1, 2))
    uneven = pd.concat([uneven, _rows({(POOL_THREE, False): 0.8})])
    assert "n = 1×2, 1×3 per bar" in bar_figure(uneven).get_supxlabel().replace("\n", " ")


def test_differences_to_a_baseline(results_sample):
    fig = bar_figure(results_sample, baseline={"pool_name": "ConvNet=1.0", "kd": "false"})
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    heights = [[round(p.get_height(), 6) for p in c.patches] for c in bars]
    assert heights == [[2.0, 4.0], [2.0, 6.0], [0.0, 2.0]]  # ConvNet, MLP minus the baseline's 50, 30
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "ConvNet=0.9,+1, kd=off", "ConvNet=0.9,+1, kd=on", "ConvNet=1.0, kd=on"]  # not the baseline itself
    errors = bars[0].errorbar.lines[2][0].get_segments()
    assert [round(seg[1][1] - seg[0][1], 6) for seg in errors] == [round(2 * 2 ** 0.5, 6)] * 2  # ± sqrt(1 + 1)
    assert ax.get_ylabel() == "test accuracy - baseline (points)"
    assert "difference to the baseline pool_name=ConvNet=1.0;kd=false" in fig.get_supxlabel().replace("\n", " ")
    assert not [t for t in ax.texts if t.get_text() in ("†", "‡")]  # n = 2: never significant


def test_a_significant_difference_is_marked_and_a_noisy_one_is_not():
    seeds = (0, 1, 2)
    clear = _rows({("ConvNet=1.0", False): 0.80, (POOL_THREE, False): 0.86}, seeds=seeds, spread=0.002, students=("MLP",))
    noisy = _rows({("ConvNet=1.0", False): 0.80, (POOL_THREE, False): 0.81}, seeds=seeds, spread=0.04, students=("MLP",))
    for frame, marks in ((clear, ["‡"]), (noisy, [])):  # one set a side: evaluation seeds only
        ax = bar_figure(frame, baseline={"pool_name": "ConvNet=1.0"}).axes[0]
        assert [t.get_text() for t in ax.texts] == marks


def test_plot_command_with_a_baseline(tmp_path):
    from click.testing import CliRunner

    from raydd.cli.main import cli
    from test_results_support import write_sample

    write_sample(tmp_path / "rows")
    out = tmp_path / "diff.png"
    result = CliRunner().invoke(cli, ["results", "plot", str(tmp_path / "rows"), "--out", str(out),
                                      "--vs-baseline", "pool_name=ConvNet=1.0;kd=false"])
    assert result.exit_code == 0, result.output
    assert out.exists()
    refused = CliRunner().invoke(cli, ["results", "plot", str(tmp_path / "rows"), "--out", str(tmp_path / "x.png"),
                                       "--vs-baseline", "pool_name=ConvNet=0.5"])
    assert refused.exit_code == 1 and "matches no row" in refused.output and not (tmp_path / "x.png").exists()


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
    assert [ax.get_title() for ax in panels] == ["kd=off", "kd=on"]
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


def _grid_png(directory, classes: int, ipc: int, side: int):
    """A grid.png laid out as raydd.core.artifact.save_grid draws it (a row of ipc images per
    class, 1 px apart), image (class c, position x) of grey level (c * ipc + x + 1) / 16."""
    height, width = classes * (side + 1) + 1, ipc * (side + 1) + 1
    grid = np.zeros((height, width))
    for c in range(classes):
        for x in range(ipc):
            top, left = 1 + c * (side + 1), 1 + x * (side + 1)
            grid[top:top + side, left:left + side] = (c * ipc + x + 1) / 16
    directory.mkdir(parents=True)
    mpimg.imsave(directory / "grid.png", np.stack([grid] * 3, axis=-1))
    return directory / "grid.png"


def test_the_contact_sheet_has_a_row_per_set_and_class_names_as_column_titles(tmp_path):
    from click.testing import CliRunner

    from raydd.cli.main import cli
    from raydd.results import contact_sheet_figure, write_rows

    grid = _grid_png(tmp_path / "set-a", classes=3, ipc=2, side=4)
    (tmp_path / "set-a" / "meta.json").write_text(json.dumps({"dataset": {"class_names": ["cat", "dog", "owl"]}}))
    rows = [make_row(trial_key="set-a", pool_name="A=1.0", pool={"A": 1.0}, ipc=2, synset_uri=str(tmp_path / "set-a"),
                     grid_png_uri=str(grid)),
            make_row(trial_key="set-b", pool_name="B=1.0", pool={"B": 1.0}, ipc=2, synset_uri=str(tmp_path / "set-b"),
                     grid_png_uri=str(tmp_path / "gone.png"))]
    frame = pd.DataFrame(rows)
    axes = np.array(contact_sheet_figure(frame).axes).reshape(2, 4)  # sets x (description + 3 classes)
    assert [ax.get_title() for ax in axes[0, 1:]] == ["cat", "dog", "owl"]
    assert "set-a" in axes[0, 0].texts[0].get_text() and "pool_name=A=1.0" in axes[0, 0].texts[0].get_text()
    dog = axes[0, 2].get_images()[0].get_array()[..., 0]  # class 1: its 2 images side by side, 1 px apart
    assert dog.shape == (4, 9)
    assert np.allclose(dog[:, :4], 3 / 16, atol=1 / 255) and np.allclose(dog[:, 5:], 4 / 16, atol=1 / 255)
    assert [t.get_text() for t in axes[1, 1].texts] == ["no image grid"] and not axes[1, 2].get_images()

    write_rows(rows, str(tmp_path / "rows"))
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(cli, ["results", "images", str(tmp_path / "rows"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert mpimg.imread(out).shape[:2] == (round((0.9 + 0.25) * 2 * 100 + 20), round((2.6 + 3 * 0.9) * 100))
    refused = CliRunner().invoke(cli, ["results", "images", str(tmp_path / "rows"), "--out", str(tmp_path / "s.gif")])
    assert refused.exit_code == 1 and "must end with one of .png" in refused.output and not (tmp_path / "s.gif").exists()


def test_a_grid_of_another_shape_is_not_cut_into_classes(tmp_path):
    from raydd.results.figures import _tiles

    assert _tiles(np.zeros((10, 12, 3)), ipc=5) is None
    assert _tiles(np.zeros((3 * 5 + 1, 2 * 5 + 1, 3)), ipc=2).shape == (3, 2, 4, 4, 3)


def test_plot_command_draws_several_locations_together(tmp_path):
    """A sweep's rows and a single run's rows go into one figure, one bar per setting of both."""
    from click.testing import CliRunner

    from raydd.cli.main import cli
    from raydd.results import write_rows
    from test_results_support import make_row, write_sample

    write_sample(tmp_path / "sweep")
    single = [make_row(sweep="raydd-evaluate", trial_key="dm-set", method="dm", pool_name="ConvNet=0.5",
                       eval_seed=seed, test_acc=0.4 + 0.01 * seed) for seed in range(2)]
    write_rows(single, str(tmp_path / "single"))
    out = tmp_path / "both.png"
    result = CliRunner().invoke(cli, ["results", "plot", str(tmp_path / "sweep"), str(tmp_path / "single"),
                                      "--out", str(out), "--by", "method,pool_name,kd"])
    assert result.exit_code == 0, result.output
    assert out.exists() and str(out) in result.output
    import pandas as pd

    from raydd.results import load
    from raydd.results.figures import bar_figure

    both = pd.concat([load(str(tmp_path / "sweep")), load(str(tmp_path / "single"))], ignore_index=True)
    legend = bar_figure(both, by=["method", "pool_name", "kd"]).legends[0]
    assert len(legend.get_texts()) == 5  # the sweep's four settings and the single run's one


def test_rows_without_a_pool_stay_out_of_the_pool_weight_figure(results_sample, tmp_path):
    """A baseline's rows (null pool weight) beside pooled ones: both figures are drawn."""
    import pandas as pd

    from raydd.results import plot
    from test_results_support import make_row

    baseline = pd.DataFrame([make_row(method="random_real", pool_name="-", pool="{}", pool_main_weight=None,
                                      eval_seed=seed) for seed in range(2)])
    both = pd.concat([results_sample, baseline.astype(results_sample.dtypes.to_dict())], ignore_index=True)
    paths = plot(both, tmp_path / "bars.png")
    assert [p.name for p in paths] == ["bars.png", "bars_pool_weight.png"] and all(p.exists() for p in paths)


def test_plot_reads_a_repeated_vs_baseline_as_show_does(tmp_path):
    from click.testing import CliRunner

    from raydd.cli.main import cli
    from test_results_support import POOL_SINGLE, write_sample

    write_sample(tmp_path / "rows")

    def plot_to(name: str, *baseline: str):
        args = [a for part in baseline for a in ("--vs-baseline", part)]
        result = CliRunner().invoke(cli, ["results", "plot", str(tmp_path / "rows"), "--out", str(tmp_path / name), *args])
        assert result.exit_code == 0, result.output
        return mpimg.imread(tmp_path / name)

    parts = plot_to("parts.png", f"pool_name={POOL_SINGLE}", "kd=off")
    assert np.array_equal(parts, plot_to("joined.png", f"pool_name={POOL_SINGLE};kd=off"))
    assert not np.array_equal(parts, plot_to("absolute.png"))  # the baseline was drawn, not ignored
    show = CliRunner().invoke(cli, ["results", "show", str(tmp_path / "rows"), "--format", "json",
                                    "--vs-baseline", f"pool_name={POOL_SINGLE}", "--vs-baseline", "kd=off"])
    assert [r["baseline"] for r in json.loads(show.stdout)["rows"]] == [False, False, True, False]


@pytest.mark.parametrize("parts, message", [(("kd=off", "kd=on"), "baseline key 'kd' is given twice"),
                                            (("ipc=1", "kd=yes"), "kd is off or on")])
def test_a_bad_repeated_vs_baseline_is_one_line_before_any_rows(tmp_path, parts, message):
    from click.testing import CliRunner

    from raydd.cli.main import cli

    args = [a for part in parts for a in ("--vs-baseline", part)]
    result = CliRunner().invoke(cli, ["results", "plot", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.png"), *args])
    assert result.exit_code == 1 and result.stdout == "" and result.stderr.count("\n") == 1
    assert message in result.stderr and "does not exist" not in result.stderr  # refused before reading
