"""raydd: dataset distillation with model pools and KD evaluation, swept on Ray."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("raydd")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
