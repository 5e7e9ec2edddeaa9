"""Saving and loading trained models: one ``.pt`` file with config, state dict and vocabulary.

Every kind of model saves and loads through :func:`save_model` / :func:`load_model`: a model
class registered in :data:`MODEL_KINDS` (``DualEncoder``, ``AttributeClassifier``, and a
modality's own joint model such as ``SpeechModel`` or ``VideoModel``) says what rebuilds it
(``saved_config()``, a dict of plain values) and how (``from_saved(payload)``). Files hold only
tensors and plain Python values, so they load with ``weights_only=True`` (no pickled code runs).
Writes are atomic (temporary file + rename): a reader never sees half a file.
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


#: model kind (class name) → class with ``saved_config() -> dict`` and classmethod
#: ``from_saved(payload) -> model`` (see :func:`register_model_kind`)
MODEL_KINDS: dict = {}
#: kinds whose class lives in a module imported on first use
KIND_MODULES = {"SpeechModel": "mmcourse.torch.audio", "VideoModel": "mmcourse.torch.video",
                "AttributeClassifier": "mmcourse.torch.classifier"}


def register_model_kind(cls):
    """Make :func:`save_model` / :func:`load_model` handle ``cls`` (usable as a decorator)."""
    if not (isinstance(cls, type) and callable(getattr(cls, "saved_config", None))
            and callable(getattr(cls, "from_saved", None))):
        raise ValueError(f"cls: expected a model class with saved_config() and from_saved(payload), "
                         f"got {cls!r}")
    MODEL_KINDS[cls.__name__] = cls
    return cls


def _kind_class(kind):
    if kind not in MODEL_KINDS and kind in KIND_MODULES:
        import importlib

        importlib.import_module(KIND_MODULES[kind])
    return MODEL_KINDS.get(kind)


def _payload(model) -> dict:
    kind = type(model).__name__
    if _kind_class(kind) is not type(model):
        raise ValueError(f"model: expected a model of a saved kind ({', '.join(sorted(MODEL_KINDS))}), "
                         f"got {kind}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return dict(model.saved_config(), kind=kind, state_dict=state)


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
    """Save a model of a registered kind (DualEncoder, SpeechModel, VideoModel,
    AttributeClassifier: config, weights, vocabulary) to ``path``."""
    path = _check_path(path)
    payload = _payload(model)
    payload.update(format=FORMAT, format_version=FORMAT_VERSION, torch_version=str(torch.__version__))
    atomic_torch_save(payload, path)
    return path


def load_model(path, device=None, kind=None):
    """Load a model written by :func:`save_model`, in eval mode, on ``device`` (default: auto);
    ``kind`` (a class name such as "VideoModel") refuses a file of another kind."""
    path = _check_path(path)
    want = f"a {kind} saved by mmcourse.torch.save_model" if kind else "a model saved by mmcourse.torch.save_model"
    if not path.is_file():
        raise ValueError(f"path: expected a saved model file, got {str(path)!r} (no such file)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise ValueError(f"path: expected {want}, got {str(path)!r} (not readable as a saved model: {type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"path: expected {want}, got {str(path)!r} (unknown format)")
    cls = _kind_class(payload.get("kind"))
    if cls is None or (kind is not None and payload.get("kind") != kind):
        raise ValueError(f"path: expected {want}, got {str(path)!r} (a {payload.get('kind')!r} file)")
    model = cls.from_saved(payload)
    model.load_state_dict(payload["state_dict"])
    model.to(get_device(device))
    return model.eval()


register_model_kind(DualEncoder)
