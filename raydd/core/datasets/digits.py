"""`digits`: scikit-learn's bundled 8x8 handwritten digits, the default dataset (no download).

1,797 real images (UCI optdigits test set, pixel counts 0..16), upsampled to 28x28 so every
architecture sized for MNIST runs on it unchanged.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from raydd.core.datasets.sources import DatasetSource, RawSplits
from raydd.core.datasets.splits import stratified_holdout
from raydd.core.datasets.types import DatasetInfo

IMAGE_SIZE = 28  # MNIST's size, so digits is a drop-in stand-in for it
PIXEL_MAX = 16.0  # load_digits pixels count "on" cells of a 4x4 block: 0..16
TEST_COUNT = 360  # ~20% of 1,797, stratified: 36 per class give or take one
TEST_SEED = 0  # fixed forever: the test split must not move between versions

# Mean and std of the 1,437 training images (everything outside the test split), after the
# upsampling and the scaling to [0, 1]; computed once with `digits_statistics()` and frozen here so
# the normalisation never depends on the validation seed.
MEAN = (0.30592,)
STD = (0.32514,)

INFO = DatasetInfo(
    name="digits",
    channels=1,
    image_size=IMAGE_SIZE,
    num_classes=10,
    mean=MEAN,
    std=STD,
    class_names=tuple(str(d) for d in range(10)),
)


def _all_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).to(torch.float32).div_(PIXEL_MAX).unsqueeze(1)
    # Bilinear upsampling mixes neighbours convexly, so pixels stay in [0, 1].
    images = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return images.contiguous(), torch.from_numpy(bunch.target).to(torch.int64)


def read_digits(data_dir: Path | None = None, download: bool = False) -> RawSplits:
    """The fixed train/test split; `data_dir` and `download` are ignored (the data ships with sklearn)."""
    images, labels = _all_digits()
    train, test = stratified_holdout(labels, TEST_COUNT, INFO.num_classes, TEST_SEED)
    return RawSplits(images[train], labels[train], images[test], labels[test])


def digits_statistics() -> tuple[float, float]:
    """Mean and std of the training split in [0, 1]: how MEAN and STD above were computed."""
    train = read_digits().train_images
    return float(train.mean()), float(train.std())


DIGITS = DatasetSource(INFO, read_digits)
