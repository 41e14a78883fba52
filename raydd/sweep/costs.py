"""Measured costs of a sweep's pieces, for the wall-time estimate of `raydd sweep submit --dry-run`.

Measured on 2026-12-04 on the 2-core AMD EPYC development machine, one thread per process (a
trial's or an evaluator's share of the cores), while 3-4 other processes shared the 2 cores (load
average 3.2-3.8), on Fashion-MNIST (28x28, 10 classes): the figures in the size comment of
sweeps/fashion_mnist_standard.yaml. All are core-seconds at that speed.

A piece is scaled by its image pixels relative to 28x28, by its iterations or epochs, and a
student's training by the images it trains on (the sets of the measurement held 10). What is not
measured is not guessed: a method other than DC and MTT, a pool or an expert architecture not
listed, a student not listed each leave their part out and are named, so the estimate is then a
lower bound. The channels, ipc and loops of distillation, and the sizes of the test and validation
splits, are taken as measured. MTT's pieces (its experts and iterations) are those of the size
section of sweeps/fashion_mnist_mtt.yaml.
"""

from __future__ import annotations

MEASURED_ON = "a 2-core AMD EPYC CPU"
MEASURED_PIXELS = 28 * 28

# One DC iteration (ipc 1, batch_real 256, loops (1, 1)): ConvNetW32 alone, and ConvNetW32 with
# ConvNetW64 and ConvNetD1 sharing 0.1 of the draws.
DC_ITERATION_S = {("ConvNetW32",): 3.61, ("ConvNetD1", "ConvNetW32", "ConvNetW64"): 5.09}

SET_EPOCHS, SET_IMAGES = 300, 10  # how the students' figures below were taken
# A student: 300 epochs on a 10-image set (train), then measured on 11,000 images (10,000 test,
# 1,000 validation).
STUDENT_TRAIN_S = {"ConvNetW32": 2.8, "MLP": 0.2, "LeNet": 0.6, "AlexNet": 44.5, "VGG11": 37.4, "ResNet18": 105.3}
STUDENT_MEASURE_S = {"ConvNetW32": 2.6, "MLP": 0.0, "LeNet": 0.6, "AlexNet": 83.5, "VGG11": 39.7, "ResNet18": 100.5}
# A student, 1 epoch on the 54,000-image training split (measured on a tenth of it, x10): per
# image it runs a little slower than on a small set (larger batches, colder caches).
WHOLE_IMAGES = 54_000
WHOLE_EPOCH_S = {"ConvNetW32": 56.0, "MLP": 1.0, "LeNet": 9.0, "AlexNet": 818.0, "VGG11": 567.0, "ResNet18": 2281.0}

# MTT, measured on 2026-12-05 12:54-12:56 UTC on the same machine, one thread, CPU clock, load
# average 2.2-4.2 (the size section of sweeps/fashion_mnist_mtt.yaml):
# an expert epoch on the 54,000-image training split (SGD, batch 256, DSA: `ExpertSettings`'
# defaults), timed on its first 5,400 images and x10;
EXPERT_EPOCH_S = {"ConvNetW32": 30.1, "ConvNetW64": 70.8, "ConvNetD1": 64.0}
EXPERT_MEASURED = {"batch_size": 256, "augment": "dsa", "zca": False}
# an MTT iteration of 50 student steps on a 10-image set (ipc 1, every step on all of them), DSA
# (benchmarks/bench_mtt.py). Its time grows linearly in the steps (benchmarks/README.md), not in
# the images per step, so other step sizes are not scaled to.
MTT_STEPS, MTT_STEP_IMAGES = 50, 10
MTT_ITERATION_S = {"ConvNetW32": 1.113, "ConvNetW64": 2.411, "ConvNetD1": 1.670}

# Training images of each dataset's official split, before the validation carve.
TRAIN_IMAGES = {"digits": 1437, "mnist": 60_000, "fashion_mnist": 60_000, "svhn": 73_257,
                "cifar10": 50_000, "cifar100": 50_000}


def pixel_scale(image_size: int) -> float:
    return image_size * image_size / MEASURED_PIXELS


def distill_seconds(method: str, pool_archs: tuple[str, ...], iterations: int, image_size: int) -> float | None:
    """Core-seconds of one distillation, or None when its method or pool was not measured."""
    per_iteration = DC_ITERATION_S.get(tuple(sorted(pool_archs))) if method == "dc" else None
    return None if per_iteration is None else per_iteration * iterations * pixel_scale(image_size)


def student_seconds(student: str, epochs: int, images: int, image_size: int, whole: bool) -> float | None:
    """Core-seconds of one student trained `epochs` epochs on `images` images and measured once;
    None when the student was not measured. `whole`: on the training split (its own per-image rate)."""
    if student not in STUDENT_TRAIN_S:
        return None
    per_image_epoch = (WHOLE_EPOCH_S[student] / WHOLE_IMAGES if whole
                       else STUDENT_TRAIN_S[student] / (SET_EPOCHS * SET_IMAGES))
    return (per_image_epoch * epochs * images + STUDENT_MEASURE_S[student]) * pixel_scale(image_size)


def expert_seconds(arch: str, settings, images: int, image_size: int) -> float | None:
    """Core-seconds of training one expert (`ExpertSettings`) on `images` training images; None
    when its architecture or training setting was not measured."""
    measured = all(getattr(settings, name) == value for name, value in EXPERT_MEASURED.items())
    if arch not in EXPERT_EPOCH_S or not measured:
        return None
    return EXPERT_EPOCH_S[arch] * settings.epochs * images / WHOLE_IMAGES * pixel_scale(image_size)


def mtt_seconds(pool, syn_steps: int, step_images: int, iterations: int, image_size: int) -> float | None:
    """Core-seconds of one MTT distillation: each iteration unrolls one architecture of `pool`,
    drawn by its probabilities; None when an architecture or the images per step were not measured."""
    if step_images != MTT_STEP_IMAGES or any(arch not in MTT_ITERATION_S for arch in pool.archs):
        return None
    per_iteration = sum(p * MTT_ITERATION_S[arch] for arch, p in zip(pool.archs, pool.probs)) * syn_steps / MTT_STEPS
    return per_iteration * iterations * pixel_scale(image_size)
