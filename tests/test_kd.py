"""Hinton's KD loss against values worked out by hand from the softmax definition."""

import math

import pytest
import torch
import torch.nn.functional as F

from raydd.core.evaluate import kd_loss

STUDENT = [[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]
TEACHER = [[1.0, 1.5, -0.5], [-1.0, 0.0, 2.0]]
LABELS = [0, 2]


def _softmax(row, temperature):
    exps = [math.exp(v / temperature) for v in row]
    return [e / sum(exps) for e in exps]


def _by_hand(student, teacher, labels, alpha, temperature):
    ce = -sum(math.log(_softmax(s, 1.0)[y]) for s, y in zip(student, labels)) / len(labels)
    kl = 0.0
    for s, t in zip(student, teacher):
        p_t, p_s = _softmax(t, temperature), _softmax(s, temperature)
        kl += sum(pt * (math.log(pt) - math.log(ps)) for pt, ps in zip(p_t, p_s))  # KL(teacher || student)
    kl /= len(labels)
    return (1 - alpha) * ce + alpha * temperature**2 * kl


def _tensors():
    return torch.tensor(STUDENT), torch.tensor(TEACHER), torch.tensor(LABELS)


@pytest.mark.parametrize("alpha,temperature", [(0.5, 1.0), (0.3, 2.0), (0.9, 4.0), (1.0, 8.0)])
def test_kd_loss_equals_the_hand_computed_value(alpha, temperature):
    s, t, y = _tensors()
    expected = _by_hand(STUDENT, TEACHER, LABELS, alpha, temperature)
    assert kd_loss(s, t, y, alpha, temperature).item() == pytest.approx(expected, rel=1e-5)


def test_kd_loss_is_not_the_swapped_kl():
    # KL(student || teacher), the seed code's mistake, differs on these logits.
    s, t, y = _tensors()
    swapped = _by_hand(TEACHER, STUDENT, LABELS, 1.0, 2.0)
    assert kd_loss(s, t, y, 1.0, 2.0).item() != pytest.approx(swapped, rel=1e-3)


def test_alpha_zero_is_plain_cross_entropy_and_identical_logits_cost_nothing():
    s, t, y = _tensors()
    assert kd_loss(s, t, y, 0.0, 4.0).item() == pytest.approx(F.cross_entropy(s, y).item())
    assert kd_loss(s, s.clone(), y, 1.0, 4.0).item() == pytest.approx(0.0, abs=1e-6)


def test_gradients_reach_the_student_only():
    s, t, y = _tensors()
    s.requires_grad_(True)
    t.requires_grad_(True)
    kd_loss(s, t, y, 0.5, 2.0).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


@pytest.mark.parametrize("alpha,temperature", [(-0.1, 1.0), (1.5, 1.0), (0.5, 0.0), (0.5, -2.0)])
def test_bad_alpha_or_temperature_is_a_value_error(alpha, temperature):
    s, t, y = _tensors()
    with pytest.raises(ValueError):
        kd_loss(s, t, y, alpha, temperature)
