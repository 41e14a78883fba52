"""Synthetic sets and KD teachers on sweep storage (a local directory or an object store)."""

from __future__ import annotations

import io
import os
import tempfile
from functools import lru_cache

from raydd import storage
from raydd.core.artifact import IMAGES_FILE, META_FILE, load_synset, save_synset


def synset_complete(location: str) -> bool:
    """META_FILE is written last: its presence means the artifact is complete."""
    return storage.exists(storage.join(location, META_FILE))


def save_synset_to(synset, location: str) -> None:
    """Write the artifact; a reader that finds meta.json finds every other file too."""
    if not storage.is_uri(location):
        save_synset(synset, location)  # atomic by itself (temp directory, then rename)
        return
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "synset")
        save_synset(synset, local)
        for name in sorted(os.listdir(local), key=lambda n: n == META_FILE):
            with open(os.path.join(local, name), "rb") as f:
                storage.write_bytes(storage.join(location, name), f.read())


@lru_cache(maxsize=4)
def load_synset_from(location: str):
    """The artifact at `location` (downloaded first from an object store); cached per process."""
    if not storage.is_uri(location):
        return load_synset(location)
    with tempfile.TemporaryDirectory() as tmp:
        for name in (IMAGES_FILE, META_FILE):
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(storage.read_bytes(storage.join(location, name)))
        return load_synset(tmp)


def save_teacher(net, location: str) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    storage.write_bytes(location, buffer.getvalue())


@lru_cache(maxsize=4)
def load_teacher(location: str, arch: str, info, device):
    """Rebuild `arch` for `info` and load the saved weights; frozen and in eval mode. Cached per
    process: an evaluation actor reads a teacher once and shares it, read-only, among its KD jobs."""
    from raydd.core.archs import build_net
    from raydd.core.evaluate import freeze
    from raydd.core.torch_files import load_torch_file

    state = load_torch_file(io.BytesIO(storage.read_bytes(location)), f"teacher {location}")
    net = build_net(arch, info.channels, info.num_classes, info.image_size)
    net.load_state_dict(state)
    return freeze(net.to(device))
