"""Expert trajectories for trajectory matching (MTT): training one expert, and the store that keeps
them, content-addressed, checked and resumable. Plain PyTorch, no Ray."""

from raydd.core.experts.params import ParamLayout, check_unrollable, unroll_problem
from raydd.core.experts.settings import AUGMENTS, ExpertIdentity, ExpertSettings
from raydd.core.experts.store import ExpertError, ExpertOutcome, ExpertStore, load_expert
from raydd.core.experts.train import Trajectory, train_expert

__all__ = [
    "AUGMENTS", "ExpertError", "ExpertIdentity", "ExpertOutcome", "ExpertSettings", "ExpertStore",
    "ParamLayout", "Trajectory", "check_unrollable", "load_expert", "train_expert", "unroll_problem",
]
