"""Where the PyTorch track runs: the device is chosen once, here.

Order of precedence: an explicit ``device=`` argument, then the ``MMCOURSE_DEVICE`` environment
variable (e.g. ``cpu``, ``cuda``, ``cuda:1``), then CUDA when available, else the CPU.
"""
from __future__ import annotations

import os

import torch

ENV_VAR = "MMCOURSE_DEVICE"


def get_device(device=None) -> torch.device:
    """The ``torch.device`` to use; ``device`` (str or torch.device) overrides the default.

    Raises ValueError for an unknown device string or a CUDA device when CUDA is unavailable.
    """
    source = "device"
    if device is None:
        device = os.environ.get(ENV_VAR) or None
        source = ENV_VAR
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{source}: expected a device such as 'cpu' or 'cuda', got {device!r} "
                         f"({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{source}: expected an available device, got {device!r} but CUDA is "
                         f"not available on this machine (use 'cpu')")
    return dev
