"""ZCA whitening as trajectory matching (MTT) uses it: fitted on a training split, stored, inverted.

MTT whitens CIFAR with kornia's `ZCAWhitening(eps=0.1, compute_inv=True)`, fitted on the whole
training set as pixels in [0, 1] (with `--zca` its loader skips the mean/std normalisation), and
applies the same fitted transform to the test set. raydd fits on `Split` images, which are
normalised, so it whitens `denormalize(images)`: the pixels MTT whitens.

The maths (kornia's definition): with the images flattened to X [N, D] and mu their mean,
    Sigma = (X - mu)^T (X - mu) / (N - 1) = U diag(s) U^T,
    W = U diag((s + eps)^-1/2) U^T,    whiten(x) = (x - mu) W,
    W^-1 = U diag((s + eps)^+1/2) U^T, unwhiten(y) = y W^-1 + mu.
eps (0.1 in MTT, on pixels in [0, 1]) damps the directions of least variance, so whitening does
not blow up pixel noise; it makes W^-1 the exact inverse of W.

Where raydd and kornia differ, none of it in the definition:
- kornia forms Sigma and its SVD in the images' dtype (float32 in MTT); raydd accumulates Sigma
  in float64 and decomposes it with `eigh` (Sigma is symmetric positive semi-definite, so its
  eigenvectors are its singular vectors), rounding tiny negative eigenvalues up to 0, then stores
  W and W^-1 in float32. Whitened images therefore agree with kornia's to float32 rounding, not
  bit for bit: on digits (784 features), kornia 0.9.0 and raydd differed by 1.1e-6 relative (L2)
  on the whitened training and test images, and raydd was the closer to a float64 computation
  (6e-7 against kornia's 1.1e-6); measured once by hand, kornia is not a dependency.
- kornia's inverse computes (y + mu W) W^-1; raydd computes y W^-1 + mu, the same number up to
  rounding, since W W^-1 = I.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from raydd import strict_json
from raydd.atomic import atomic_write
from raydd.core.datasets.types import Dataset, DatasetInfo, Split, denormalize

ZCA_EPS = 0.1  # MTT's value (utils.get_dataset), for pixels in [0, 1]
FORMAT_NAME = "raydd-zca"
FORMAT_VERSION = 1
_CHUNK = 4096  # images per matrix product: bounds the float64 copy of a large split


class ZCAError(ValueError):
    """A stored ZCA transform that is missing, truncated, foreign, or does not fit the data."""


@dataclass(frozen=True, eq=False)
class ZCAWhitening:
    """A fitted transform: `mean` [D], `matrix` W [D, D], `inverse` W^-1 [D, D] (float32, CPU)."""

    mean: torch.Tensor
    matrix: torch.Tensor
    inverse: torch.Tensor
    eps: float
    shape: tuple[int, int, int]  # (C, H, W) of the images it was fitted on; D = C * H * W
    dataset: str  # the dataset whose training split it was fitted on
    fitted_images: int

    def whiten(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels [N, C, H, W] in [0, 1] -> whitened images of the same shape."""
        flat = self._flat(pixels)
        return ((flat - self.mean.to(flat)) @ self.matrix.to(flat)).view_as(pixels)

    def unwhiten(self, whitened: torch.Tensor) -> torch.Tensor:
        """Whitened images -> pixels (not clamped: a synthetic image may leave [0, 1])."""
        flat = self._flat(whitened)
        return (flat @ self.inverse.to(flat) + self.mean.to(flat)).view_as(whitened)

    def whiten_split(self, split: Split, info: DatasetInfo) -> Split:
        """The split's normalised images, as pixels, whitened; labels unchanged."""
        self.check_fits(info)
        pixels = denormalize(split.images, info)
        chunks = [self.whiten(pixels[s : s + _CHUNK]) for s in range(0, len(pixels), _CHUNK)]
        images = torch.cat(chunks) if chunks else torch.empty_like(pixels)
        return Split(images.contiguous(), split.labels)

    def check_fits(self, info: DatasetInfo) -> None:
        if info.name != self.dataset or info.shape != self.shape:
            raise ZCAError(f"this ZCA transform was fitted on {self.dataset} images {self.shape}, "
                           f"not on {info.name} images {info.shape}")

    def _flat(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or tuple(images.shape[1:]) != self.shape:
            raise ZCAError(f"expected images [N, {', '.join(map(str, self.shape))}], got {tuple(images.shape)}")
        return images.reshape(len(images), -1)


def fit_zca(split: Split, info: DatasetInfo, eps: float = ZCA_EPS) -> ZCAWhitening:
    """Fit W on the pixels of `split` (its normalised images, de-normalised): kornia's definition."""
    if not eps > 0:
        raise ZCAError(f"ZCA eps must be > 0, got {eps}")
    if len(split) < 2:
        raise ZCAError(f"ZCA needs at least 2 images to estimate a covariance, got {len(split)}")
    pixels = denormalize(split.images, info).reshape(len(split), -1)
    mean = pixels.double().mean(dim=0)
    covariance = torch.zeros(pixels.shape[1], pixels.shape[1], dtype=torch.float64, device=pixels.device)
    for start in range(0, len(pixels), _CHUNK):
        centred = pixels[start : start + _CHUNK].double() - mean
        covariance.addmm_(centred.T, centred)
    covariance /= len(pixels) - 1  # unbiased, as kornia's default
    eigenvalues, vectors = torch.linalg.eigh(covariance)
    damped = eigenvalues.clamp(min=0.0) + eps
    matrix = (vectors * damped.rsqrt()) @ vectors.T
    inverse = (vectors * damped.sqrt()) @ vectors.T
    return ZCAWhitening(mean.float().cpu(), matrix.float().cpu(), inverse.float().cpu(), float(eps),
                        info.shape, info.name, len(split))


def whiten_dataset(data: Dataset, zca: ZCAWhitening) -> Dataset:
    """Every split of `data` whitened with one transform (fitted on its training split), as MTT
    whitens its training and test sets; the validation split is whitened the same way."""
    return Dataset(data.info, zca.whiten_split(data.train, data.info), zca.whiten_split(data.val, data.info),
                   zca.whiten_split(data.test, data.info), data.val_size, data.split_seed)


def save_zca(zca: ZCAWhitening, path: str | os.PathLike) -> None:
    """One safetensors file (the three tensors, the rest in its metadata), written atomically."""
    from safetensors.torch import save

    meta = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "eps": repr(zca.eps),
            "shape": strict_json.dumps(list(zca.shape)), "dataset": zca.dataset,
            "fitted_images": str(zca.fitted_images)}
    payload = save({"mean": zca.mean.contiguous(), "matrix": zca.matrix.contiguous(),
                    "inverse": zca.inverse.contiguous()}, metadata=meta)
    with atomic_write(path) as out:
        out.write(payload)


def load_zca(path: str | os.PathLike) -> ZCAWhitening:
    """Read a transform `save_zca` wrote; a missing, truncated or foreign file is a `ZCAError`."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT_NAME:
                raise ZCAError(f"{path}: format {meta.get('format')!r} is not {FORMAT_NAME!r}")
            if meta.get("format_version") != str(FORMAT_VERSION):
                raise ZCAError(f"{path}: format version {meta.get('format_version')!r}; "
                               f"this raydd reads {FORMAT_VERSION}")
            tensors = {name: f.get_tensor(name) for name in ("mean", "matrix", "inverse")}
    except (SafetensorError, OSError) as exc:
        raise ZCAError(f"{path} is missing, truncated or not a safetensors file: {exc}") from None
    try:
        shape = tuple(int(side) for side in strict_json.loads(meta["shape"]))
        eps, dataset, fitted = float(meta["eps"]), meta["dataset"], int(meta["fitted_images"])
        (channels, height, width) = shape
    except (KeyError, ValueError, TypeError) as exc:
        raise ZCAError(f"{path}: malformed metadata ({type(exc).__name__}: {exc})") from None
    features = channels * height * width
    if tuple(tensors["mean"].shape) != (features,) or any(
            tuple(tensors[k].shape) != (features, features) for k in ("matrix", "inverse")):
        raise ZCAError(f"{path}: tensor shapes do not fit images of shape {shape}")
    return ZCAWhitening(tensors["mean"], tensors["matrix"], tensors["inverse"], eps, shape, dataset, fitted)


def zca_record(zca: ZCAWhitening) -> dict:
    """What a synthetic set's meta.json keeps of the transform its images were whitened with: enough
    to fit it again (on the same dataset and validation carve, which the meta holds), not its
    D x D matrices (113 MB for CIFAR)."""
    return {"eps": zca.eps, "fitted_on": "train", "fitted_images": zca.fitted_images}


def refit_zca(record: dict, data: Dataset) -> ZCAWhitening:
    """The transform `record` describes, fitted again on `data`'s training split; refused in one
    line when that split is not the one it was fitted on (another size, another dataset)."""
    if not isinstance(record, dict) or record.get("fitted_on") != "train":
        raise ZCAError(f"the set's ZCA record {record!r} does not say it was fitted on a training split")
    eps, fitted = record.get("eps"), record.get("fitted_images")
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not isinstance(fitted, int):
        raise ZCAError(f"the set's ZCA record {record!r} lacks its eps or image count")
    if fitted != len(data.train):
        raise ZCAError(f"the set was whitened with a ZCA transform fitted on {fitted} training images; this "
                       f"{data.info.name} training split holds {len(data.train)}: not the same split")
    return fit_zca(data.train, data.info, float(eps))
