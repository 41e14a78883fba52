"""Evaluation of synthetic sets: the DC/DSA/DM student protocol, Hinton KD from a teacher
trained on the same set, seeds, and the random-real baseline. Plain PyTorch, no Ray."""

from raydd.core.evaluate.config import DEFAULT_EPOCHS, EvalConfig, EvalRecord, RecordSummary
from raydd.core.evaluate.kd import kd_loss
from raydd.core.evaluate.protocol import (
    Trained,
    check_architectures,
    evaluate_seeds,
    evaluate_student,
    summarise_records,
    train_group,
    train_student,
    train_teacher,
    train_teachers,
)
from raydd.core.evaluate.sets import evaluate_random_real, evaluate_synset, random_real
from raydd.core.evaluate.stack import NetStack, OneNet
from raydd.core.evaluate.train import Member, freeze, member_accuracies, predict, train_members, train_net

__all__ = [
    "DEFAULT_EPOCHS",
    "EvalConfig",
    "EvalRecord",
    "Member",
    "NetStack",
    "OneNet",
    "RecordSummary",
    "Trained",
    "check_architectures",
    "evaluate_random_real",
    "evaluate_seeds",
    "evaluate_student",
    "evaluate_synset",
    "freeze",
    "kd_loss",
    "member_accuracies",
    "predict",
    "random_real",
    "summarise_records",
    "train_group",
    "train_members",
    "train_net",
    "train_student",
    "train_teacher",
    "train_teachers",
]
