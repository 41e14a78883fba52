"""The memory estimate of an MTT iteration (raydd/core/distill/mtt_memory.py) and the refusal it
serves. How close it comes to measured peaks is printed by benchmarks/bench_mtt.py."""

import pytest
import torch

from raydd.core.archs import build_net
from raydd.core.distill.mtt import check_mtt_memory, estimate_mtt_memory
from raydd.core.experts import ParamLayout


def test_the_estimate_grows_by_one_steps_share_per_student_step():
    ten, twenty = (estimate_mtt_memory("ConvNetW32", 1, 10, 28, 10, steps) for steps in (10, 20))
    assert twenty.total - ten.total == 10 * ten.per_step
    assert (ten.per_step, ten.once, ten.transient, ten.fixed) == (twenty.per_step, twenty.once, twenty.transient,
                                                                   twenty.fixed)


def test_a_steps_share_is_mostly_activations_and_grows_with_the_batch():
    small, large = (estimate_mtt_memory("ConvNetW32", 1, 10, 28, batch, 10) for batch in (10, 20))
    assert 1.8 < large.per_step / small.per_step < 2.0  # activations double, parameter vectors do not
    # At least the first conv's output, kept for its backward, for every image of the batch:
    assert small.per_step > 10 * 32 * 32 * 32 * 4


def test_a_steps_share_holds_a_few_parameter_vectors():
    layout = ParamLayout.of(build_net("MLP", 1, 10, 28))
    per_step = estimate_mtt_memory("MLP", 1, 10, 28, 1, 5).per_step
    assert 2 * layout.numel * 4 <= per_step <= 8 * layout.numel * 4


def test_wider_nets_and_dsa_cost_more():
    base = estimate_mtt_memory("ConvNetW32", 1, 10, 28, 10, 10)
    assert estimate_mtt_memory("ConvNet", 1, 10, 28, 10, 10).total > 3 * base.total
    with_dsa = estimate_mtt_memory("ConvNetW32", 1, 10, 28, 10, 10, dsa_strategy="color_crop_cutout_flip_scale_rotate")
    assert with_dsa.per_step > base.per_step
    assert estimate_mtt_memory("ConvNetW32", 1, 10, 28, 10, 10, n_images=100).fixed > base.fixed


def test_the_estimate_allocates_nothing_and_leaves_the_rng_alone():
    state = torch.get_rng_state()
    estimate_mtt_memory("ConvNet", 3, 10, 32, 500, 80)  # ~70 GB if it were real
    assert torch.equal(torch.get_rng_state(), state)


def test_a_setting_larger_than_the_memory_is_refused_in_one_line():
    needed = estimate_mtt_memory("ConvNet", 1, 10, 28, 100, 40).total
    with pytest.raises(ValueError) as info:  # a tenth is kept for the allocator's rounding and the rest
        check_mtt_memory(["ConvNetW32", "ConvNet"], 1, 10, 28, 100, 40, 100, None, available=needed)
    message = str(info.value)
    assert message.startswith("MTT with ConvNet, syn_steps 40 and batch_syn 100 needs about ")
    assert "more than 90% of the" in message
    assert message.endswith("available; lower syn_steps or batch_syn") and "\n" not in message
    check_mtt_memory(["ConvNetW32", "ConvNet"], 1, 10, 28, 100, 40, 100, None, available=int(needed / 0.9) + 1)


def test_an_architecture_mtt_cannot_unroll_has_no_estimate():
    with pytest.raises(ValueError, match="^ConvNetBN cannot be unrolled by trajectory matching"):
        estimate_mtt_memory("ConvNetBN", 1, 10, 28, 10, 10)
