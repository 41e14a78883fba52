"""How to run evaluation fast on each device type: the rules, in one place.

Stacking (one NetStack for all members) pays on CPU only where a training step is dominated by
per-step overhead rather than arithmetic: MLP at any set size, LeNet when a batch holds few
images. A conv net's step on a synthetic set's batch is already compute-bound on a CPU core, and a
grouped conv does the same arithmetic as M separate convs, so there members train one after
another. On CUDA (one H200, measured) small nets' steps are launch-bound and stacking paid for MLP,
ConvNet and LeNet, while ResNet18 ran slower stacked; AlexNet and VGG are not yet measured there and
train one after another. The inference batch is the fastest per family on CPU.
benchmarks/bench_evaluate.py measures all of it; benchmarks/README.md ("Evaluation") says how.
"""

from __future__ import annotations

FAMILIES = ("MLP", "ConvNet", "LeNet", "AlexNet", "VGG", "ResNet")

# Family -> the most images per training batch at which stacking still paid on CPU (None: any).
STACK_PAYS_ON_CPU: dict[str, int | None] = {"MLP": None, "LeNet": 10}

# Families that train faster stacked on CUDA, 20 members against one after another on one NVIDIA
# H200 (benchmarks/README.md, "On a GPU"): MLP 3.9x / 6.1x (ipc 1 / 10), ConvNet 2.7x / 1.4x, LeNet
# 1.9x / 8.1x; ResNet18 0.66x / 0.55x (slower), so it is left out.
STACK_PAYS_ON_CUDA = ("MLP", "ConvNet", "LeNet")

# (device type, family) -> images per forward when measuring accuracy: at or near the fastest on two
# CPUs (an AMD EPYC and an Intel Xeon, 2 threads). VGG and ResNet: 512 was 3 % faster than 128 on
# the Xeon and 7-15 % on the EPYC.
INFERENCE_BATCH = {
    ("cpu", "MLP"): 2048,
    ("cpu", "ConvNet"): 128,
    ("cpu", "LeNet"): 512,
    ("cpu", "AlexNet"): 128,
    ("cpu", "VGG"): 512,
    ("cpu", "ResNet"): 512,
}
DEFAULT_INFERENCE_BATCH = 256
# Families whose CPU inference runs faster with weights and images channels-last (NHWC, oneDNN's
# preferred layout), for a net trained alone. Time against NCHW at batch 128, 2 threads, freed
# memory kept: ConvNet 0.80, ConvNetW32 0.69, LeNet 0.82, AlexNet 0.78; VGG11 (1.18) and ResNet18
# (1.39) got slower. Training steps gained nothing (0.95-1.03), so only inference switches.
CHANNELS_LAST_PAYS_ON_CPU = ("ConvNet", "LeNet", "AlexNet")  # other devices: large enough to fill a GPU, small enough for its memory


def family(arch: str) -> str:
    """The family of an architecture name (`ConvNetW64` -> `ConvNet`), or the name itself."""
    return next((f for f in FAMILIES if arch.startswith(f)), arch)


def stack_pays(arch: str, device_type: str, members: int, batch_images: int) -> bool:
    """Whether `members` trainings of `arch` on batches of `batch_images` run faster stacked."""
    if members < 2:
        return False
    fam = family(arch)
    if device_type != "cpu":
        return fam in STACK_PAYS_ON_CUDA
    if fam not in STACK_PAYS_ON_CPU:
        return False
    limit = STACK_PAYS_ON_CPU[fam]
    return limit is None or batch_images <= limit


def inference_channels_last(arch: str, device_type: str) -> bool:
    """Whether accuracy of a lone `arch` net is measured channels-last (see CHANNELS_LAST_PAYS_ON_CPU)."""
    return device_type == "cpu" and family(arch) in CHANNELS_LAST_PAYS_ON_CPU


def inference_batch_size(arch: str, device_type: str) -> int:
    """Images per forward for accuracy on a split (see INFERENCE_BATCH)."""
    return INFERENCE_BATCH.get((device_type, family(arch)), DEFAULT_INFERENCE_BATCH)
