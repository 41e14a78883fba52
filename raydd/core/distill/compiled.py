"""`torch.compile` of the first-order passes of a distillation run: `compile` True, False or auto.

What gets compiled: the real-side forward of DC/DSA (whose backward AOTAutograd compiles too), the
inner-loop training forward, and DM's embeddings. The synthetic side of DC/DSA stays eager, because
it needs a double backward, which compiled graphs do not support.

Fresh nets of one architecture reuse one compiled graph (parameters are graph inputs), so the cost
is one compilation per architecture, input shape and train/eval mode, paid in the first iterations.
Compiled and eager kernels sum in different orders: results agree to float rounding, not bit for bit.

Auto (`compile=None`, the default) compiles on CPU when the run has at least
`AUTO_ITERATIONS_PER_ARCH` iterations per pool architecture and the compiler works here, and runs
eager otherwise (short runs, such as the tests and golden outputs, never compile). What the
compilation costs and saves per iteration: benchmarks/README.md. On a GPU auto stays eager:
there it was slower (one H200: 0.053 s against 0.046 eager per DC iteration, benchmarks/README.md).
"""

from __future__ import annotations

import functools
import warnings
from typing import Callable

import torch

# Each pool member, batch shape and mode is one more graph under the same `forward` code; Dynamo's
# default limit of 8 would silently fall back to eager for a pool of several architectures.
RECOMPILE_LIMIT = 64

# Auto compiles a CPU run of at least this many iterations per pool architecture: each architecture
# costs one compilation, which the time saved per iteration must pay back (benchmarks/README.md).
AUTO_ITERATIONS_PER_ARCH = 200


class CompileUnavailable(RuntimeError):
    """torch.compile cannot build kernels on this machine (no C++ compiler, no Triton, ...)."""


@functools.lru_cache(maxsize=None)
def require_compile(device_type: str) -> None:
    """Compile a one-line function on `device_type`, or raise `CompileUnavailable` saying why;
    also lifts Dynamo's recompile limit to `RECOMPILE_LIMIT` for the run's many graphs.

    Runs before the distillation starts, so a machine without a working compiler fails in seconds
    with a clear message instead of at the first matching step.
    """
    import torch._dynamo

    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    probe = torch.compile(lambda x: torch.relu(x) * 2.0 + 1.0, dynamic=False)
    try:
        probe(torch.ones(8, device=device_type))
    except Exception as error:  # inductor raises many types (compiler missing, Triton missing, ...)
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise CompileUnavailable(
            f"compile=True, but torch.compile cannot build kernels on {device_type} here: "
            f"{first_line[:300]}. Install a C++ compiler (CPU) or Triton (GPU), or run without compile."
        ) from error


def compiles(setting: bool | None, iterations: int, archs: int, device_type: str) -> bool:
    """Whether a run compiles: as `setting` says (True raises `CompileUnavailable` when it cannot), or
    under auto (None) when it runs on CPU long enough and the compiler works."""
    if setting is not None:
        if setting:
            require_compile(device_type)
        return setting
    if device_type != "cpu" or iterations < AUTO_ITERATIONS_PER_ARCH * archs:
        return False
    try:
        require_compile(device_type)
    except CompileUnavailable as error:
        warnings.warn(f"compile=auto runs eager here ({error})", RuntimeWarning, stacklevel=2)
        return False
    return True


def compiled(fn: Callable) -> Callable:
    """`fn` compiled with static shapes (each real-batch shape is fixed for a whole run)."""
    return torch.compile(fn, dynamic=False)


def eager(fn: Callable) -> Callable:
    """`fn` itself: the first-order passes of a run that does not compile."""
    return fn
