"""How much memory one MTT iteration needs, predicted before any work (no real tensor allocated).

Unrolling `syn_steps` student steps keeps, for the final backward pass, everything each step's
forward and its create_graph backward saved: activations of `batch_syn` images at every layer,
gradients of them, and a few parameter-sized vectors (the step's parameters, their gradient). So
the peak grows linearly in `syn_steps`. The estimate runs the very unroll `matching_loss` runs,
on the meta device (shapes only, no memory, no arithmetic), for one and for two student steps, and
counts the distinct storages autograd saves (`saved_tensors_hooks`): two steps minus one is one
step's share, one step minus that share is what any unroll keeps once. Then

    peak = once + syn_steps * per_step + transient + fixed

`transient` is what the final backward allocates on top of the saved graph before it frees it:
taken as one step's share (the gradients of one step's saved activations alive at once). `fixed`
is what lives beside the graph: the synthetic images with their gradient and momentum, and the
expert's start and target vectors. DSA draws one op per step, so the costliest op of the strategy
(in saved bytes) is counted for every step. benchmarks/bench_mtt.py prints this beside measured
peaks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch

FLOAT_BYTES = 4
# Share of the available memory a setting may be estimated to use. The estimate counts tensor
# bytes; the allocator rounds blocks up (to pages, with headers), which measured up to 2 % more
# than the estimate on long unrolls (benchmarks/README.md, "MTT"); the rest is for the process's
# own other memory.
HEADROOM = 0.9


@dataclass(frozen=True)
class MemoryEstimate:
    """Predicted bytes of one MTT iteration and their parts."""

    per_step: int  # saved by one student step
    once: int  # saved by any unroll once (the first step's extra, the loss)
    transient: int  # allocated by the final backward on top of the graph
    fixed: int  # images, their gradient and momentum; the expert's start and target
    syn_steps: int

    @property
    def total(self) -> int:
        return self.once + self.syn_steps * self.per_step + self.transient + self.fixed


def estimate_mtt_memory(arch: str, channels: int, num_classes: int, image_size: int, batch_syn: int,
                        syn_steps: int, n_images: int | None = None, dsa_strategy: str | None = None) -> MemoryEstimate:
    """Predicted peak bytes of one MTT iteration of `arch` on `image_size` images: `batch_syn`
    images per student step, `syn_steps` steps, `n_images` synthetic images in all (default
    `batch_syn`), DSA with `dsa_strategy` (None: no augmentation)."""
    from raydd.core.archs import build_net
    from raydd.core.experts import check_unrollable

    layout = check_unrollable(arch, channels, num_classes, image_size)
    with torch.random.fork_rng(devices=[]):
        net = build_net(arch, channels, num_classes, image_size).to("meta")
    one, two = (_saved_bytes(net, layout, channels, num_classes, image_size, batch_syn, steps, dsa_strategy)
                for steps in (1, 2))
    per_step = two - one
    n_images = batch_syn if n_images is None else n_images
    fixed = (3 * n_images * channels * image_size * image_size + 2 * layout.numel) * FLOAT_BYTES
    return MemoryEstimate(per_step, one - per_step, per_step, fixed, syn_steps)


def _saved_bytes(net, layout, channels: int, num_classes: int, image_size: int, batch: int, steps: int,
                 dsa_strategy: str | None) -> int:
    """Bytes of the distinct storages autograd saves for `steps` student steps on the meta device."""
    from raydd.core.augment import DSA
    from raydd.core.distill.unroll import StudentStep, matching_loss
    from raydd.core.experts import Trajectory

    meta = torch.device("meta")
    images = torch.empty(batch, channels, image_size, image_size, device=meta, requires_grad=True)
    labels = torch.zeros(batch, dtype=torch.long, device=meta)
    syn_lr = torch.empty((), device=meta, requires_grad=True)
    trajectory = Trajectory("estimate", layout, torch.empty(2, layout.numel, device=meta))
    dsa = DSA(dsa_strategy) if dsa_strategy and dsa_strategy != "none" else None
    op = None if dsa is None else _costliest_op(dsa, images)
    plan = [StudentStep(torch.arange(batch), op) for _ in range(steps)]
    with _SavedStorages() as saved:
        matching_loss(net, layout, trajectory, 0, 1, images, labels, syn_lr, plan, dsa)
    return saved.nbytes


def _costliest_op(dsa, images: torch.Tensor):
    """The DSA draw (one op, per-image parameters) whose augmentation saves the most bytes."""
    from raydd.core.augment import DSA_OPS, DSAParams

    best, best_bytes = None, -1
    for name in dsa.ops:
        params = DSAParams((name,), torch.rand(len(images), DSA_OPS[name].draws))
        with _SavedStorages() as saved:
            dsa.apply(images, params)
        if saved.nbytes > best_bytes:
            best, best_bytes = params, saved.nbytes
    return best


class _SavedStorages(torch.autograd.graph.saved_tensors_hooks):
    """Within the block, the distinct storages of every tensor autograd saves for backward (views
    share their base's). The tensors are held until the block ends, so no storage is freed and
    its address reused by another while counting."""

    def __init__(self) -> None:
        self.held: list[torch.Tensor] = []
        self.sizes: dict[int, int] = {}
        super().__init__(self._pack, lambda t: t)

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        self.sizes[storage._cdata] = storage.nbytes()  # _cdata: the storage's identity
        self.held.append(t)
        return t

    def __enter__(self) -> "_SavedStorages":
        super().__enter__()
        return self

    @property
    def nbytes(self) -> int:
        return sum(self.sizes.values())


def available_memory(device: str | torch.device) -> int:
    """Bytes free for one process on `device`: CUDA's free memory, or the host's MemAvailable."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_mtt_memory(archs: Sequence[str], channels: int, num_classes: int, image_size: int, batch_syn: int,
                     syn_steps: int, n_images: int, dsa_strategy: str | None, available: int) -> None:
    """Refuse in one line, before any work, a setting whose estimate for the pool's largest
    architecture exceeds `HEADROOM` of `available` bytes."""
    estimates = {arch: estimate_mtt_memory(arch, channels, num_classes, image_size, batch_syn, syn_steps,
                                           n_images, dsa_strategy).total for arch in archs}
    arch = max(estimates, key=estimates.get)
    if estimates[arch] > HEADROOM * available:
        raise ValueError(f"MTT with {arch}, syn_steps {syn_steps} and batch_syn {batch_syn} needs about "
                         f"{estimates[arch] / 2**30:.2f} GiB, more than {HEADROOM:.0%} of the "
                         f"{available / 2**30:.2f} GiB available; lower syn_steps or batch_syn")
