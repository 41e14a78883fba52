"""The probe: an objective Tune can see while a set is being distilled.

Every `probe.report_every` iterations and at the end, a trial trains the probe students on its
current synthetic images (core's `train_group`, the evaluation protocol at `probe.epochs`) and
measures them on the validation split carved from the training data; the test split is never
looked at. Tune receives their mean (`probe_val_acc`) and each student's own
(`probe_val_acc_<student>`), and `probe_seconds`, what the probe cost.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from raydd.core.evaluate import EvalConfig, train_group
from raydd.core.evaluate.protocol import validation_subset
from raydd.core.evaluate.speed import inference_batch_size
from raydd.spec.search import OBJECTIVE, ProbeSpec, student_metric


def class_labels(images: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The labels of a distiller's images, which are class-major (`ipc` images of class 0, ...)."""
    return torch.arange(num_classes).repeat_interleave(len(images) // num_classes)


def probe_metrics(images: torch.Tensor, labels: torch.Tensor, data, probe: ProbeSpec, evaluation: EvalConfig,
                  device: str) -> dict[str, float]:
    """Train each probe student (seeds 0..probe.seeds-1) on the set; their validation accuracies."""
    start = time.perf_counter()
    cfg = dataclasses.replace(evaluation, epochs=probe.epochs)
    val = validation_subset(data.val, cfg.val_images)
    metrics = {}
    for student in probe.students:
        trained = train_group(images, labels, data, student, cfg, range(probe.seeds), device, role="probe")
        batch_size = cfg.eval_batch_size or inference_batch_size(student, torch.device(device).type)
        accuracies = trained.accuracies(val, batch_size, device)
        metrics[student_metric(student)] = sum(accuracies) / len(accuracies)
    metrics[OBJECTIVE] = sum(metrics.values()) / len(metrics)
    metrics["probe_seconds"] = time.perf_counter() - start
    return metrics
