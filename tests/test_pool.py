import pytest
import torch
from scipy.stats import chisquare

from raydd.core.pool import ModelPool, PoolSpec


def test_parse_name_round_trip_and_views():
    spec = PoolSpec.parse("ConvNet=0.9,ConvNetW64=0.1", warmup=5)
    assert spec.archs == ("ConvNet", "ConvNetW64") and spec.probs == (0.9, 0.1)
    assert spec.main == "ConvNet" and spec.warmup == 5
    assert PoolSpec.parse(spec.name, warmup=5) == spec
    assert spec.as_dict() == {"archs": {"ConvNet": 0.9, "ConvNetW64": 0.1}, "warmup": 5}
    assert PoolSpec.from_dict(spec.as_dict()) == spec


def test_single_and_main_share():
    assert PoolSpec.single("LeNet") == PoolSpec(("LeNet",), (1.0,))
    assert PoolSpec.parse("LeNet") == PoolSpec.single("LeNet")
    spec = PoolSpec.main_share("ConvNet", ["LeNet", "AlexNet", "VGG11"], 0.9)
    assert spec.main == "ConvNet"
    assert spec.probs[0] == 0.9 and spec.probs[1:] == pytest.approx((0.1 / 3,) * 3)
    third = PoolSpec.main_share("ConvNet", ["LeNet", "MLP"], 1 / 3)
    assert PoolSpec.parse(third.name) == third


def test_normalize_on_request_only():
    with pytest.raises(ValueError, match="sum to 3"):
        PoolSpec.parse("ConvNet=2,LeNet=1")
    spec = PoolSpec.parse("ConvNet=2,LeNet=1", normalize=True)
    assert spec.probs == pytest.approx((2 / 3, 1 / 3))


@pytest.mark.parametrize(
    "text, message",
    [
        ("ConvNet=0.5,NoSuchNet=0.5", "unknown architecture 'NoSuchNet'"),
        ("ConvNet=1.2,LeNet=-0.2", "'LeNet' has weight -0.2"),
        ("ConvNet=0,LeNet=0", "all zero"),
        ("ConvNet=0.5,LeNet=0.4", "sum to 0.9"),
        ("ConvNet=0.5,ConvNet=0.5", "'ConvNet' appears twice"),
        ("ConvNet=abc", "weight 'abc' is not a number"),
        ("ConvNet=0.5,,LeNet=0.5", "empty entry"),
        ("=1", "no architecture name"),
        ("", "empty"),
        ("ConvNet=nan", "must be finite"),
    ],
)
def test_bad_pools_are_refused_with_the_entry_named(text, message):
    with pytest.raises(ValueError, match=message):
        PoolSpec.parse(text)


def test_all_zero_refused_even_with_normalize():
    with pytest.raises(ValueError, match="all zero"):
        PoolSpec.parse("ConvNet=0,LeNet=0", normalize=True)


def test_bad_warmup_and_mismatched_lengths():
    with pytest.raises(ValueError, match="warmup"):
        PoolSpec.parse("ConvNet", warmup=-1)
    with pytest.raises(ValueError, match="2 architectures but 1"):
        PoolSpec(("ConvNet", "LeNet"), (1.0,))
    with pytest.raises(ValueError, match="main architecture's weight must lie in"):
        PoolSpec.main_share("ConvNet", ["LeNet"], 1.5)
    with pytest.raises(ValueError, match="no other architecture shares the rest"):
        PoolSpec.main_share("ConvNet", [], 0.5)


def test_normalized_rescales_the_weights_and_refuses_all_zero():
    assert PoolSpec.normalized(["ConvNet", "LeNet"], [3, 1]).probs == (0.75, 0.25)
    assert PoolSpec.normalized(["ConvNet", "LeNet"], [3, 1]) == PoolSpec.parse("ConvNet=3,LeNet=1", normalize=True)
    with pytest.raises(ValueError, match="all zero"):
        PoolSpec.normalized(["ConvNet", "LeNet"], [0, 0])


def test_draws_follow_the_probabilities():
    spec = PoolSpec.parse("ConvNet=0.6,ConvNetW64=0.3,LeNet=0.1")
    pool = ModelPool(spec, seed=0)
    draws = [pool.sample(i) for i in range(20_000)]
    observed = [draws.count(a) for a in spec.archs]
    expected = [p * len(draws) for p in spec.probs]
    assert chisquare(observed, expected).pvalue > 0.001
    # and a wrong hypothesis is rejected, so the test has power
    assert chisquare(observed, [len(draws) / 3] * 3).pvalue < 1e-6


def test_warmup_draws_only_the_main_arch():
    pool = ModelPool(PoolSpec.parse("LeNet=0.01,ConvNet=0.99", warmup=50), seed=1)
    assert {pool.sample(i) for i in range(50)} == {"LeNet"}
    assert "ConvNet" in {pool.sample(i) for i in range(50, 100)}


def test_state_dict_resumes_the_sequence_and_leaves_global_rng_alone():
    spec = PoolSpec.parse("ConvNet=0.5,LeNet=0.5")
    global_state = torch.get_rng_state()
    a = ModelPool(spec, seed=3)
    [a.sample(i) for i in range(10)]
    saved = a.state_dict()
    rest = [a.sample(i) for i in range(10, 30)]
    b = ModelPool(spec, seed=99)
    b.load_state_dict(saved)
    assert [b.sample(i) for i in range(10, 30)] == rest
    assert torch.equal(torch.get_rng_state(), global_state)
    with pytest.raises(ValueError, match="differs"):
        ModelPool(PoolSpec.single("ConvNet"), 0).load_state_dict(saved)


def test_main_share_names_read_cleanly():
    spec = PoolSpec.main_share("ConvNet", ["ConvNetW64", "ConvNetD2"], 0.9)
    assert spec.name == "ConvNet=0.9,ConvNetW64=0.05,ConvNetD2=0.05"
    assert PoolSpec.parse(spec.name) == spec
