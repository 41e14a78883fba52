"""Evaluation of synthetic sets: the DC/DSA/DM student protocol, Hinton KD from a teacher
trained on the same set, seeds, and the random-real baseline. Plain PyTorch, no Ray."""

from raydd.core.evaluate.config import DEFAULT_EPOCHS, EvalConfig, EvalRecord, RecordSummary
from raydd.core.evaluate.kd import kd_loss
from raydd.core.evaluate.protocol import (
    check_architectures,
    evaluate_random_real,
    evaluate_student,
    evaluate_synset,
    random_real,
    summarise_records,
    train_student,
    train_teacher,
)
from raydd.core.evaluate.train import accuracy, predict, train_net

__all__ = [
    "DEFAULT_EPOCHS",
    "EvalConfig",
    "EvalRecord",
    "RecordSummary",
    "accuracy",
    "check_architectures",
    "evaluate_random_real",
    "evaluate_student",
    "evaluate_synset",
    "kd_loss",
    "predict",
    "random_real",
    "summarise_records",
    "train_net",
    "train_student",
    "train_teacher",
]
