"""Measured costs of a sweep's pieces, for the wall-time estimate of `raydd sweep submit --dry-run`.

Measured on 2026-12-04 on the 2-core AMD EPYC development machine, one thread per process (a
trial's or an evaluator's share of the cores), while 3-4 other processes shared the 2 cores (load
average 3.2-3.8), on Fashion-MNIST (28x28, 10 classes): the figures in the size comment of
sweeps/fashion_mnist_standard.yaml. All are core-seconds at that speed.

A piece is scaled by its image pixels relative to 28x28, by its iterations or epochs, and a
student's training by the images it trains on (the sets of the measurement held 10). What is not
measured is not guessed: a method other than DC, a pool not listed, a student not listed each
leave their part out and are named, so the estimate is then a lower bound. The channels, ipc and
loops of distillation, and the sizes of the test and validation splits, are taken as measured.
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
