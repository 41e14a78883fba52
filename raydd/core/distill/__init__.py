"""Dataset distillation: DC, DSA and DM over a model pool, resumable step by step.

`Distiller` holds one run and advances it an outer iteration per `step()`; `distill()` runs it to
the end, checkpointing to a directory or to any `CheckpointStore` (a Tune trial passes Tune's).
"""

from raydd.core.distill.config import DC_LOOPS, DistillConfig, loops_for_ipc
from raydd.core.distill.distiller import Distiller, NonFiniteError
from raydd.core.distill.loop import CheckpointStore, Progress, distill, load_checkpoint, save_checkpoint
from raydd.core.distill.matching import DISTANCES
from raydd.core.distill.methods import METHODS, Method

__all__ = [
    "DC_LOOPS", "DISTANCES", "METHODS", "CheckpointStore", "DistillConfig", "Distiller", "Method",
    "NonFiniteError", "Progress", "distill", "load_checkpoint", "loops_for_ipc", "save_checkpoint",
]
