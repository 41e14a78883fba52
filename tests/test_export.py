"""`raydd export`: a raydd set in the layouts of DatasetCondensation, MTT, DD-Ranking and an image
folder, read back by raydd's own import as the same tensors and evaluated to the same accuracy;
and a DC res_*.pt from the original code's default noise initialisation evaluated as it is."""

from __future__ import annotations

import json
import re

import pytest
import torch
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.core.artifact import SyntheticSet, build_meta, save_synset
from raydd.core.datasets import DATASETS, denormalize, load_dataset
from raydd.core.datasets.types import normalize_
from raydd.core.distill import DistillConfig
from raydd.core.evaluate import random_real
from raydd.core.export import ExportError, export_set
from raydd.core.foreign import ForeignSetError, load_foreign_set

INFO = DATASETS.get("digits").info
TENSOR_FORMATS = ("dc", "mtt", "dd-ranking")
PIXEL_STEP = 1 / 255 / min(INFO.std)  # an 8-bit PNG rounds each pixel by up to half a step


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


def _meta(data, ipc: int = 2) -> dict:
    return build_meta(DistillConfig(dataset="digits", ipc=ipc, iterations=0, pool="ConvNetW32"), INFO, 0, 0.0,
                      val_size=data.val_size, split_seed=data.split_seed)


@pytest.fixture(scope="module")
def noise_set(data):
    """A set as DC distils from its default noise initialisation: 5 iterations on noise images."""
    from raydd.core.distill import Distiller

    cfg = DistillConfig(dataset="digits", ipc=2, iterations=5, pool="ConvNetW32", init="noise", batch_real=16, seed=1,
                        outer_loop=1, inner_loop=1)
    distiller = Distiller(cfg, data, "cpu")
    for _ in range(cfg.iterations):
        distiller.step()
    return distiller.synthetic_set()


@pytest.fixture(scope="module")
def sets(data, noise_set):
    images, labels = random_real(data, 2, seed=0)
    soft = 0.7 * torch.nn.functional.one_hot(labels, 10).float() + 0.03
    return {"real": SyntheticSet(images, labels, _meta(data)), "noise": noise_set,
            "soft": SyntheticSet(images, labels, _meta(data), soft)}


def _exported(sets, tmp_path, name: str, fmt: str):
    out = tmp_path / f"{name}-{fmt}"
    files = export_set(sets[name], fmt, out)
    return files[0] if fmt == "dc" else out


@pytest.mark.parametrize("fmt", ["dc", "mtt", "dd-ranking", "image-folder"])
@pytest.mark.parametrize("name", ["real", "noise"])
def test_export_then_import_gives_the_same_tensors(sets, tmp_path, fmt, name):
    synset = sets[name]
    back = load_foreign_set(_exported(sets, tmp_path, name, fmt), INFO)
    assert torch.equal(back.labels, synset.labels) and back.ipc == 2  # sets are in class order already
    if fmt == "image-folder":  # 8-bit pixels in [0, 1]: rounded, and clipped where distillation left [0, 1]
        pixels = denormalize(synset.images.clone(), INFO).clamp(0, 1)
        assert (back.images - normalize_(pixels, INFO)).abs().max() <= PIXEL_STEP / 2 + 1e-5
    else:
        assert torch.equal(back.images, synset.images) and back.self_described


@pytest.mark.parametrize("fmt", ["mtt", "dd-ranking"])
def test_soft_labels_survive_the_layouts_that_carry_them(sets, tmp_path, fmt):
    back = load_foreign_set(_exported(sets, tmp_path, "soft", fmt), INFO)
    assert torch.allclose(back.soft_labels, sets["soft"].soft_labels, atol=1e-6)


def test_each_layout_is_what_its_code_reads(sets, tmp_path):
    synset = sets["real"]
    (dc,) = [p for p in export_set(synset, "dc", tmp_path / "dc")]
    assert dc.name == "res_DC_digits_ConvNetW32_2ipc.pt"
    content = torch.load(dc, weights_only=True)
    assert set(content) == {"data", "accs_all_exps", "raydd"} and len(content["data"]) == 1
    assert torch.equal(content["data"][0][0], synset.images) and content["data"][0][1].dtype == torch.int64
    mtt = tmp_path / "mtt"
    export_set(synset, "mtt", mtt)
    assert torch.equal(torch.load(mtt / "labels_best.pt"), synset.labels) and not (mtt / "lr_best.pt").exists()
    ranking = tmp_path / "ranking"
    export_set(sets["soft"], "dd-ranking", ranking)
    logits = torch.load(ranking / "labels.pt")
    assert torch.allclose(torch.softmax(logits, 1), sets["soft"].soft_labels, atol=1e-6)  # DD-Ranking's SCE at T 1
    folder = tmp_path / "pngs"
    export_set(synset, "image-folder", folder)
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [str(c) for c in range(10)]
    assert json.loads((folder / "raydd-export.json").read_text())["normalized"] is False


def _accuracy(path, *extra) -> list:
    result = CliRunner().invoke(cli, ["evaluate", str(path), *extra, "--json", "--kd", "off", "--students", "MLP",
                                      "--seeds", "1", "--epochs", "40", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return [(r["val_acc"], r["test_acc"]) for r in map(json.loads, result.stdout.splitlines())]


@pytest.mark.parametrize("fmt", TENSOR_FORMATS)
def test_an_exported_set_evaluates_to_the_same_accuracy(sets, data, tmp_path, fmt):
    artifact = save_synset(sets["real"], tmp_path / "artifact")
    assert _accuracy(artifact) == _accuracy(_exported(sets, tmp_path, "real", fmt), "--dataset", "digits")


def test_a_dc_file_of_the_original_codes_noise_initialisation_is_evaluated_as_it_is(noise_set, tmp_path):
    """As DatasetCondensation's main.py saves a set distilled from `--init noise`, its default: no
    description of its own. Its neighbouring pixels are uncorrelated, which once read as "looks
    ZCA-whitened"; the DC code never whitens, so its layout is not asked."""
    path = tmp_path / "res_DC_digits_ConvNet_2ipc.pt"
    torch.save({"data": [[noise_set.images.clone(), noise_set.labels.clone()]], "accs_all_exps": {"ConvNet": []}}, path)
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--dataset", "digits", "--kd", "off", "--students",
                                      "MLP", "--seeds", "1", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "saved normalised (from its statistics)" in result.output and "ZCA" not in result.output
    undistilled = tmp_path / "res_randn.pt"
    torch.save({"data": [[torch.randn(20, 1, 28, 28), noise_set.labels.clone()]], "accs_all_exps": {}}, undistilled)
    assert load_foreign_set(undistilled, INFO).normalized == "yes"


def test_formats_that_can_carry_zca_still_ask_unless_the_set_says(noise_set, sets, tmp_path):
    bare = tmp_path / "mtt"
    bare.mkdir()
    torch.save(noise_set.images, bare / "images_best.pt")
    torch.save(noise_set.labels, bare / "labels_best.pt")
    with pytest.raises(ForeignSetError, match="looks ZCA-whitened"):
        load_foreign_set(bare, INFO)
    assert load_foreign_set(_exported(sets, tmp_path, "noise", "mtt"), INFO).normalized == "yes"
    said = _exported(sets, tmp_path, "real", "dd-ranking")
    own = json.loads((said / "raydd-export.json").read_text())
    (said / "raydd-export.json").write_text(json.dumps({**own, "zca": True}))
    with pytest.raises(ForeignSetError, match="says it is ZCA-whitened"):
        load_foreign_set(said, INFO)


def test_the_image_folder_export_says_how_many_pixels_it_clips(sets, tmp_path):
    artifact = save_synset(sets["noise"], tmp_path / "noise")
    result = CliRunner().invoke(cli, ["export", str(artifact), "--format", "image-folder", "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    share = float(re.search(r"warning: (\d+\.\d+) % of the pixels lie outside \[0, 1\]", result.output).group(1))
    pixels = sets["noise"].images * INFO.std[0] + INFO.mean[0]  # unclipped
    expected = 100 * float(((pixels < 0) | (pixels > 1)).float().mean())
    assert expected > 1 and share == pytest.approx(expected, abs=0.01)


def test_a_soft_labelled_set_is_not_exported_where_its_labels_would_be_lost(sets, tmp_path):
    for fmt in ("dc", "image-folder"):
        with pytest.raises(ExportError, match=f"the {fmt} layout carries class labels only"):
            export_set(sets["soft"], fmt, tmp_path / fmt)
        assert not (tmp_path / fmt).exists()


@pytest.mark.parametrize("prepare, args, message", [
    (lambda tmp: (tmp / "full").mkdir() or (tmp / "full" / "mine.txt").write_text("x"), ["--out", "{tmp}/full"],
     "holds files that are not an export raydd wrote (mine.txt); choose another --out, or pass --force"),
    (lambda tmp: None, ["--out", "{tmp}/x", "--format", "zip"], "'zip' is not one of"),
    (lambda tmp: (tmp / "notaset").mkdir(), ["--out", "{tmp}/y", "--set", "{tmp}/notaset"], "meta.json is missing"),
])
def test_bad_export_input_is_one_line_and_touches_nothing(sets, tmp_path, prepare, args, message):
    artifact = save_synset(sets["real"], tmp_path / "artifact")
    prepare(tmp_path)
    args = [a.format(tmp=tmp_path) for a in args]
    source = args[args.index("--set") + 1] if "--set" in args else str(artifact)
    args = [a for i, a in enumerate(args) if a != "--set" and (i == 0 or args[i - 1] != "--set")]
    fmt = [] if "--format" in args else ["--format", "mtt"]
    result = CliRunner().invoke(cli, ["export", source, *fmt, *args])
    assert result.exit_code in (1, 2) and re.search(re.escape(message), result.output), result.output
    assert "Traceback" not in result.output
    if (tmp_path / "full").exists():
        assert [p.name for p in (tmp_path / "full").iterdir()] == ["mine.txt"]
