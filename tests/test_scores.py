"""DD-Ranking's scores from result rows: HLR, IOR, LRS and ARS per (set, student), their units,
like-with-like matching of label regimes, KD and selection, and `raydd results show --scores`."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner
from test_results_support import make_row

from raydd.cli.main import cli
from raydd.results import write_rows
from raydd.results.scores import ars, lrs, scores, summary

E = math.e


def _rows(method: str, means: dict, *, trial: str | None = None, seeds=(0, 1), distill_seed=0, **columns) -> list[dict]:
    """Rows of one set: student -> mean accuracy, its evaluation seeds at mean -/+ 0.01."""
    trial = trial or f"{method}-{distill_seed}"
    kd_fields = {"teacher": "ConvNet", "alpha": 0.5, "temperature": 4.0} if columns.get("kd") else {}
    pool = {} if method in ("random_real", "whole_dataset") else {"pool_name": "ConvNet=1.0"}
    extra = {"pool_name": "-", "pool": "{}", "pool_main_weight": None} if not pool else {}
    return [make_row(method=method, trial_key=trial, synset_uri=f"runs/{trial}", distill_seed=distill_seed,
                     student=student, eval_seed=seed, test_acc=acc + (0.01 if seed else -0.01),
                     **extra, **kd_fields, **columns)
            for student, acc in means.items() for seed in seeds]


def test_the_score_formulas_are_dd_rankings_with_accuracies_as_fractions():
    assert lrs(0.0, 0.0) == pytest.approx(100 * (1 - 1 / E) / (E - 1 / E))
    assert lrs(1.0, -1.0) == pytest.approx(100.0) and lrs(-1.0, 1.0) == pytest.approx(0.0)  # the [0, 100] ends
    assert lrs(0.2, 0.3) == pytest.approx(100 * (math.exp(0.5 * 0.2 - 0.5 * 0.3) - 1 / E) / (E - 1 / E))
    assert ars(0.1, 0.3) == pytest.approx(100 * (math.exp(0.2) - 1 / E) / (E - 1 / E))


def test_hlr_ior_and_lrs_per_set_and_student():
    rows = (_rows("dc", {"MLP": 0.60, "LeNet": 0.50}) + _rows("dc", {"MLP": 0.64, "LeNet": 0.54}, distill_seed=1)
            + _rows("random_real", {"MLP": 0.45, "LeNet": 0.40}, ipc=1)
            + _rows("random_real", {"MLP": 0.47, "LeNet": 0.42}, distill_seed=1)
            + _rows("whole_dataset", {"MLP": 0.88, "LeNet": 0.90}, ipc=0, epochs=5))
    scored = scores(pd.DataFrame(rows)).set_index(["trial_key", "student"])
    mlp = scored.loc[("dc-0", "MLP")]
    assert mlp["acc"] == pytest.approx(60.0) and mlp["random_acc"] == pytest.approx(46.0)  # over both draws
    assert mlp["IOR"] == pytest.approx(14.0) and mlp["HLR"] == pytest.approx(28.0)  # 88 - 60
    assert mlp["LRS"] == pytest.approx(lrs(0.14, 0.28))
    assert math.isnan(mlp["ARS"])  # nothing augmented
    over = summary(scores(pd.DataFrame(rows))).set_index("student").loc["MLP"]
    assert over["d"] == 2 and over["IOR_mean"] == pytest.approx(16.0) and over["IOR_std"] == pytest.approx(2.0)


def test_ior_compares_like_with_like_and_hlr_takes_the_hard_label_accuracy():
    soft = {"labels": "soft", "label_bytes": 400}
    rows = (_rows("dc", {"MLP": 0.60}) + _rows("dc", {"MLP": 0.70}, **soft)
            + _rows("dc", {"MLP": 0.66}, kd=True)
            + _rows("random_real", {"MLP": 0.40}) + _rows("random_real", {"MLP": 0.62}, **soft)
            + _rows("random_real", {"MLP": 0.50}, kd=True)
            + _rows("whole_dataset", {"MLP": 0.90}, ipc=0, epochs=3))
    scored = scores(pd.DataFrame(rows)).set_index(["labels", "kd"])["IOR"]
    assert scored[("hard", False)] == pytest.approx(20.0)
    assert scored[("soft", False)] == pytest.approx(8.0)  # soft set vs soft random, not vs hard random
    assert scored[("hard", True)] == pytest.approx(16.0)
    assert set(scores(pd.DataFrame(rows))["HLR"].round(6)) == {30.0}  # 90 - the hard, KD-off 60 for every regime


def test_test_max_rows_are_never_compared_with_validation_rows():
    rows = (_rows("dc", {"MLP": 0.60}, selection="test-max") + _rows("random_real", {"MLP": 0.40})
            + _rows("whole_dataset", {"MLP": 0.90}, ipc=0))
    (row,) = scores(pd.DataFrame(rows)).to_dict("records")
    assert math.isnan(row["IOR"]) and math.isnan(row["HLR"]) and math.isnan(row["LRS"])


def test_ars_pairs_the_augmented_and_the_plain_evaluation():
    rows = (_rows("dc", {"MLP": 0.60}) + _rows("dc", {"MLP": 0.70}, augment="dsa", epochs=50)
            + _rows("random_real", {"MLP": 0.40}) + _rows("random_real", {"MLP": 0.55}, augment="dsa", epochs=50))
    scored = scores(pd.DataFrame(rows)).set_index("augment")
    assert scored.loc["dsa", "ARS"] == pytest.approx(ars(0.15, 0.20)) and math.isnan(scored.loc["none", "ARS"])


def test_whole_data_of_several_epoch_counts_is_refused_in_one_line():
    rows = (_rows("dc", {"MLP": 0.60}) + _rows("whole_dataset", {"MLP": 0.90}, ipc=0, epochs=3)
            + _rows("whole_dataset", {"MLP": 0.92}, ipc=0, epochs=6, trial="w6"))
    with pytest.raises(ValueError, match=r"several epoch counts \(3, 6\)"):
        scores(pd.DataFrame(rows))


def test_show_scores_prints_per_set_and_over_sets(tmp_path):
    rows = (_rows("dc", {"MLP": 0.60}) + _rows("dc", {"MLP": 0.64}, distill_seed=1)
            + _rows("random_real", {"MLP": 0.40}) + _rows("whole_dataset", {"MLP": 0.90}, ipc=0, epochs=3))
    write_rows(rows, str(tmp_path))
    result = CliRunner().invoke(cli, ["results", "show", str(tmp_path), "--scores"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "HLR" in text and "LRS" in text and "over distilled sets" in text and "docs/evaluation.md" in text
    assert f"{lrs(0.20, 0.30):.2f}" in text  # dc-0: IOR 20 points, HLR 30 points
    doc = json.loads(CliRunner().invoke(cli, ["results", "show", str(tmp_path), "--scores", "--format", "json"]).output)
    assert doc["summary"][0]["d"] == 2 and doc["summary"][0]["IOR_mean"] == pytest.approx(22.0)


@pytest.mark.parametrize("args, message", [
    (["--scores", "--format", "latex"], "--scores prints table, markdown, csv, json, not latex"),
    (["--scores", "--vs-baseline", "kd=false"], "it takes no --images, --vs-baseline or --by"),
])
def test_show_scores_refuses_what_it_cannot_print(tmp_path, args, message):
    write_rows(_rows("dc", {"MLP": 0.6}), str(tmp_path))
    result = CliRunner().invoke(cli, ["results", "show", str(tmp_path), *args])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_rows_without_a_set_have_no_scores(tmp_path):
    write_rows(_rows("random_real", {"MLP": 0.4}), str(tmp_path))
    result = CliRunner().invoke(cli, ["results", "show", str(tmp_path), "--scores"])
    assert result.exit_code == 1 and "no distilled or foreign set among the rows" in result.output


def test_scores_name_kd_by_its_words(tmp_path):
    rows = (_rows("dc", {"MLP": 0.60}) + _rows("dc", {"MLP": 0.66}, kd=True)
            + _rows("random_real", {"MLP": 0.40}) + _rows("random_real", {"MLP": 0.45}, kd=True)
            + _rows("whole_dataset", {"MLP": 0.90}, ipc=0, epochs=3))
    write_rows(rows, str(tmp_path))
    result = CliRunner().invoke(cli, ["results", "show", str(tmp_path), "--scores", "--where", "kd == 'on' or ipc == 0"])
    assert result.exit_code == 0, result.output
    header, _, *body = result.output.split("\n\n")[0].splitlines()
    assert header.split()[:2] == ["trial_key", "student"] and "kd" not in header.split()  # one KD mode left
    assert body[0].split()[2:8] == ["66.00", "-", "45.00", "90.00", "-", "21.00"]  # no hard-label set left: HLR '-'
    doc = json.loads(CliRunner().invoke(cli, ["results", "show", str(tmp_path), "--scores", "--format", "json"]).output)
    assert {row["kd"] for row in doc["per_set"]} == {"off", "on"}
    text = CliRunner().invoke(cli, ["results", "show", str(tmp_path), "--scores"]).output
    kd_column = text.splitlines()[0].split().index("kd")
    assert {line.split()[kd_column] for line in text.split("\n\n")[0].splitlines()[2:]} == {"off", "on"}


def test_a_set_at_its_learned_lr_is_scored_against_the_baselines_at_their_own_lr():
    learned = {"lr": 0.0213, "learned_lr": 0.0213}  # an MTT set's students train at its own lr
    rows = (_rows("mtt", {"MLP": 0.60}, **learned) + _rows("mtt", {"MLP": 0.64}, distill_seed=1, **learned)
            + _rows("random_real", {"MLP": 0.45}) + _rows("whole_dataset", {"MLP": 0.88}, ipc=0, epochs=5))
    scored = scores(pd.DataFrame(rows)).set_index(["trial_key", "student"])
    mlp = scored.loc[("mtt-0", "MLP")]
    assert mlp["random_acc"] == pytest.approx(45.0) and mlp["IOR"] == pytest.approx(15.0)
    assert mlp["whole_acc"] == pytest.approx(88.0) and mlp["HLR"] == pytest.approx(28.0)
    assert mlp["LRS"] == pytest.approx(lrs(0.15, 0.28))


def test_sets_that_learned_different_lrs_share_their_grid_points_summary_row():
    rows = (_rows("mtt", {"MLP": 0.60}, lr=0.0213, learned_lr=0.0213)
            + _rows("mtt", {"MLP": 0.64}, distill_seed=1, lr=0.0187, learned_lr=0.0187)
            + _rows("random_real", {"MLP": 0.45}))
    over = summary(scores(pd.DataFrame(rows)))
    assert len(over) == 1 and over.loc[0, "d"] == 2 and math.isnan(over.loc[0, "lr"])
    assert over.loc[0, "IOR_mean"] == pytest.approx(17.0) and over.loc[0, "IOR_std"] == pytest.approx(2.0)


def test_a_learned_lr_set_gets_no_random_baseline_where_random_rows_of_its_setting_differ_in_lr():
    learned = {"lr": 0.0213, "learned_lr": 0.0213}
    rows = (_rows("mtt", {"MLP": 0.60}, **learned) + _rows("random_real", {"MLP": 0.45}, lr=0.01)
            + _rows("random_real", {"MLP": 0.55}, lr=0.05, trial="random_real-fast"))
    mlp = scores(pd.DataFrame(rows)).set_index(["trial_key", "student"]).loc[("mtt-0", "MLP")]
    assert math.isnan(mlp["random_acc"]) and math.isnan(mlp["IOR"])  # which lr is its baseline's is not clear


def test_a_set_at_the_protocol_lr_still_needs_random_rows_at_that_lr():
    rows = _rows("dc", {"MLP": 0.60}) + _rows("random_real", {"MLP": 0.45}, lr=0.05)
    mlp = scores(pd.DataFrame(rows)).set_index(["trial_key", "student"]).loc[("dc-0", "MLP")]
    assert math.isnan(mlp["IOR"])  # 0.01 against 0.05: not like with like
