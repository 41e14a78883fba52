"""Hinton's knowledge-distillation loss, in its standard form, for one net or a stack of members."""

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
    weights = student_logits.new_tensor([alpha]), student_logits.new_tensor([temperature])
    return member_losses(student_logits[None], labels[None], teacher_logits[None], *weights)[0]


def member_losses(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None = None,
    alpha: torch.Tensor | None = None,
    temperature: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss of every member [M]: logits [M, B, classes], labels [M, B] class indices or
    [M, B, classes] probabilities (soft labels: the cross-entropy to them).

    Without `teacher_logits`, the cross-entropy; with them, `kd_loss` with each member's own
    `alpha` [M] and `temperature` [M].
    """
    members, batch = labels.shape[:2]
    hard = F.cross_entropy(logits.flatten(0, 1), labels.flatten(0, 1), reduction="none").view(members, batch).mean(1)
    if teacher_logits is None:
        return hard
    t = temperature.view(-1, 1, 1)
    # F.kl_div(input, target) computes KL(target || input): the student is the input, the
    # teacher the target. Both as log-probabilities, which is exact and numerically stable.
    soft = F.kl_div(
        F.log_softmax(logits / t, dim=2),
        F.log_softmax(teacher_logits.detach() / t, dim=2),
        log_target=True,
        reduction="none",
    ).sum(2).mean(1)
    return (1.0 - alpha) * hard + alpha * temperature**2 * soft
