"""Optional pretrained image backbone: torchvision's ResNet-18, only from a local weights file.

Nothing here ever downloads: the ImageNet weights are used when they are already in the
``torch.hub`` cache (``$TORCH_HOME/hub/checkpoints``); otherwise one sentence says how to get
them and the caller falls back to the from-scratch CNN. torchvision is imported lazily.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .._validation import check_int

RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision's ResNet18_Weights.IMAGENET1K_V1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resnet18_weights_path(hub_dir=None) -> Path:
    """Where torchvision caches the ImageNet ResNet-18 weights (the file may not exist)."""
    hub_dir = Path(hub_dir) if hub_dir is not None else Path(torch.hub.get_dir())
    return hub_dir / "checkpoints" / RESNET18_FILE


def how_to_get_weights(path) -> str:
    """The one sentence shown when the pretrained weights are missing."""
    return (f"Pretrained ResNet-18 weights not found at {path}; to use them, run "
            f"`python -c \"import torchvision; torchvision.models.resnet18(weights='DEFAULT')\"` "
            f"once on a machine with internet access (or copy {RESNET18_FILE} to that folder) "
            f"— training the small CNN from scratch instead.")


def load_resnet18(weights="auto", hub_dir=None) -> nn.Module | None:
    """ResNet-18 without its classifier (outputs 512-d pooled features), or None.

    ``weights``: "auto" (the hub cache file; None with a warning when it is missing), "none"
    (random initialisation, e.g. before loading a saved state dict), or a path to a state dict.
    """
    from torchvision.models import resnet18

    if weights == "auto":
        path = resnet18_weights_path(hub_dir)
        if not path.is_file():
            warnings.warn(how_to_get_weights(path), UserWarning, stacklevel=2)
            return None
    elif weights == "none":
        path = None
    else:
        path = Path(os.fspath(weights))
        if not path.is_file():
            raise ValueError(f"weights: expected 'auto', 'none' or an existing state-dict file, "
                             f"got {str(path)!r} (no such file)")
    net = resnet18(weights=None)
    if path is not None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"weights: expected a torchvision resnet18 state dict, got {path} "
                             f"({str(exc).splitlines()[0]})") from None
    net.fc = nn.Identity()
    return net


class ResNetImageEncoder(nn.Module):
    """ResNet-18 features (512) → two-layer projection head → (n, embed_dim), not normalised.

    Input: float images (n, 3, H, W) in [0, 1]; ImageNet normalisation is applied inside.
    About 11.2 M backbone parameters plus 512·head_dim + head_dim·embed_dim in the head.
    """

    def __init__(self, backbone: nn.Module, embed_dim: int = 128, head_dim: int = 256):
        super().__init__()
        embed_dim, head_dim = check_int(embed_dim, "embed_dim"), check_int(head_dim, "head_dim")
        self.backbone = backbone
        self.feature_dim = 512
        self.embed_dim = embed_dim
        self.head = nn.Sequential(nn.Linear(512, head_dim), nn.ReLU(inplace=True),
                                  nn.Linear(head_dim, embed_dim))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x: expected a float tensor (n, 3, H, W), got shape {tuple(x.shape)}")
        return self.backbone((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
