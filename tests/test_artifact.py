import json

import pytest
import torch
from PIL import Image

from raydd.core.artifact import (
    FORMAT_NAME,
    ArtifactError,
    SyntheticSet,
    build_meta,
    load_synset,
    save_synset,
)
from raydd.core.datasets.types import DatasetInfo
from raydd.core.distill import DistillConfig

INFO = DatasetInfo("digits", 1, 8, 3, (0.5,), (0.25,), ("a", "b", "c"))


def make_synset(ipc=2):
    cfg = DistillConfig(dataset="digits", ipc=ipc, iterations=7, pool="ConvNet=0.9,LeNet=0.1", seed=4)
    images = torch.randn(3 * ipc, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(3).repeat_interleave(ipc)
    return SyntheticSet(images, labels, build_meta(cfg, INFO, 7, 1.5, [2.0, 1.0]))


DATASET = make_synset().meta["dataset"]


def test_round_trip_keeps_tensors_and_meta(tmp_path):
    synset = make_synset()
    out = save_synset(synset, tmp_path / "set")
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "images.safetensors", "meta.json"]
    back = load_synset(out)
    assert torch.equal(back.images, synset.images) and torch.equal(back.labels, synset.labels)
    assert back.meta == json.loads(json.dumps(synset.meta))
    meta = back.meta
    assert meta["format"] == FORMAT_NAME and meta["ipc"] == 2 and meta["seed"] == 4
    assert meta["dataset"]["mean"] == [0.5] and meta["dataset"]["num_classes"] == 3
    assert list(meta["pool"]["archs"]) == ["ConvNet", "LeNet"]  # order (main first) survives
    assert meta["config"]["lr_img"] == 0.1 and meta["iterations_done"] == 7
    assert "raydd_version" in meta and meta["wall_seconds"] == 1.5


def test_grid_has_one_row_per_class(tmp_path):
    out = save_synset(make_synset(ipc=2), tmp_path / "set")
    width, height = Image.open(out / "grid.png").size
    # make_grid with padding 1: ipc columns and num_classes rows of 8-px images
    assert (width, height) == (1 + 2 * 9, 1 + 3 * 9)


def test_save_replaces_an_existing_artifact_and_leaves_no_temp(tmp_path):
    save_synset(make_synset(ipc=1), tmp_path / "set")
    save_synset(make_synset(ipc=2), tmp_path / "set")
    assert load_synset(tmp_path / "set").ipc == 2
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_missing_directory(tmp_path):
    with pytest.raises(ArtifactError, match="not a directory"):
        load_synset(tmp_path / "nothing")


@pytest.mark.parametrize("name", ["meta.json", "images.safetensors"])
def test_missing_file(tmp_path, name):
    out = save_synset(make_synset(), tmp_path / "set")
    (out / name).unlink()
    with pytest.raises(ArtifactError, match=f"{name} is missing"):
        load_synset(out)


def test_truncated_safetensors(tmp_path):
    out = save_synset(make_synset(), tmp_path / "set")
    data = (out / "images.safetensors").read_bytes()
    (out / "images.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated or corrupt"):
        load_synset(out)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": "something-else"}, "format 'something-else'"),
        ({"format_version": 99}, "format version 99"),
        ({"ipc": 3}, "meta says"),
        # hand-edited: wrong types, sizes that disagree
        ({"ipc": "two"}, "'ipc' must be a positive integer, got 'two'"),
        ({"ipc": True}, "'ipc' must be a positive integer"),
        ({"method": 3}, "'method' must be a string"),
        ({"dataset": "digits"}, "'dataset' must be an object"),
        ({"dataset": {"name": "digits"}}, "dataset.channels must be a positive integer, got None"),
        ({"dataset": {**DATASET, "mean": [0.5, 0.5]}}, "dataset.mean must be 1 finite number"),
        ({"dataset": {**DATASET, "std": "wide"}}, "dataset.std must be 1 finite number"),
        ({"dataset": {**DATASET, "num_classes": -3}}, "dataset.num_classes must be a positive integer"),
        ({"dataset": {**DATASET, "class_names": ["a"]}}, "dataset.class_names must be 3 strings"),
    ],
)
def test_foreign_or_inconsistent_meta(tmp_path, change, message):
    out = save_synset(make_synset(), tmp_path / "set")
    meta = json.loads((out / "meta.json").read_text())
    meta.update(change)
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=message):
        load_synset(out)


def test_meta_that_is_not_json(tmp_path):
    out = save_synset(make_synset(), tmp_path / "set")
    (out / "meta.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_synset(out)


def test_labels_must_give_ipc_per_class(tmp_path):
    synset = make_synset()
    bad = SyntheticSet(synset.images, torch.zeros(6, dtype=torch.int64), synset.meta)
    with pytest.raises(ArtifactError, match="2 images of each of 3 classes"):
        save_synset(bad, tmp_path / "set")
    assert not (tmp_path / "set").exists()


def test_artifact_error_is_a_value_error():
    assert issubclass(ArtifactError, ValueError)


def test_meta_json_is_strict_both_ways(tmp_path):
    synset = make_synset()
    bad = SyntheticSet(synset.images, synset.labels, {**synset.meta, "final_loss": float("nan")})
    with pytest.raises(ArtifactError, match="non-finite numbers at final_loss"):
        save_synset(bad, tmp_path / "nan")
    assert not (tmp_path / "nan").exists()
    out = save_synset(synset, tmp_path / "set")
    text = (out / "meta.json").read_text()
    (out / "meta.json").write_text(text.replace('"final_loss": 1.0', '"final_loss": NaN'))
    with pytest.raises(ArtifactError, match="not valid JSON: NaN is not a JSON number"):
        load_synset(out)
