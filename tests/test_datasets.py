"""Datasets: the embedded digits, the real Fashion-MNIST system copy, and tiny files in the real
on-disk formats read through raydd's torchvision code paths."""

from __future__ import annotations

import hashlib
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from raydd.core.datasets import (
    DATASETS,
    Dataset,
    DatasetNotFoundError,
    Split,
    class_indices,
    denormalize,
    load_dataset,
)
from raydd.core.datasets import system_files
from raydd.core.datasets.splits import stratified_holdout, stratified_quotas

TORCHVISION_NAMES = ["mnist", "fashion_mnist", "svhn", "cifar10", "cifar100"]


# --- writers for the real on-disk formats -------------------------------------------------------


def _write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file as LeCun's MNIST ships it: 0,0,type 0x08 (uint8),ndim; big-endian dims; bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist_like(root: Path, folder: str, n_train: int, n_test: int, size: int = 28):
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[prefix] = (images, labels)
    return arrays


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write_pickle(path: Path, obj: dict) -> str:
    path.write_bytes(pickle.dumps(obj))
    return _md5(path)


def _cifar_rows(rng, n: int) -> np.ndarray:
    # One row per image: 1024 red, then 1024 green, then 1024 blue bytes (row-major 32x32 each).
    return rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)


def _point_torchvision_at_our_files(monkeypatch, cls, train_list, test_list, meta_md5) -> None:
    """torchvision refuses CIFAR/SVHN files whose md5 differs from the real release's, which tiny
    fixtures cannot match. Swapping in the fixtures' own md5s (for this test only) keeps every
    real code path: torchvision still finds, checksums, unpickles and reshapes the files."""
    monkeypatch.setattr(cls, "train_list", train_list)
    monkeypatch.setattr(cls, "test_list", test_list)
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": meta_md5})


def _write_cifar10(root: Path, monkeypatch, per_batch: int = 6, n_test: int = 10) -> np.ndarray:
    from torchvision.datasets import CIFAR10

    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_list, rows = [], []
    for b in range(1, 6):
        data = _cifar_rows(rng, per_batch)
        labels = [int(x) for x in (np.arange(per_batch) + b) % 10]
        md5 = _write_pickle(folder / f"data_batch_{b}", {"data": data, "labels": labels})
        train_list.append([f"data_batch_{b}", md5])
        rows.append(data)
    test = {"data": _cifar_rows(rng, n_test), "labels": [i % 10 for i in range(n_test)]}
    test_list = [["test_batch", _write_pickle(folder / "test_batch", test)]]
    meta_md5 = _write_pickle(folder / "batches.meta", {"label_names": [str(i) for i in range(10)]})
    _point_torchvision_at_our_files(monkeypatch, CIFAR10, train_list, test_list, meta_md5)
    return np.concatenate(rows)


# --- registry and containers ---------------------------------------------------------------------


def test_registry_holds_exactly_the_six_datasets():
    assert DATASETS.names() == ["digits", "mnist", "fashion_mnist", "svhn", "cifar10", "cifar100"]


def test_unknown_dataset_lists_the_known_names():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*digits.*cifar100"):
        load_dataset("imagenet")


@pytest.mark.parametrize("name", DATASETS.names())
def test_info_is_consistent(name):
    info = DATASETS.get(name).info
    assert info.name == name
    assert len(set(info.class_names)) == info.num_classes
    assert info.shape == (info.channels, info.image_size, info.image_size)
    assert all(0 < s < 1 for s in info.std) and all(0 < m < 1 for m in info.mean)


def test_class_names_of_the_benchmarks():
    assert DATASETS.get("cifar100").info.num_classes == 100
    assert DATASETS.get("cifar10").info.class_names[0] == "airplane"
    assert DATASETS.get("fashion_mnist").info.class_names[-1] == "Ankle boot"


def test_split_rejects_wrong_dtypes_and_lengths():
    with pytest.raises(ValueError, match="float32"):
        Split(torch.zeros(2, 1, 4, 4, dtype=torch.float64), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="int64"):
        Split(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.int32))
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        Split(torch.zeros(2, 1, 4, 4), torch.zeros(3, dtype=torch.int64))


def test_class_indices_groups_in_dataset_order():
    labels = torch.tensor([2, 0, 2, 1, 0])
    groups = class_indices(labels, 4)
    assert [g.tolist() for g in groups] == [[1, 4], [3], [0, 2], []]
    with pytest.raises(ValueError, match=r"^label 2 at index 0 is not one of the 2 classes \(0\.\.1\)$"):
        class_indices(labels, 2)


def test_denormalize_inverts_the_normalisation_and_clamps():
    info = DATASETS.get("cifar10").info
    pixels = torch.rand(3, 3, 32, 32)
    mean = torch.tensor(info.mean).view(1, 3, 1, 1)
    std = torch.tensor(info.std).view(1, 3, 1, 1)
    assert torch.allclose(denormalize((pixels - mean) / std, info), pixels, atol=1e-6)
    assert denormalize(torch.full((1, 3, 2, 2), 50.0), info).max() == 1.0
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        denormalize(torch.zeros(1, 1, 2, 2), info)


# --- splits --------------------------------------------------------------------------------------


def test_stratified_quotas_sum_to_the_count_in_proportion():
    assert stratified_quotas([50, 30, 20], 10) == [5, 3, 2]
    assert stratified_quotas([3, 3, 3], 4) == [2, 1, 1]  # the tie goes to the lowest class
    assert sum(stratified_quotas([178, 182, 177], 100)) == 100


def test_stratified_holdout_is_disjoint_complete_seeded_and_stratified():
    labels = torch.arange(100) % 4
    kept, held = stratified_holdout(labels, 20, 4, seed=3)
    assert len(held) == 20 and torch.bincount(labels[held]).tolist() == [5, 5, 5, 5]
    assert sorted(kept.tolist() + held.tolist()) == list(range(100))
    again_kept, again_held = stratified_holdout(labels, 20, 4, seed=3)
    assert torch.equal(again_held, held) and torch.equal(again_kept, kept)
    assert not torch.equal(stratified_holdout(labels, 20, 4, seed=4)[1], held)


@pytest.mark.parametrize("bad", [-1, 1.0, 1.5, -0.1, math.nan, "0.1", True, None])
def test_malformed_val_size_is_refused(bad):
    with pytest.raises(ValueError, match="val_size"):
        load_dataset("digits", val_size=bad)


def test_val_size_count_must_leave_training_data():
    with pytest.raises(ValueError, match="leaves no training data"):
        load_dataset("digits", val_size=1437)


@pytest.mark.parametrize("kwargs, message", [({"split_seed": 1.5}, "split_seed"), ({"device": "gpu"}, "device")])
def test_bad_seed_or_device_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset("digits", **kwargs)


# --- digits --------------------------------------------------------------------------------------


def _fingerprints(split: Split) -> set[bytes]:
    return {image.numpy().tobytes() for image in split.images}


def test_digits_shapes_sizes_and_disjoint_splits():
    data = load_dataset("digits")
    assert data.info.shape == (1, 28, 28) and data.info.num_classes == 10
    assert data.train.images.shape[1:] == (1, 28, 28)
    # 1,797 images: 360 test (fixed), 10% of the remaining 1,437 for validation.
    assert (len(data.train), len(data.val), len(data.test)) == (1293, 144, 360)
    for split in (data.train, data.val, data.test):
        assert torch.bincount(split.labels, minlength=10).min() > 0
    # sklearn's digits hold no duplicate image, so equal pixels would mean a leak between splits.
    train, val, test = map(_fingerprints, (data.train, data.val, data.test))
    assert len(train | val | test) == 1797


def test_digits_are_deterministic_and_the_seed_moves_only_validation():
    first, second = load_dataset("digits"), load_dataset("digits")
    assert torch.equal(first.val.images, second.val.images)
    assert torch.equal(first.train.labels, second.train.labels)
    other = load_dataset("digits", split_seed=1)
    assert torch.equal(other.test.images, first.test.images)
    assert _fingerprints(other.val) != _fingerprints(first.val)


def test_digits_constants_normalise_the_training_data():
    data = load_dataset("digits", val_size=0)
    assert len(data.val) == 0
    assert abs(float(data.train.images.mean())) < 1e-3
    assert abs(float(data.train.images.std()) - 1.0) < 1e-3
    pixels = denormalize(data.test.images, data.info)
    assert pixels.min() >= 0 and pixels.max() <= 1 and pixels.max() > 0.99


def test_val_size_as_a_count():
    data = load_dataset("digits", val_size=100)
    assert (len(data.train), len(data.val)) == (1337, 100)


def test_dataset_moves_to_a_device():
    # The "meta" device exercises the same moves as CUDA on a machine without a GPU.
    data = load_dataset("digits", device="meta")
    assert {s.device.type for s in (data.train, data.val, data.test)} == {"meta"}
    assert isinstance(data, Dataset) and data.train.labels.device.type == "meta"


# --- torchvision formats, written in tmp_path ----------------------------------------------------


def test_mnist_idx_files_load_with_layout_and_labels(tmp_path):
    arrays = _write_mnist_like(tmp_path, "MNIST", n_train=40, n_test=20)
    data = load_dataset("mnist", data_dir=tmp_path, val_size=10)
    assert (len(data.train), len(data.val), len(data.test)) == (30, 10, 20)
    assert torch.bincount(data.val.labels).tolist() == [1] * 10  # stratified: 4 of each class
    images, labels = arrays["t10k"]
    expected = torch.from_numpy(images).unsqueeze(1).float() / 255
    assert torch.allclose(denormalize(data.test.images, data.info), expected, atol=1e-5)
    assert data.test.labels.tolist() == labels.tolist()


def test_fashion_mnist_prefers_a_data_dir_that_holds_it(tmp_path):
    _write_mnist_like(tmp_path, "FashionMNIST", n_train=30, n_test=10)
    data = load_dataset("fashion_mnist", data_dir=tmp_path, val_size=0)
    assert (len(data.train), len(data.test)) == (30, 10)


def test_files_of_the_wrong_shape_are_refused(tmp_path):
    _write_mnist_like(tmp_path, "MNIST", n_train=10, n_test=10, size=8)
    with pytest.raises(ValueError, match=r"expected \(1, 28, 28\)"):
        load_dataset("mnist", data_dir=tmp_path)


def test_cifar10_pickles_load_channel_first(tmp_path, monkeypatch):
    rows = _write_cifar10(tmp_path, monkeypatch)
    data = load_dataset("cifar10", data_dir=tmp_path, val_size=0)
    assert (len(data.train), len(data.test)) == (30, 10)
    expected = torch.from_numpy(rows).view(30, 3, 32, 32).float() / 255
    assert torch.allclose(denormalize(data.train.images, data.info), expected, atol=1e-5)


def test_cifar10_with_a_wrong_checksum_names_the_directory(tmp_path, monkeypatch):
    _write_cifar10(tmp_path, monkeypatch)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"truncated")
    with pytest.raises(DatasetNotFoundError, match="checksum") as caught:
        load_dataset("cifar10", data_dir=tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_cifar100_pickles_load_fine_labels(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR100

    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    md5s = {}
    for split, n in (("train", 20), ("test", 5)):
        record = {"data": _cifar_rows(rng, n), "fine_labels": [i * 5 for i in range(n)], "coarse_labels": [0] * n}
        md5s[split] = _write_pickle(folder / split, record)
    meta_md5 = _write_pickle(folder / "meta", {"fine_label_names": [str(i) for i in range(100)]})
    _point_torchvision_at_our_files(monkeypatch, CIFAR100, [["train", md5s["train"]]], [["test", md5s["test"]]], meta_md5)
    data = load_dataset("cifar100", data_dir=tmp_path, val_size=0)
    assert data.info.num_classes == 100 and data.train.images.shape == (20, 3, 32, 32)
    assert data.test.labels.tolist() == [0, 5, 10, 15, 20]


def test_svhn_mat_files_load_with_ten_as_zero(tmp_path, monkeypatch):
    scipy_io = pytest.importorskip("scipy.io", reason="SVHN's .mat files need scipy")
    from torchvision.datasets import SVHN

    rng = np.random.default_rng(3)
    pixels = {}
    for split, n in (("train", 12), ("test", 4)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)  # SVHN stores H, W, C, N
        y = (np.arange(n) % 10 + 1).reshape(n, 1)  # digits 1..10, where 10 means zero
        scipy_io.savemat(tmp_path / f"{split}_32x32.mat", {"X": x, "y": y})
        url, filename, _ = SVHN.split_list[split]
        monkeypatch.setitem(SVHN.split_list, split, [url, filename, _md5(tmp_path / filename)])
        pixels[split] = x
    data = load_dataset("svhn", data_dir=tmp_path, val_size=0)
    assert data.train.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    expected = torch.from_numpy(pixels["test"]).permute(3, 2, 0, 1).float() / 255
    assert torch.allclose(denormalize(data.test.images, data.info), expected, atol=1e-5)


# --- missing data ---------------------------------------------------------------------------------


@pytest.fixture
def no_system_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYDD_FASHION_MNIST_DIR", str(tmp_path / "absent"))
    monkeypatch.setenv("RAYDD_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_missing_files_name_the_directory_and_the_flag(name, tmp_path, no_system_fashion_mnist):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset(name, data_dir=empty)
    message = str(caught.value)
    assert str(empty) in message and "--download" in message and "download=True" in message
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, ValueError)


def test_missing_system_fashion_mnist_names_where_it_looked(tmp_path, no_system_fashion_mnist):
    with pytest.raises(DatasetNotFoundError, match="absent.*dataset-fashion-mnist.*--download"):
        load_dataset("fashion_mnist")


def test_no_data_dir_asks_for_one():
    with pytest.raises(DatasetNotFoundError, match="--data-dir DIR"):
        load_dataset("cifar10")


def test_download_needs_a_data_dir():
    with pytest.raises(ValueError, match="download=True needs a data_dir") as caught:
        load_dataset("mnist", download=True)
    assert not isinstance(caught.value, DatasetNotFoundError)


# --- the real Fashion-MNIST, from the Debian package -----------------------------------------------


@pytest.fixture(scope="module")
def fashion_cache(tmp_path_factory):
    if not all((system_files.DEBIAN_FASHION_MNIST_DIR / f"{n}.gz").is_file() for n in system_files.RAW_FILES):
        pytest.skip(f"{system_files.DEBIAN_FASHION_MNIST_DIR} is absent (Debian package dataset-fashion-mnist)")
    cache = tmp_path_factory.mktemp("raydd-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAYDD_CACHE_DIR", str(cache))
        patch.delenv("RAYDD_FASHION_MNIST_DIR", raising=False)
        # An empty data_dir: raydd must fall back to the system copy.
        data = load_dataset("fashion_mnist", data_dir=tmp_path_factory.mktemp("empty"))
        yield data, cache


def test_real_fashion_mnist_from_the_system_files(fashion_cache):
    data, _ = fashion_cache
    assert len(data.train) + len(data.val) == 60_000 and len(data.test) == 10_000
    assert (len(data.train), len(data.val)) == (54_000, 6_000)
    assert data.info.num_classes == 10 and data.train.images.shape[1:] == (1, 28, 28)
    all_train = torch.cat([data.train.labels, data.val.labels])
    assert torch.bincount(all_train).tolist() == [6_000] * 10
    assert torch.bincount(data.test.labels).tolist() == [1_000] * 10
    # The published constants (0.2861, 0.3530) normalise the real training pixels to ~N(0, 1).
    assert abs(float(data.train.images.mean())) < 0.01
    assert abs(float(data.train.images.std()) - 1.0) < 0.01


def test_system_files_are_unpacked_once_into_the_cache(fashion_cache):
    _, cache = fashion_cache
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAYDD_CACHE_DIR", str(cache))
        raw = cache / "system-fashion-mnist" / "FashionMNIST" / "raw"
        before = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}
        assert sorted(before) == sorted(system_files.RAW_FILES)  # no temporary left behind
        assert system_files.fashion_mnist_root() == cache / "system-fashion-mnist"
        assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == before
