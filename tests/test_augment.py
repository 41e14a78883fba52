import pytest
import torch

from raydd.core.augment import (
    AUGMENTATIONS,
    DSA,
    DSA_OPS,
    DCAugConfig,
    DCAugment,
    DSAConfig,
    DSAParams,
    get_augmentation,
)

SHAPES = [(5, 1, 28, 28), (4, 3, 32, 32)]  # MNIST-like and CIFAR-like


def images(shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def gen(seed):
    return torch.Generator().manual_seed(seed)


def fixed(op, *values):
    """A shared (B == 1) draw of one op with chosen uniforms."""
    return DSAParams((op,), torch.tensor([values], dtype=torch.float32))


# --- DSA ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", list(DSA_OPS))
def test_every_op_keeps_shape_and_passes_gradients(op, shape):
    x = images(shape).requires_grad_(True)
    dsa = DSA(op)
    y = dsa.apply(x, dsa.sample(shape[0], gen(1)))
    assert y.shape == x.shape
    (y * images(shape, seed=9)).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["single", "all"])
def test_shared_draw_treats_each_batch_like_their_concatenation(mode):
    dsa = DSA(mode=mode)
    real, syn = images((12, 3, 32, 32), seed=1), images((3, 3, 32, 32), seed=2)
    for seed in range(8):  # several seeds so that every op of the strategy gets chosen
        params = dsa.sample(1, gen(seed))
        together = dsa.apply(torch.cat([real, syn]), params)
        apart = torch.cat([dsa.apply(real, params), dsa.apply(syn, params)])
        torch.testing.assert_close(together, apart, atol=1e-5, rtol=1e-5)
        # The seed form gives both batches the same transform too.
        by_seed = dsa(torch.cat([real, syn]), seed)[12:]
        torch.testing.assert_close(dsa(syn, seed), by_seed, atol=1e-5, rtol=1e-5)


def test_same_seed_same_output_different_seed_different_output():
    dsa = DSA(mode="all")
    x = images((6, 3, 32, 32))
    torch.testing.assert_close(dsa(x, 7), dsa(x, 7), atol=0, rtol=0)
    assert not torch.allclose(dsa(x, 7), dsa(x, 8))


def test_shared_draw_gives_identical_images_the_same_transform():
    one = images((1, 3, 32, 32))
    batch = one.expand(4, -1, -1, -1)
    y = DSA(mode="all")(batch, 3)
    assert all(torch.allclose(y[0], y[i]) for i in range(4))


def test_per_image_draw_gives_identical_images_different_transforms():
    batch = images((1, 3, 32, 32)).expand(8, -1, -1, -1)
    dsa = DSA(mode="all")
    y = dsa.apply(batch, dsa.sample(8, gen(0)))
    assert not torch.allclose(y[0], y[1])


def test_single_mode_applies_one_op_and_all_mode_every_op():
    assert len(DSA(mode="single").sample(1, gen(0)).ops) == 1
    assert DSA(mode="all").sample(1, gen(0)).ops == DSA().ops
    chosen = {DSA().sample(1, gen(s)).ops[0] for s in range(60)}
    assert chosen == set(DSA().ops)


def test_flip_with_probability_one_equals_torch_flip():
    x = images((4, 3, 32, 32))
    dsa = DSA("flip", config=DSAConfig(prob_flip=1.0))
    torch.testing.assert_close(dsa(x, 0), torch.flip(x, dims=[3]), atol=0, rtol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_rotate_by_zero_scale_by_one_and_crop_by_zero_are_identity(shape):
    x = images(shape)
    dsa = DSA("rotate_scale_crop")
    unit_scale = (1 - 1 / 1.2) / (1.2 - 1 / 1.2)  # the uniform that maps to scale 1
    torch.testing.assert_close(dsa.apply(x, fixed("rotate", 0.5)), x, atol=1e-5, rtol=1e-5)
    scaled = dsa.apply(x, fixed("scale", unit_scale, unit_scale))
    torch.testing.assert_close(scaled, x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dsa.apply(x, fixed("crop", 0.5, 0.5)), x, atol=0, rtol=0)


def test_crop_is_a_whole_pixel_shift_with_zero_fill():
    x = images((2, 3, 32, 32))
    y = DSA("crop").apply(x, fixed("crop", 0.999, 0.0))  # +4 rows, -4 columns at 32 px
    torch.testing.assert_close(y[:, :, :28, 4:], x[:, :, 4:, :28], atol=1e-6, rtol=0)
    assert (y[:, :, 28:] == 0).all() and (y[:, :, :, :4] == 0).all()


def test_cutout_erases_a_half_side_square():
    x = torch.ones(2, 1, 28, 28)
    y = DSA("cutout").apply(x, fixed("cutout", 0.5, 0.5))
    assert (y == 0).sum(dim=(1, 2, 3)).tolist() == [14 * 14, 14 * 14]


def test_color_shift_matches_its_formula_on_one_channel():
    x = images((3, 1, 28, 28))
    y = DSA("color").apply(x, fixed("color", 0.75, 0.3, 0.0))
    shifted = x + 0.25  # brightness; saturation is a no-op on one channel
    mean = shifted.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(y, (shifted - mean) * 0.5 + mean)


def test_color_equals_brightness_then_saturation_then_contrast():
    x = images((4, 3, 32, 32))
    dsa = DSA("color")
    params = dsa.sample(4, gen(2))  # per-image factors
    b, s, k = (params.uniforms[:, i].view(-1, 1, 1, 1) for i in range(3))
    step = x + (b - 0.5) * 1.0
    step = (step - step.mean(1, keepdim=True)) * (s * 2.0) + step.mean(1, keepdim=True)
    mean = step.mean((1, 2, 3), keepdim=True)
    torch.testing.assert_close(dsa.apply(x, params), (step - mean) * (k + 0.5) + mean)


def test_none_strategy_is_identity():
    x = images((2, 3, 32, 32))
    assert torch.equal(DSA("none")(x, 0), x)


@pytest.mark.parametrize("strategy", ["color_blur", "crop__flip", "", "flip_flip"])
def test_bad_strategy_is_refused(strategy):
    with pytest.raises(ValueError, match="known DSA op|twice"):
        DSA(strategy)


def test_unknown_op_message_lists_known_ops():
    with pytest.raises(ValueError, match="color, crop, cutout, flip, scale, rotate"):
        DSA("color_blur")


def test_bad_mode_config_and_inputs_are_refused():
    with pytest.raises(ValueError, match="mode"):
        DSA(mode="M")
    with pytest.raises(ValueError, match="ratio_scale.*prob_flip"):
        DSAConfig(ratio_scale=0.5, prob_flip=2.0)
    dsa = DSA()
    with pytest.raises(ValueError, match="drawn for 3 images"):
        dsa.apply(images((4, 3, 32, 32)), dsa.sample(3, gen(0)))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        dsa(torch.zeros(3, 32, 32), 0)
    with pytest.raises(ValueError, match="batch_size"):
        dsa.sample(0, gen(0))
    with pytest.raises(ValueError, match="torch.Generator"):
        dsa.sample(1, 0)
    with pytest.raises(TypeError, match="int seed or DSAParams"):
        dsa(images((2, 3, 32, 32)), 1.5)


def test_sampling_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    DSA(mode="all")(images((2, 3, 32, 32)), 5)
    get_augmentation("dc", strategy="crop_noise")(images((2, 3, 32, 32)), gen(0))
    assert torch.equal(torch.rand(3), expected)


# --- evaluation augmentations ----------------------------------------------------------------


def test_registry_lists_the_three_augmentations():
    assert AUGMENTATIONS.names() == ["none", "dsa", "dc"]
    with pytest.raises(ValueError, match="known: none, dsa, dc"):
        get_augmentation("mixup")


def test_none_returns_its_input():
    x = images((2, 1, 28, 28))
    assert get_augmentation("none")(x, gen(0)) is x


@pytest.mark.parametrize("name", ["dsa", "dc"])
@pytest.mark.parametrize("shape", SHAPES)
def test_evaluation_augmentations_are_seeded_and_keep_shape(name, shape):
    aug, x = get_augmentation(name), images(shape)
    y = aug(x, gen(4))
    assert y.shape == x.shape and not torch.allclose(y, x)
    torch.testing.assert_close(aug(x, gen(4)), y, atol=0, rtol=0)
    assert not torch.allclose(aug(x, gen(5)), y)


def test_dsa_entry_takes_strategy_and_config():
    aug = get_augmentation("dsa", strategy="flip", config=DSAConfig(prob_flip=1.0))
    x = images((3, 3, 32, 32))
    assert torch.equal(aug(x, gen(0)), x.flip(3))


def test_dc_noise_only_adds_small_noise():
    x = images((64, 1, 28, 28))
    y = get_augmentation("dc", strategy="noise", noise=0.001)(x, gen(0))
    assert 0.0008 < (y - x).std().item() < 0.0012


def test_dc_picks_one_op_per_image():
    # With crop and noise, some images are shifted (large change) and others only noised (tiny).
    x = images((32, 1, 28, 28))
    y = DCAugment(DCAugConfig(strategy="crop_noise"))(x, gen(0))
    change = (y - x).abs().amax(dim=(1, 2, 3))
    assert (change < 0.01).any() and (change > 0.1).any()


def test_dc_rotate_and_scale_fill_with_the_channel_mean():
    x = torch.full((2, 3, 28, 28), 2.0)
    y = get_augmentation("dc", strategy="rotate_scale", rotate=45.0)(x, gen(0))
    torch.testing.assert_close(y, x)


def test_dc_bad_config_is_refused():
    with pytest.raises(ValueError, match="known: crop, scale, rotate, noise"):
        DCAugConfig(strategy="crop_blur")
    with pytest.raises(ValueError, match="scale must be in"):
        DCAugConfig(scale=1.5)
    with pytest.raises(ValueError, match="CPU torch.Generator|torch.Generator"):
        DCAugment()(images((2, 1, 28, 28)), None)
