"""Batched, on-device image augmentation: DSA (differentiable, siamese) and DC's evaluation set.

Every random draw comes from an explicit CPU `torch.Generator` given by the caller, never from
the global RNG, so a run is reproducible and two batches can share one draw. Draws are made on
the CPU (a few numbers per call) and moved to the images' device in one non-blocking copy; the
image work itself never reads a value back to the host.

Semantics, checked against the public DSA/DC reference code (DatasetCondensation `utils.py`):

- DSA's default `aug_mode` is 'S': a call picks ONE op of the underscore-joined strategy at
  random ('color' counts as one op made of brightness, saturation and contrast) and applies it.
  Mode 'M' applies every op in order. Here: `mode="single"` (default) and `mode="all"`.
- Siamese augmentation there seeds the global RNG identically for the real and the synthetic
  batch and, in that "batchmode", copies the first image's parameters to the whole batch: one
  parameter set per call, shared by every image. That is the only form that is well defined
  when the two batches differ in size (256 real vs 10 synthetic), so `DSA.sample(1, g)` draws
  one shared set, and applying it to two batches or to their concatenation gives the same images.
- Without a seed (training students at evaluation time) parameters are drawn per image; the
  op is still chosen once per call. The `dsa` entry of `AUGMENTATIONS` does that.
- DC's `augment` picks one of crop / scale / rotate / noise independently for every image,
  with crop 4 px, scale +-20 %, rotate 45 degrees and noise std 0.001 (`get_daparam`); MNIST
  used 'crop_scale_rotate'. Here the three geometric ops become one affine matrix per image and
  one `grid_sample` for the whole batch (bilinear, out-of-image pixels filled with the batch's
  channel mean, as the reference pads with the mean), instead of a python loop over images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from raydd.registry import Registry, lookup

DEFAULT_DSA_STRATEGY = "color_crop_cutout_flip_scale_rotate"
DSA_MODES = ("single", "all")
NO_STRATEGY = "none"


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _check_images(x: torch.Tensor) -> None:
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(
            f"expected a float image batch [N, C, H, W], got shape {tuple(x.shape)} dtype {x.dtype}"
        )


def _check_generator(generator: torch.Generator) -> None:
    # A CPU generator keeps sampling free of device round trips (choosing the op needs a host int).
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"expected a torch.Generator, got {type(generator).__name__}")
    if generator.device.type != "cpu":
        raise ValueError(
            f"augmentation draws need a CPU torch.Generator, got one on {generator.device}"
        )


def _split_strategy(strategy: str, known: dict, kind: str) -> tuple[str, ...]:
    names = tuple(strategy.split("_"))
    if not strategy or any(not n for n in names):
        raise ValueError(f"empty op in strategy {strategy!r}; known {kind}s: {', '.join(known)}")
    for name in names:
        lookup(known, name, kind)  # ValueError naming the known ops
    if len(set(names)) != len(names):
        raise ValueError(f"strategy {strategy!r} lists an op twice")
    return names


def _affine(x: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Resample each image with its [2, 3] matrix (output -> input coords); one may serve all."""
    n, c, h, w = x.shape
    grid = F.affine_grid(theta.to(x.dtype), [theta.shape[0], c, h, w], align_corners=False)
    grid = grid.expand(n, h, w, 2)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _translation_theta(t_h: torch.Tensor, t_w: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Matrices shifting content by (t_h, t_w) pixels: output[i, j] = input[i + t_h, j + t_w]."""
    one, zero = torch.ones_like(t_h), torch.zeros_like(t_h)
    row_x = torch.stack([one, zero, 2.0 * t_w / w], dim=-1)  # grid x runs along the width
    row_y = torch.stack([zero, one, 2.0 * t_h / h], dim=-1)
    return torch.stack([row_x, row_y], dim=-2)


def _scale_theta(s_x: torch.Tensor, s_y: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros_like(s_x)
    return torch.stack(
        [torch.stack([s_x, zero, zero], -1), torch.stack([zero, s_y, zero], -1)], dim=-2
    )


def _rotation_theta(radians: torch.Tensor) -> torch.Tensor:
    cos, sin, zero = torch.cos(radians), torch.sin(radians), torch.zeros_like(radians)
    return torch.stack(
        [torch.stack([cos, -sin, zero], -1), torch.stack([sin, cos, zero], -1)], dim=-2
    )


def _uniform_int(u: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """Map u in [0, 1) to integers in [low, high], uniformly, keeping u's dtype."""
    return torch.floor(u * (high - low + 1)).clamp(max=high - low) + low


# ---------------------------------------------------------------------------------------------
# DSA


@dataclass(frozen=True)
class DSAConfig:
    """Magnitudes of the DSA ops; the defaults are those of the DSA paper and its code."""

    ratio_scale: float = 1.2  # scale factors drawn in [1 / 1.2, 1.2] per axis
    ratio_rotate: float = 15.0  # degrees, drawn in [-15, 15]
    ratio_crop_pad: float = 0.125  # translation up to 1/8 of the side (4 px at 32)
    ratio_cutout: float = 0.5  # the erased square is half the side
    brightness: float = 1.0  # additive shift in [-0.5, 0.5]
    saturation: float = 2.0  # chroma factor in [0, 2]
    contrast: float = 0.5  # contrast factor in [0.5, 1.5]
    prob_flip: float = 0.5  # horizontal flip probability

    def __post_init__(self) -> None:
        problems = []
        if self.ratio_scale < 1.0:
            problems.append(f"ratio_scale must be >= 1, got {self.ratio_scale}")
        if not 0.0 <= self.ratio_crop_pad < 1.0:
            problems.append(f"ratio_crop_pad must be in [0, 1), got {self.ratio_crop_pad}")
        if not 0.0 < self.ratio_cutout <= 1.0:
            problems.append(f"ratio_cutout must be in (0, 1], got {self.ratio_cutout}")
        if not 0.0 <= self.prob_flip <= 1.0:
            problems.append(f"prob_flip must be in [0, 1], got {self.prob_flip}")
        for name in ("ratio_rotate", "brightness", "saturation", "contrast"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if problems:
            raise ValueError("invalid DSAConfig: " + "; ".join(problems))


@dataclass(frozen=True)
class DSAOp:
    """One DSA op: how many uniforms it needs per image, and how it turns them into images."""

    draws: int
    apply: Callable[[torch.Tensor, torch.Tensor, DSAConfig], torch.Tensor]  # (x, u [B, draws], cfg)


def _column(u: torch.Tensor, i: int) -> torch.Tensor:
    return u[:, i].view(-1, 1, 1, 1)


def _color(x: torch.Tensor, u: torch.Tensor, cfg: DSAConfig) -> torch.Tensor:
    """Brightness (x + b), saturation ((x - mean_c) s + mean_c), contrast ((x - mean) k + mean).

    Applied in that order the three collapse to k s x + [k (1 - s) mean_c + (1 - k) mean + b],
    with mean_c, mean taken on the input; one full-size pass instead of eight (and no
    full-size temporaries, which cost more than the arithmetic on CPU).
    """
    b = (_column(u, 0) - 0.5) * cfg.brightness
    s = _column(u, 1) * cfg.saturation
    k = _column(u, 2) + cfg.contrast
    channel_mean = x.mean(dim=1, keepdim=True)
    image_mean = channel_mean.mean(dim=(2, 3), keepdim=True)
    offset = k * (1 - s) * channel_mean + (1 - k) * image_mean + b
    return torch.addcmul(offset, k * s, x)


def _crop(x: torch.Tensor, u: torch.Tensor, cfg: DSAConfig) -> torch.Tensor:
    # Pad-and-crop is a whole-pixel translation with zero fill; nearest sampling keeps it exact.
    h, w = x.shape[-2:]
    shift_h, shift_w = int(h * cfg.ratio_crop_pad + 0.5), int(w * cfg.ratio_crop_pad + 0.5)
    t_h = _uniform_int(u[:, 0], -shift_h, shift_h)
    t_w = _uniform_int(u[:, 1], -shift_w, shift_w)
    return _affine(x, _translation_theta(t_h, t_w, h, w), mode="nearest")


def _cutout_axis(u: torch.Tensor, side: int, size: int) -> torch.Tensor:
    """[B, side] bool: which rows (or columns) the erased square covers."""
    centre = _uniform_int(u, 0, side - size % 2)
    low = (centre - size // 2).unsqueeze(1)
    index = torch.arange(side, device=u.device, dtype=u.dtype)
    return (index >= low) & (index < low + size)


def _cutout(x: torch.Tensor, u: torch.Tensor, cfg: DSAConfig) -> torch.Tensor:
    h, w = x.shape[-2:]
    rows = _cutout_axis(u[:, 0], h, int(h * cfg.ratio_cutout + 0.5))
    cols = _cutout_axis(u[:, 1], w, int(w * cfg.ratio_cutout + 0.5))
    erased = rows.unsqueeze(2) & cols.unsqueeze(1)
    return x * (~erased).unsqueeze(1).to(x.dtype)


def _flip(x: torch.Tensor, u: torch.Tensor, cfg: DSAConfig) -> torch.Tensor:
    return torch.where(_column(u, 0) < cfg.prob_flip, x.flip(3), x)


def _scale(x: torch.Tensor, u: torch.Tensor, cfg: DSAConfig) -> torch.Tensor:
    low, high = 1.0 / cfg.ratio_scale, cfg.ratio_scale
    s_x, s_y = u[:, 0] * (high - low) + low, u[:, 1] * (high - low) + low
    return _affine(x, _scale_theta(s_x, s_y))


def _rotate(x: torch.Tensor, u: torch.Tensor, cfg: DSAConfig) -> torch.Tensor:
    radians = (u[:, 0] - 0.5) * 2.0 * math.radians(cfg.ratio_rotate)
    return _affine(x, _rotation_theta(radians))


DSA_OPS: dict[str, DSAOp] = {
    "color": DSAOp(3, _color),
    "crop": DSAOp(2, _crop),
    "cutout": DSAOp(2, _cutout),
    "flip": DSAOp(1, _flip),
    "scale": DSAOp(2, _scale),
    "rotate": DSAOp(1, _rotate),
}


@dataclass(frozen=True)
class DSAParams:
    """One draw: the ops to apply, in order, and their uniforms packed as [B, sum of draws].

    B == 1 means one parameter set shared by every image of any batch (siamese use); B == N
    gives image i its own parameters and only fits a batch of N.
    """

    ops: tuple[str, ...]
    uniforms: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.uniforms.shape[0]


class DSA:
    """Differentiable Siamese Augmentation.

    `dsa(x, seed)` or `dsa(x, params)` with the same seed / params gives real and synthetic
    batches the same transform. `sample(n, generator)` draws params; `apply(x, params)` uses them.
    """

    def __init__(
        self,
        strategy: str = DEFAULT_DSA_STRATEGY,
        *,
        mode: str = "single",
        config: DSAConfig = DSAConfig(),
    ) -> None:
        if mode not in DSA_MODES:
            raise ValueError(f"unknown DSA mode {mode!r}; known: {', '.join(DSA_MODES)}")
        self.strategy = strategy
        self.mode = mode
        self.config = config
        self.ops = () if strategy == NO_STRATEGY else _split_strategy(strategy, DSA_OPS, "DSA op")

    def __repr__(self) -> str:
        return f"DSA(strategy={self.strategy!r}, mode={self.mode!r}, config={self.config!r})"

    def sample(self, batch_size: int, generator: torch.Generator) -> DSAParams:
        """Draw parameters on the CPU: batch_size 1 for a shared (siamese) draw, N for per-image."""
        _check_generator(generator)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ops = self.ops
        if self.mode == "single" and ops:
            ops = (ops[int(torch.randint(len(ops), (1,), generator=generator))],)
        width = sum(DSA_OPS[op].draws for op in ops)
        return DSAParams(ops, torch.rand(batch_size, width, generator=generator))

    def apply(self, x: torch.Tensor, params: DSAParams) -> torch.Tensor:
        """Augment x with the given draw; differentiable with respect to x."""
        _check_images(x)
        if params.batch_size not in (1, x.shape[0]):
            raise ValueError(
                f"params were drawn for {params.batch_size} images, the batch has {x.shape[0]}"
            )
        # One small host-to-device copy per call; non_blocking avoids waiting on the device queue.
        uniforms = params.uniforms.to(x.device, dtype=x.dtype, non_blocking=True)
        start = 0
        for name in params.ops:
            op = DSA_OPS[name]
            x = op.apply(x, uniforms[:, start : start + op.draws], self.config)
            start += op.draws
        return x.contiguous()

    def __call__(self, x: torch.Tensor, seed_or_params: int | DSAParams) -> torch.Tensor:
        """Siamese augmentation: one int seed (or params) gives every batch the same transform."""
        if isinstance(seed_or_params, DSAParams):
            return self.apply(x, seed_or_params)
        if isinstance(seed_or_params, int) and not isinstance(seed_or_params, bool):
            generator = torch.Generator().manual_seed(seed_or_params)
            return self.apply(x, self.sample(1, generator))
        raise TypeError(f"expected an int seed or DSAParams, got {type(seed_or_params).__name__}")


# ---------------------------------------------------------------------------------------------
# DC evaluation augmentation


@dataclass(frozen=True)
class DCAugConfig:
    """DC's evaluation augmentation (`get_daparam` of the reference code): one op per image."""

    strategy: str = "crop_scale_rotate"  # what the DC code used for MNIST
    crop: int = 4  # pixels of translation each way
    scale: float = 0.2  # each side resized by a factor in [0.8, 1.2]
    rotate: float = 45.0  # degrees, drawn in [-45, 45] (the reference's value)
    noise: float = 0.001  # std of additive gaussian noise

    def __post_init__(self) -> None:
        problems = []
        if self.crop < 0:
            problems.append(f"crop must be >= 0, got {self.crop}")
        if not 0.0 <= self.scale < 1.0:
            problems.append(f"scale must be in [0, 1), got {self.scale}")
        if self.rotate < 0 or self.noise < 0:
            problems.append(f"rotate and noise must be >= 0, got {self.rotate}, {self.noise}")
        if problems:
            raise ValueError("invalid DCAugConfig: " + "; ".join(problems))
        _split_strategy(self.strategy, DC_OPS, "DC augmentation op")


# Each DC op is a [N, 2, 3] matrix built from two uniforms per image (noise: the identity).
def _dc_crop(u: torch.Tensor, cfg: DCAugConfig, h: int, w: int) -> torch.Tensor:
    t_h = _uniform_int(u[:, 0], -cfg.crop, cfg.crop)
    t_w = _uniform_int(u[:, 1], -cfg.crop, cfg.crop)
    return _translation_theta(t_h, t_w, h, w)


def _dc_scale(u: torch.Tensor, cfg: DCAugConfig, h: int, w: int) -> torch.Tensor:
    size = 1.0 + (u * 2.0 - 1.0) * cfg.scale  # output size / input size, per axis
    return _scale_theta(1.0 / size[:, 1], 1.0 / size[:, 0])


def _dc_rotate(u: torch.Tensor, cfg: DCAugConfig, h: int, w: int) -> torch.Tensor:
    return _rotation_theta((u[:, 0] - 0.5) * 2.0 * math.radians(cfg.rotate))


def _dc_noise(u: torch.Tensor, cfg: DCAugConfig, h: int, w: int) -> torch.Tensor:
    return _scale_theta(torch.ones_like(u[:, 0]), torch.ones_like(u[:, 0]))


DC_OPS: dict[str, Callable[[torch.Tensor, DCAugConfig, int, int], torch.Tensor]] = {
    "crop": _dc_crop, "scale": _dc_scale, "rotate": _dc_rotate, "noise": _dc_noise,
}


class DCAugment:
    """`aug(x, generator)`: every image gets one op of the strategy, all in one batched resample."""

    def __init__(self, config: DCAugConfig = DCAugConfig()) -> None:
        self.config = config
        self.ops = _split_strategy(config.strategy, DC_OPS, "DC augmentation op")

    def __repr__(self) -> str:
        return f"DCAugment({self.config!r})"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check_images(x)
        _check_generator(generator)
        n, _, h, w = x.shape
        choice = torch.randint(len(self.ops), (n,), generator=generator)
        u = torch.rand(n, 2, generator=generator)
        thetas = torch.stack([DC_OPS[op](u, self.config, h, w) for op in self.ops])
        theta = thetas[choice, torch.arange(n)].to(x.device, non_blocking=True)
        if any(op != "noise" for op in self.ops):
            fill = x.mean(dim=(0, 2, 3), keepdim=True)  # the reference pads with the channel mean
            x = _affine(x - fill, theta) + fill
        if "noise" in self.ops:
            x = x + self._noise(x, choice == self.ops.index("noise"), generator)
        return x

    def _noise(
        self, x: torch.Tensor, chosen: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        # Noise is image-sized, so it is drawn on x's device from a seed taken from the generator.
        seed = int(torch.randint(2**62, (1,), generator=generator))
        device_generator = torch.Generator(device=x.device).manual_seed(seed)
        noise = torch.randn(x.shape, generator=device_generator, device=x.device, dtype=x.dtype)
        mask = chosen.to(x.device, dtype=x.dtype, non_blocking=True).view(-1, 1, 1, 1)
        return noise * (self.config.noise * mask)


# ---------------------------------------------------------------------------------------------
# Registry of evaluation-time augmentations: factories returning `aug(x, generator) -> x`


class NoAugmentation:
    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x

    def __repr__(self) -> str:
        return "NoAugmentation()"


class PerImageDSA:
    """DSA as used to train students: one op per call, its parameters drawn per image."""

    def __init__(self, dsa: DSA) -> None:
        self.dsa = dsa

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.dsa.apply(x, self.dsa.sample(x.shape[0], generator))

    def __repr__(self) -> str:
        return f"PerImageDSA({self.dsa!r})"


Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]  # aug(x, generator) -> x

AUGMENTATIONS: Registry[Callable[..., Augment]] = Registry("augmentation")


@AUGMENTATIONS.register("none")
def _make_none() -> NoAugmentation:
    return NoAugmentation()


@AUGMENTATIONS.register("dsa")
def _make_dsa(
    strategy: str = DEFAULT_DSA_STRATEGY, mode: str = "single", config: DSAConfig = DSAConfig()
) -> PerImageDSA:
    return PerImageDSA(DSA(strategy, mode=mode, config=config))


@AUGMENTATIONS.register("dc")
def _make_dc(**config: object) -> DCAugment:
    return DCAugment(DCAugConfig(**config))  # type: ignore[arg-type]


def get_augmentation(name: str, **kw: object) -> Augment:
    """The evaluation augmentation `name` (none, dsa, dc) as a callable `aug(x, generator) -> x`."""
    return AUGMENTATIONS.get(name)(**kw)
