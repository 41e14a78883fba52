"""Dataset distillation: DC, DSA and DM over a model pool, resumable step by step.

`Distiller` holds one run and advances it an outer iteration per `step()` (a Tune trial drives it
so); `distill()` runs it to the end with atomic checkpoints.
"""

from raydd.core.distill.config import DC_LOOPS, METHOD_DEFAULTS, DistillConfig, loops_for_ipc
from raydd.core.distill.matching import DISTANCES
from raydd.core.distill.methods import METHODS, Method
from raydd.core.distill import dc as _dc, dm as _dm  # noqa: F401  (fill METHODS)
from raydd.core.distill.distiller import Distiller
from raydd.core.distill.loop import Progress, distill, load_checkpoint, save_checkpoint

__all__ = [
    "DC_LOOPS", "DISTANCES", "METHODS", "METHOD_DEFAULTS", "DistillConfig", "Distiller", "Method",
    "Progress", "distill", "load_checkpoint", "loops_for_ipc", "save_checkpoint",
]
