"""Saving and loading trained models: one ``.pt`` file with config, state dict and vocabulary.

Files hold only tensors and plain Python values, so they load with ``weights_only=True`` (no
pickled code runs). Writes are atomic (temporary file + rename): a reader never sees half a file.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from .device import get_device
from .encoders import DualEncoder

FORMAT = "mmcourse.torch"
FORMAT_VERSION = 1


def _check_path(path, name="path") -> Path:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"{name}: expected a file path, got {path!r}")
    return Path(os.fspath(path))


def _payload(model) -> dict:
    from .classifier import AttributeClassifier

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if isinstance(model, DualEncoder):
        return dict(kind="DualEncoder", config=dict(model.config), vocab=model.vocab.to_dict(),
                    state_dict=state)
    if isinstance(model, AttributeClassifier):
        return dict(kind="AttributeClassifier", config=dict(model.config), state_dict=state)
    raise ValueError(f"model: expected a DualEncoder or AttributeClassifier, got {type(model).__name__}")


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model, path) -> Path:
    """Save a DualEncoder (config + weights + vocabulary) or AttributeClassifier to ``path``."""
    path = _check_path(path)
    payload = _payload(model)
    payload.update(format=FORMAT, format_version=FORMAT_VERSION, torch_version=str(torch.__version__))
    atomic_torch_save(payload, path)
    return path


def load_model(path, device=None):
    """Load a model written by :func:`save_model`, in eval mode, on ``device`` (default: auto)."""
    path = _check_path(path)
    if not path.is_file():
        raise ValueError(f"path: expected a saved model file, got {str(path)!r} (no such file)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise ValueError(f"path: expected a model saved by mmcourse.torch.save_model, got "
                         f"{str(path)!r} ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"path: expected a model saved by mmcourse.torch.save_model, got "
                         f"{str(path)!r} (unknown format)")
    if payload["kind"] == "DualEncoder":
        from ..text import Vocabulary

        config = dict(payload["config"])
        if config.get("backbone") == "resnet18":
            config["backbone_weights"] = "none"  # the weights come from the state dict
        model = DualEncoder(Vocabulary.from_dict(payload["vocab"]), **config)
    else:
        from .classifier import AttributeClassifier

        model = AttributeClassifier(**payload["config"])
    model.load_state_dict(payload["state_dict"])
    model.to(get_device(device))
    return model.eval()
