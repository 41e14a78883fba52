"""Architectures of the dataset-condensation literature, registered by name.

Every net takes `(channels, num_classes, image_size)`, exposes `embed(x)` (penultimate features,
`embed_dim` wide) and computes `forward(x) = classifier(embed(x))`.
"""

from raydd.core.archs.catalog import ARCHS, VARIANTS, build_net
from raydd.core.archs.layers import ArchNet, has_batchnorm

__all__ = ["ARCHS", "VARIANTS", "ArchNet", "build_net", "has_batchnorm"]
