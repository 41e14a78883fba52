"""Dataset distillation: DC, DSA, DM and MTT over a model pool, resumable step by step.

A method (`METHODS`) owns its settings and its run: `Distiller` holds a DC/DSA/DM run and
`MTTDistiller` an MTT run, each advancing an outer iteration per `step()`; `distill()` runs either to
the end, checkpointing to a directory or to any `CheckpointStore` (a Tune trial passes Tune's).
"""

from raydd.core.distill.config import DC_LOOPS, DistillConfig, loops_for_ipc
from raydd.core.distill.dc_settings import DCSettings
from raydd.core.distill.distiller import Distiller
from raydd.core.distill.errors import NonFiniteError
from raydd.core.distill.loop import CheckpointStore, Progress, distill, load_checkpoint, save_checkpoint
from raydd.core.distill.matching import DISTANCES
from raydd.core.distill.methods import METHODS, Method
from raydd.core.distill.mtt_method import MTTDistiller, MTTMethodSettings

__all__ = [
    "DC_LOOPS", "DISTANCES", "METHODS", "CheckpointStore", "DCSettings", "DistillConfig", "Distiller",
    "MTTDistiller", "MTTMethodSettings", "Method", "NonFiniteError", "Progress", "distill", "load_checkpoint",
    "loops_for_ipc", "save_checkpoint",
]
