"""`raydd evaluate` on what an MTT set carries: ZCA-whitened images are judged on real data whitened
the same way, and a learned lr trains the students (recorded in the result rows)."""

import math

import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.core.artifact import SyntheticSet, build_meta, save_synset
from raydd.core.datasets import load_dataset
from raydd.core.datasets.zca import fit_zca, zca_record
from raydd.core.distill import DistillConfig
from raydd.core.evaluate import random_real
from raydd.core.pool import PoolSpec

LEARNED_LR = 0.0234
FAST = ["--students", "MLP", "--kd", "off", "--seeds", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


def mtt_set(directory, data, ipc, whitened: bool, learned_lr=LEARNED_LR):
    """A set as `distill --method mtt` writes one: real images (whitened with the training split's
    ZCA when `whitened`), the learned lr and ZCA record in its meta."""
    zca = fit_zca(data.train, data.info) if whitened else None
    images, labels = random_real(data, ipc, seed=0)
    if zca is not None:
        images = zca.whiten_split(type(data.train)(images, labels), data.info).images
    cfg = DistillConfig(dataset="digits", method="mtt", ipc=ipc, iterations=0, pool=PoolSpec.single("MLP"),
                        max_start_epoch=1, expert_epochs=1)
    meta = build_meta(cfg, data.info, 0, 0.0, val_size=data.val_size, split_seed=data.split_seed)
    meta.update(learned_lr=learned_lr, zca=None if zca is None else zca_record(zca))
    return save_synset(SyntheticSet(images, labels, meta), directory), zca


@pytest.fixture
def rates(monkeypatch) -> list[float]:
    """The lr of every SGD optimiser made while the test runs, in order."""
    made: list[float] = []
    sgd = torch.optim.SGD

    class Recording(sgd):
        def __init__(self, params, lr, **kw):
            made.append(lr)
            super().__init__(params, lr, **kw)

    monkeypatch.setattr(torch.optim, "SGD", Recording)
    return made


def test_a_zca_set_is_evaluated_on_real_data_whitened_the_same_way(tmp_path, data, monkeypatch):
    from raydd.core.evaluate import protocol

    path, zca = mtt_set(tmp_path / "zca", data, ipc=10, whitened=True)
    seen = []
    measure = protocol.member_accuracies
    monkeypatch.setattr(protocol, "member_accuracies", lambda model, images, *rest: (
        seen.append(images.detach().cpu().clone()), measure(model, images, *rest))[1])
    result = CliRunner().invoke(cli, ["evaluate", str(path), *FAST, "--epochs", "300", "--json"])
    assert result.exit_code == 0, result.output
    assert "real data whitened by the set's ZCA" in result.output
    whitened_test = zca.whiten_split(data.test, data.info).images
    assert any(len(x) == len(whitened_test) and torch.allclose(x, whitened_test, atol=1e-5) for x in seen)
    assert not any(len(x) == len(data.test) and torch.allclose(x, data.test.images, atol=1e-3) for x in seen)
    accuracy = float(result.output.split('"test_acc": ')[1].split(",")[0])
    assert accuracy > 0.5  # chance is 0.1


def test_the_learned_lr_reaches_the_optimizer_and_the_rows(tmp_path, data, rates):
    path, _ = mtt_set(tmp_path / "lr", data, ipc=1, whitened=False)
    learned = CliRunner().invoke(cli, ["evaluate", str(path), *FAST, "--epochs", "1", "--out", str(tmp_path / "a")])
    assert learned.exit_code == 0, learned.output
    assert rates == [LEARNED_LR] and "students train at the set's learned lr 0.0234" in learned.output
    protocol_lr = CliRunner().invoke(cli, ["evaluate", str(path), *FAST, "--epochs", "1", "--protocol-lr",
                                           "--out", str(tmp_path / "b")])
    assert protocol_lr.exit_code == 0, protocol_lr.output
    assert rates == [LEARNED_LR, 0.01]
    (a,) = pq.read_table(tmp_path / "a").to_pylist()
    (b,) = pq.read_table(tmp_path / "b").to_pylist()
    assert (a["lr"], a["learned_lr"]) == (LEARNED_LR, LEARNED_LR)
    assert b["lr"] == 0.01 and b["learned_lr"] is None


def test_rows_written_before_learned_lr_read_it_as_null(tmp_path):
    from raydd.results import load
    from raydd.results.schema import to_table
    from test_results_support import make_row

    pq.write_table(to_table([make_row()]).drop_columns(["learned_lr"]), tmp_path / "old.parquet")
    assert math.isnan(load(str(tmp_path)).iloc[0]["learned_lr"])


@pytest.mark.parametrize("change, args, message", [
    ({"learned_lr": -0.001}, [], "the set's learned lr is -0.001, which cannot train a student"),
    ({"zca": {"eps": 0.1, "fitted_on": "train", "fitted_images": 7}}, [],
     "fitted on 7 training images; this digits training split holds"),
    ({}, ["--labels", "soft", "--whole-epochs", "1"], "is ZCA-whitened; --labels soft would have it labelled"),
])
def test_what_a_set_carries_is_refused_in_one_line_when_unusable(tmp_path, data, monkeypatch, change, args, message):
    import json

    from raydd.core.evaluate import sets

    path, _ = mtt_set(tmp_path / "bad", data, ipc=1, whitened=True)
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, **change}))
    monkeypatch.setattr(sets, "train_teachers", lambda *a, **k: pytest.fail("a net was trained"))
    monkeypatch.setattr(sets, "evaluate_seeds", lambda *a, **k: pytest.fail("a student was trained"))
    result = CliRunner().invoke(cli, ["evaluate", str(path), *FAST, "--epochs", "1", *args])
    assert result.exit_code in (1, 2) and message in result.output, result.output
    assert len([line for line in result.output.splitlines() if line.startswith("Error")]) == 1


def test_an_mtt_set_exports_its_learned_lr_and_says_it_is_whitened(tmp_path, data):
    import json

    path, _ = mtt_set(tmp_path / "zca", data, ipc=1, whitened=True)
    exported = CliRunner().invoke(cli, ["export", str(path), "--format", "mtt", "--out", str(tmp_path / "m")])
    assert exported.exit_code == 0, exported.output
    assert float(torch.load(tmp_path / "m" / "lr_best.pt")) == pytest.approx(LEARNED_LR)
    assert json.loads((tmp_path / "m" / "raydd-export.json").read_text())["zca"] is True
    folder = CliRunner().invoke(cli, ["export", str(path), "--format", "image-folder", "--out", str(tmp_path / "f")])
    assert folder.exit_code == 1 and "this set is ZCA-whitened" in folder.output
    assert not (tmp_path / "f").exists()


def test_a_set_of_another_code_is_evaluated_at_the_lr_it_carries(tmp_path, data, rates):
    path, _ = mtt_set(tmp_path / "set", data, ipc=1, whitened=False)
    exported = tmp_path / "mtt_layout"
    assert CliRunner().invoke(cli, ["export", str(path), "--format", "mtt", "--out", str(exported)]).exit_code == 0
    result = CliRunner().invoke(cli, ["evaluate", str(exported), "--dataset", "digits", *FAST, "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert rates == [pytest.approx(LEARNED_LR)] and "students train at the set's learned lr" in result.output
