"""What a result row says it was computed on."""

from __future__ import annotations

import torch


def device_label(device: str | torch.device) -> str:
    """`cpu`, or `cuda:<the GPU's name>` (e.g. `cuda:NVIDIA H200`)."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type
