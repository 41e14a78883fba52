"""ZCA whitening (raydd/core/datasets/zca.py) against a direct computation, stored and inverted."""

import numpy as np
import pytest
import torch

from raydd.core.datasets import Dataset, DatasetInfo, Split, denormalize
from raydd.core.datasets.zca import ZCAError, fit_zca, load_zca, save_zca, whiten_dataset

INFO = DatasetInfo("tiny", 2, 3, 3, (0.4, 0.5), (0.2, 0.25), ("a", "b", "c"))


def tiny_split(n: int = 60, seed: int = 0) -> Split:
    """Correlated pixels in [0, 1], normalised like a dataset's split."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, 3, 3, generator=g)
    pixels = (0.6 * base + 0.4 * torch.rand(n, 2, 3, 3, generator=g)).clamp(0, 1)
    mean, std = torch.tensor(INFO.mean).view(1, 2, 1, 1), torch.tensor(INFO.std).view(1, 2, 1, 1)
    return Split(((pixels - mean) / std).float(), torch.arange(n) % 3)


def direct_zca(pixels: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The textbook computation in float64 with numpy: unbiased covariance, SVD, damped root."""
    x = pixels.reshape(len(pixels), -1)
    mean = x.mean(axis=0)
    u, s, _ = np.linalg.svd(np.cov(x, rowvar=False))
    return mean, u @ np.diag(1 / np.sqrt(s + eps)) @ u.T


def test_the_transform_is_the_direct_computation():
    split = tiny_split()
    zca = fit_zca(split, INFO, eps=0.1)
    pixels = denormalize(split.images, INFO).double().numpy()
    mean, matrix = direct_zca(pixels, 0.1)
    np.testing.assert_allclose(zca.mean.numpy(), mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(zca.matrix.numpy(), matrix, rtol=1e-5, atol=1e-5)
    expected = (pixels.reshape(len(pixels), -1) - mean) @ matrix
    whitened = zca.whiten_split(split, INFO).images
    np.testing.assert_allclose(whitened.reshape(len(pixels), -1).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_with_a_tiny_eps_the_whitened_covariance_is_the_identity():
    split = tiny_split(n=400)
    whitened = fit_zca(split, INFO, eps=1e-8).whiten_split(split, INFO).images.reshape(400, -1).double()
    covariance = torch.cov(whitened.T)
    torch.testing.assert_close(covariance, torch.eye(18, dtype=torch.float64), atol=2e-3, rtol=0)


def test_unwhiten_gives_back_the_pixels():
    split = tiny_split()
    zca = fit_zca(split, INFO)
    pixels = denormalize(split.images, INFO)
    torch.testing.assert_close(zca.unwhiten(zca.whiten(pixels)), pixels, atol=1e-5, rtol=0)


def test_a_dataset_is_whitened_with_the_transform_of_its_training_split():
    train, other = tiny_split(seed=0), tiny_split(n=9, seed=1)
    data = Dataset(INFO, train, other, other, 0.1, 0)
    zca = fit_zca(data.train, INFO)
    whitened = whiten_dataset(data, zca)
    torch.testing.assert_close(whitened.test.images, zca.whiten(denormalize(other.images, INFO)))
    assert torch.equal(whitened.test.labels, other.labels) and (whitened.val_size, whitened.split_seed) == (0.1, 0)


def test_saved_and_loaded_it_is_the_same_transform(tmp_path):
    zca = fit_zca(tiny_split(), INFO)
    save_zca(zca, tmp_path / "zca.safetensors")
    back = load_zca(tmp_path / "zca.safetensors")
    for name in ("mean", "matrix", "inverse"):
        assert torch.equal(getattr(back, name), getattr(zca, name))
    assert (back.eps, back.shape, back.dataset, back.fitted_images) == (0.1, (2, 3, 3), "tiny", 60)
    assert [p.name for p in tmp_path.iterdir()] == ["zca.safetensors"]  # no temporary left


def test_a_truncated_or_foreign_file_is_one_clear_error(tmp_path):
    path = tmp_path / "zca.safetensors"
    save_zca(fit_zca(tiny_split(), INFO), path)
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(ZCAError, match="truncated"):
        load_zca(path)
    from safetensors.torch import save_file

    save_file({"images": torch.zeros(2)}, str(path), metadata={"format": "raydd-synset"})
    with pytest.raises(ZCAError, match="format 'raydd-synset' is not 'raydd-zca'"):
        load_zca(path)
    with pytest.raises(ZCAError, match="missing"):
        load_zca(tmp_path / "absent.safetensors")


def test_a_transform_refuses_images_of_another_dataset():
    zca = fit_zca(tiny_split(), INFO)
    other = DatasetInfo("other", 2, 3, 3, INFO.mean, INFO.std, INFO.class_names)
    with pytest.raises(ZCAError, match="fitted on tiny images"):
        zca.whiten_split(tiny_split(), other)
    with pytest.raises(ZCAError, match=r"expected images \[N, 2, 3, 3\]"):
        zca.whiten(torch.zeros(4, 1, 3, 3))


def test_bad_fits_are_refused():
    with pytest.raises(ZCAError, match="eps must be > 0"):
        fit_zca(tiny_split(), INFO, eps=0.0)
    with pytest.raises(ZCAError, match="at least 2 images"):
        fit_zca(tiny_split(n=1), INFO)
