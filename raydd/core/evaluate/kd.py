"""Hinton's knowledge-distillation loss, in its standard form."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float,
    temperature: float,
) -> torch.Tensor:
    """`(1 - alpha) * CE(student, y) + alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))`.

    The KL term is averaged over the batch ("batchmean", the true KL per example); the T^2
    factor keeps its gradient on the same scale as the cross-entropy for any T.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    hard = F.cross_entropy(student_logits, labels)
    if alpha == 0.0:
        return hard
    # F.kl_div(input, target) computes KL(target || input): the student is the input, the
    # teacher the target. Both as log-probabilities, which is exact and numerically stable.
    soft = F.kl_div(
        F.log_softmax(student_logits / temperature, dim=1),
        F.log_softmax(teacher_logits.detach() / temperature, dim=1),
        log_target=True,
        reduction="batchmean",
    )
    return (1.0 - alpha) * hard + alpha * temperature**2 * soft
