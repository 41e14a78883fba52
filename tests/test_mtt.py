"""Trajectory matching (raydd/core/distill/mtt.py): the loss as the paper defines it, its gradient,
the reference's batching, the pool, resuming, and every refusal."""

import io

import pytest
import torch
import torch.nn.functional as F

from raydd.core.archs import build_net
from raydd.core.datasets import DatasetInfo, load_dataset
from raydd.core.distill.distiller import NonFiniteError
from raydd.core.distill.mtt import (
    MTTRun,
    MTTSettings,
    MTTState,
    StudentStep,
    draw_expert,
    draw_start_epoch,
    draw_student_steps,
    initial_images,
    matching_loss,
    mtt_step,
)
from raydd.core.experts import ExpertSettings, ParamLayout, Trajectory
from raydd.core.pool import ModelPool, PoolSpec
from raydd.core.seeding import derive_seed

INFO = DatasetInfo("tiny", 1, 8, 3, (0.0,), (1.0,), ("a", "b", "c"))
EXPERTS = ExpertSettings(epochs=4)
SETTINGS = MTTSettings(syn_steps=3, expert_epochs=2, max_start_epoch=3, experts=EXPERTS, lr_img=10.0)


def fake_trajectory(arch: str, seed: int, epochs: int = 4, info: DatasetInfo = INFO, dtype=torch.float32) -> Trajectory:
    """An expert that drifts from a random net by small random moves each epoch (the matching
    maths does not care how an expert was trained)."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_net(arch, info.channels, info.num_classes, info.image_size)
    layout = ParamLayout.of(net)
    start = layout.flatten(net).to(dtype)
    moves = 0.01 * torch.randn(epochs, layout.numel, generator=g, dtype=dtype)
    return Trajectory(arch, layout, torch.cat([start[None], start + moves.cumsum(0)]))


def tiny_images(n_per_class: int = 2, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(INFO.num_classes).repeat_interleave(n_per_class)
    return torch.randn(len(labels), *INFO.shape, generator=g, dtype=dtype), labels


# ---- settings -----------------------------------------------------------------------------------
def test_the_defaults_are_the_reference_codes():
    s = MTTSettings()
    assert (s.syn_steps, s.expert_epochs, s.max_start_epoch) == (20, 3, 25)
    assert (s.lr_img, s.lr_lr, s.lr_syn_init, s.momentum) == (1000.0, 1e-5, 0.01, 0.5)
    assert (s.batch_syn, s.dsa, s.dsa_strategy, s.init, s.num_experts) == (
        None, True, "color_crop_cutout_flip_scale_rotate", "real", 100)
    e = s.experts
    assert (e.epochs, e.lr, e.momentum, e.weight_decay, e.batch_size, e.augment, e.zca) == (
        50, 0.01, 0.0, 0.0, 256, "dsa", False)
    assert MTTSettings(**{**s.to_dict(), "experts": s.experts.to_dict()}) == s


@pytest.mark.parametrize("kwargs, message", [
    (dict(syn_steps=0), "syn_steps must be an integer >= 1, got 0"),
    (dict(syn_steps=-3), "syn_steps must be an integer >= 1, got -3"),
    (dict(expert_epochs=0), "expert_epochs must be an integer >= 1, got 0"),
    (dict(max_start_epoch=0), "max_start_epoch must be an integer >= 1, got 0"),
    (dict(max_start_epoch=49), "max_start_epoch 49 with expert_epochs 3 reaches epoch 51, past the experts' 50 epochs"),
    (dict(max_start_epoch=5, experts=ExpertSettings(epochs=5)),
     "max_start_epoch 5 with expert_epochs 3 reaches epoch 7"),
    (dict(lr_img=0.0), "lr_img must be a finite number > 0, got 0.0"),
    (dict(lr_lr=-1e-5), "lr_lr must be a finite number > 0, got -1e-05"),
    (dict(lr_syn_init=float("inf")), "lr_syn_init must be a finite number > 0, got inf"),
    (dict(momentum=1.0), "momentum must lie in [0, 1), got 1.0"),
    (dict(batch_syn=0), "batch_syn must be an integer >= 1 or None (all images), got 0"),
    (dict(init="zeros"), "init must be one of real, noise, got 'zeros'"),
    (dict(dsa="True"), "dsa must be true or false, got 'True'"),
    (dict(dsa_strategy="color_blur"), "dsa_strategy: unknown DSA op 'blur'"),
    (dict(num_experts=0), "num_experts must be an integer >= 1, got 0"),
    (dict(max_img_grad_norm=0.0), "max_img_grad_norm must be a finite number > 0 or None (no clip), got 0.0"),
    (dict(max_img_grad_norm=float("nan")), "max_img_grad_norm must be a finite number > 0 or None (no clip), got nan"),
])
def test_bad_settings_are_one_line_each(kwargs, message):
    with pytest.raises(ValueError) as info:
        MTTSettings(**kwargs)
    text = str(info.value)
    assert text.startswith("MTTSettings: ") and message in text and "\n" not in text


def test_the_latest_start_may_reach_the_last_epoch_exactly():
    s = MTTSettings(max_start_epoch=48, expert_epochs=3)  # starts 0..47, targets up to epoch 50
    assert s.last_epoch_needed == 50


# ---- the loss -----------------------------------------------------------------------------------
def mlp_logits(flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """raydd's MLP written out by hand on slices of its flat vector (fc_1, fc_2, classifier)."""
    d, h, k = x[0].numel(), 128, INFO.num_classes
    sizes = [h * d, h, h * h, h, k * h, k]
    w1, b1, w2, b2, w3, b3 = flat.split(sizes)
    z = F.relu(x.flatten(1) @ w1.view(h, d).T + b1)
    z = F.relu(z @ w2.view(h, h).T + b2)
    return z @ w3.view(k, h).T + b3


def test_the_loss_is_the_papers_normalised_distance_computed_by_hand():
    trajectory = fake_trajectory("MLP", 0)
    images, labels = tiny_images()
    syn_lr = torch.tensor(0.05)
    steps = [StudentStep(torch.tensor(i), None) for i in ([0, 1, 2, 3, 4, 5], [5, 1, 3], [0, 2, 4])]
    net = build_net("MLP", 1, 3, 8)
    got = matching_loss(net, trajectory.layout, trajectory, 1, 2, images, labels, syn_lr, steps, None)

    start, target = trajectory.params[1], trajectory.params[3]
    theta = start.clone().requires_grad_(True)
    for step in steps:
        ce = F.cross_entropy(mlp_logits(theta, images[step.indices]), labels[step.indices])
        theta = theta - syn_lr * torch.autograd.grad(ce, theta, create_graph=True)[0]
    expected = ((theta - target) ** 2).sum() / ((start - target) ** 2).sum()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0)


def test_a_student_that_does_not_move_is_at_distance_one():
    trajectory = fake_trajectory("ConvNetW32", 1)
    images, labels = tiny_images()
    steps = draw_student_steps(len(images), SETTINGS, torch.Generator().manual_seed(0), None)
    loss = matching_loss(build_net("ConvNetW32", 1, 3, 8), trajectory.layout, trajectory, 0, 2, images, labels,
                         torch.tensor(0.0), steps, None)
    assert loss.item() == pytest.approx(1.0, abs=1e-6)


def test_the_gradient_through_the_unrolled_steps_is_right():
    """gradcheck (float64 finite differences along random directions, its fast mode) of the loss in
    the images and in the learnable lr, through three second-order student steps with DSA."""
    from raydd.core.augment import DSA

    trajectory = fake_trajectory("MLP", 2, dtype=torch.float64)
    net = build_net("MLP", 1, 3, 8).double()
    images, labels = tiny_images(dtype=torch.float64)
    dsa = DSA("color_cutout_flip")
    steps = draw_student_steps(len(images), MTTSettings(syn_steps=3, batch_syn=4, max_start_epoch=1, experts=EXPERTS),
                               torch.Generator().manual_seed(3), dsa)

    def loss(x, lr):
        return matching_loss(net, trajectory.layout, trajectory, 0, 2, x, labels, lr, steps, dsa)

    lr = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(loss, (images.requires_grad_(True), lr), fast_mode=True)


def test_student_batches_follow_the_reference_order():
    """A permutation cut into batch_syn pieces, used from the last piece; a new one when used up."""
    settings = MTTSettings(syn_steps=5, batch_syn=3, max_start_epoch=1, experts=EXPERTS)
    steps = draw_student_steps(7, settings, torch.Generator().manual_seed(5), None)
    g = torch.Generator().manual_seed(5)
    first, second = torch.randperm(7, generator=g), torch.randperm(7, generator=g)
    expected = [first[6:], first[3:6], first[:3], second[6:], second[3:6]]
    assert [s.indices.tolist() for s in steps] == [e.tolist() for e in expected]
    all_at_once = draw_student_steps(7, MTTSettings(syn_steps=2, max_start_epoch=1, experts=EXPERTS),
                                     torch.Generator().manual_seed(5), None)
    assert [len(s.indices) for s in all_at_once] == [7, 7]


def test_a_step_moves_images_and_lr_by_sgd_down_the_loss():
    trajectory = fake_trajectory("ConvNetW32", 3)
    images, labels = tiny_images()
    state = MTTState.create(images, labels, SETTINGS, seed=0)
    generator_copy = torch.Generator().set_state(state.augment_generator.get_state())
    net = build_net("ConvNetW32", 1, 3, 8)
    loss = mtt_step(state, net, trajectory, 1, SETTINGS)

    from raydd.core.augment import DSA

    dsa = DSA(SETTINGS.dsa_strategy)
    x, lr = images.clone().requires_grad_(True), torch.tensor(0.01, requires_grad=True)
    steps = draw_student_steps(len(images), SETTINGS, generator_copy, dsa)
    expected = matching_loss(net, trajectory.layout, trajectory, 1, 2, x, labels, lr, steps, dsa)
    grad_x, grad_lr = torch.autograd.grad(expected, [x, lr])
    assert loss == pytest.approx(expected.item(), rel=1e-6)
    torch.testing.assert_close(state.images.detach(), images - 10.0 * grad_x)  # first momentum step: the gradient
    torch.testing.assert_close(state.syn_lr.detach(), 0.01 - 1e-5 * grad_lr)


def test_a_non_finite_loss_stops_before_anything_changes():
    flat = fake_trajectory("MLP", 4)
    frozen = Trajectory("MLP", flat.layout, flat.params[:1].repeat(5, 1))  # the expert never moved
    images, labels = tiny_images()
    state = MTTState.create(images, labels, SETTINGS, seed=0)
    message = r"the trajectory-matching loss is (inf|nan) \(start epoch 0 of a MLP expert\)"
    with pytest.raises(NonFiniteError, match=message):
        mtt_step(state, build_net("MLP", 1, 3, 8), frozen, 0, SETTINGS)
    assert torch.equal(state.images.detach(), images) and state.syn_lr.item() == pytest.approx(0.01)


def test_a_clipped_step_moves_the_images_by_at_most_lr_img_times_the_clip():
    trajectory = fake_trajectory("ConvNetW32", 3)
    images, labels = tiny_images()
    net = build_net("ConvNetW32", 1, 3, 8)
    free = MTTState.create(images, labels, SETTINGS, seed=0)
    mtt_step(free, net, trajectory, 1, SETTINGS)
    step = (images - free.images.detach()).norm().item()  # lr_img x the whole gradient's norm

    clip = step / SETTINGS.lr_img / 4
    clipped = MTTState.create(images, labels, SETTINGS, seed=0)
    mtt_step(clipped, net, trajectory, 1, MTTSettings(**{**SETTINGS.to_dict(), "max_img_grad_norm": clip,
                                                         "experts": EXPERTS}))
    moved = images - clipped.images.detach()
    assert clipped.clipped and not free.clipped
    assert moved.norm().item() == pytest.approx(SETTINGS.lr_img * clip, rel=1e-4)  # float32
    # the same direction (to the float32 rounding of a small move subtracted from the images)
    torch.testing.assert_close(moved / moved.norm(), (images - free.images.detach()) / step, atol=2e-4, rtol=0)
    torch.testing.assert_close(clipped.syn_lr, free.syn_lr)  # the lr's own step is not clipped


def test_a_clip_that_never_acts_is_plain_mtt_exactly_and_a_run_counts_the_clipped_draws():
    plain = make_run("ConvNetW32=0.5,MLP=0.5")
    loose = make_run("ConvNetW32=0.5,MLP=0.5", settings=MTTSettings(**{**SETTINGS.to_dict(), "experts": EXPERTS,
                                                                     "max_img_grad_norm": 1e30}))
    for _ in range(4):
        plain.step(), loose.step()
    assert loose.losses == plain.losses and torch.equal(loose.images.detach(), plain.images.detach())
    assert loose.clipped == {} and "max_img_grad_norm" not in plain.settings.to_dict()  # old records unchanged

    tight = make_run("ConvNetW32=0.5,MLP=0.5", settings=MTTSettings(**{**SETTINGS.to_dict(), "experts": EXPERTS,
                                                                     "max_img_grad_norm": 1e-12}))
    for _ in range(4):
        tight.step()
    drawn = [arch for arch, _, _ in tight.drawn]
    assert tight.clipped == {arch: drawn.count(arch) for arch in set(drawn)}
    resumed = make_run("ConvNetW32=0.5,MLP=0.5", settings=tight.settings)
    resumed.load_state_dict(tight.state_dict())
    assert resumed.clipped == tight.clipped


# ---- the pool -----------------------------------------------------------------------------------
def make_run(pool: str, seed: int = 7, settings: MTTSettings = SETTINGS, experts=None) -> MTTRun:
    images, labels = tiny_images()
    if experts is None:
        experts = {arch: [fake_trajectory(arch, 10 * i + j) for j in range(3)]
                   for i, arch in enumerate(PoolSpec.parse(pool).archs)}
    return MTTRun(settings, INFO, images, labels, experts, PoolSpec.parse(pool), seed)


def test_a_pool_of_one_architecture_is_plain_mtt_exactly():
    run = make_run("ConvNetW32")
    losses = [run.step() for _ in range(4)]

    images, labels = tiny_images()
    experts = [fake_trajectory("ConvNetW32", j) for j in range(3)]
    state = MTTState.create(images, labels, SETTINGS, seed=7)
    draws = torch.Generator().manual_seed(derive_seed(7, "experts"))
    net = build_net("ConvNetW32", 1, 3, 8)
    plain = []
    for _ in range(4):
        index = int(torch.randint(3, (1,), generator=draws))
        plain.append(mtt_step(state, net, experts[index], draw_start_epoch(SETTINGS, draws), SETTINGS))
    assert losses == plain
    assert torch.equal(run.images.detach(), state.images.detach()) and run.syn_lr == state.syn_lr.item()


def test_a_pool_draws_architectures_with_its_own_generator_and_experts_of_the_drawn_one():
    run = make_run("ConvNetW32=0.5,MLP=0.5", settings=MTTSettings(**{**SETTINGS.to_dict(), "syn_steps": 1,
                                                                     "experts": EXPERTS}))
    for _ in range(8):
        run.step()
    pool = ModelPool(PoolSpec.parse("ConvNetW32=0.5,MLP=0.5"), derive_seed(7, "pool"))
    assert [arch for arch, _, _ in run.drawn] == [pool.sample(i) for i in range(8)]
    assert {arch for arch, _, _ in run.drawn} == {"ConvNetW32", "MLP"}
    assert all(0 <= index < 3 and 0 <= start < 3 for _, index, start in run.drawn)


def test_draw_expert_is_uniform_over_the_architectures_experts():
    pool = ModelPool(PoolSpec.single("MLP"), 0)
    g = torch.Generator().manual_seed(0)
    counts = torch.bincount(torch.tensor([draw_expert(pool, {"MLP": [None] * 4}, i, g)[1] for i in range(4000)]))
    assert counts.tolist() == pytest.approx([1000] * 4, abs=120)


def test_a_resumed_run_continues_exactly(tmp_path):
    straight = make_run("ConvNetW32=0.5,MLP=0.5")
    for _ in range(4):
        straight.step()

    first = make_run("ConvNetW32=0.5,MLP=0.5")
    for _ in range(2):
        first.step()
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = make_run("ConvNetW32=0.5,MLP=0.5")
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(2):
        resumed.step()
    assert resumed.losses == straight.losses and resumed.drawn == straight.drawn
    assert torch.equal(resumed.images.detach(), straight.images.detach()) and resumed.syn_lr == straight.syn_lr
    assert resumed.iteration == 4


def test_a_checkpoint_of_another_run_is_refused():
    state = make_run("ConvNetW32").state_dict()
    with pytest.raises(ValueError, match="other settings or another seed"):
        make_run("ConvNetW32", seed=8).load_state_dict(state)
    fewer = {"ConvNetW32": [fake_trajectory("ConvNetW32", 0)]}
    with pytest.raises(ValueError, match=r"drew from experts \{'ConvNetW32': 3\}, this run has \{'ConvNetW32': 1\}"):
        make_run("ConvNetW32", experts=fewer).load_state_dict(state)
    two = make_run("ConvNetW32=0.5,MLP=0.5").state_dict()
    with pytest.raises(ValueError, match="checkpoint pool"):
        make_run("ConvNetW32=0.4,MLP=0.6").load_state_dict(two)


def test_a_pool_mtt_cannot_use_is_refused_in_one_line_before_any_work():
    with pytest.raises(ValueError) as info:
        make_run("ConvNetW32=0.5,ConvNetBN=0.5", experts={"ConvNetW32": [fake_trajectory("ConvNetW32", 0)]})
    assert str(info.value).startswith("ConvNetBN cannot be unrolled by trajectory matching")
    with pytest.raises(ValueError, match="^the pool names MLP, but no expert of MLP was given$"):
        make_run("ConvNetW32=0.5,MLP=0.5", experts={"ConvNetW32": [fake_trajectory("ConvNetW32", 0)]})
    with pytest.raises(ValueError, match="expert 0 of MLP has 2 epochs; max_start_epoch 3 with expert_epochs 2 reads "
                                         "up to epoch 4"):
        make_run("MLP", experts={"MLP": [fake_trajectory("MLP", 0, epochs=2)]})
    with pytest.raises(ValueError, match="expert 0 given for MLP is a ConvNetW32 trajectory"):
        make_run("MLP", experts={"MLP": [fake_trajectory("ConvNetW32", 0)]})
    images, labels = tiny_images()
    experts = {"MLP": [fake_trajectory("MLP", 0)]}
    with pytest.raises(ValueError, match=r"^synthetic images must be float \[N, 1, 8, 8\] for tiny, got "):
        MTTRun(SETTINGS, INFO, images[:, :, :7], labels, experts, PoolSpec.single("MLP"), 0)
    with pytest.raises(ValueError, match=r"^synthetic labels must be 6 int64 classes in \[0, 3\)"):
        MTTRun(SETTINGS, INFO, images, labels + 1, experts, PoolSpec.single("MLP"), 0)


# ---- initial images -----------------------------------------------------------------------------
def test_initial_images_are_real_images_of_each_class_or_noise():
    data = load_dataset("digits")
    images, labels = initial_images(data.train, data.info, 2, "real", seed=0)
    assert labels.tolist() == [c for c in range(10) for _ in range(2)]
    for image, label in zip(images, labels):
        matches = (data.train.images == image).flatten(1).all(dim=1)
        assert matches.any() and set(data.train.labels[matches].tolist()) == {int(label)}
    noise, _ = initial_images(data.train, data.info, 2, "noise", seed=0)
    assert noise.shape == (20, 1, 28, 28)
    again, _ = initial_images(data.train, data.info, 2, "real", seed=0)
    assert torch.equal(images, again)
    for init in ("real", "noise"):  # the one ipc rule, as distill and random_real give it
        with pytest.raises(ValueError, match="ipc 1000 is more than the 125 training images of digits's smallest"):
            initial_images(data.train, data.info, 1000, init, seed=0)
