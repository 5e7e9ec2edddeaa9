"""Embedding items of any modality with a trained model, in batches, to L2-normalised numpy arrays.

``embed(model, modality, items)`` dispatches through a registry of embed functions:
"image" → :func:`embed_images`, "text" → :func:`embed_texts`; a modality's own module registers
its function with :func:`register_embedder` (``mmcourse.torch.audio`` registers "audio").
"""
from __future__ import annotations

import numpy as np
import torch

from .._embedding import EmbedderRegistry
from .._validation import check_int, check_texts
from .device import get_device
from .encoders import DualEncoder, JointEncoder, images_to_tensor


def _check_model(model, cls=DualEncoder, name: str = "model"):
    if not isinstance(model, cls):
        raise ValueError(f"{name}: expected a mmcourse.torch.{cls.__name__}, got {type(model).__name__}")


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def embed_images(model: DualEncoder, images, batch_size: int = 512, device=None) -> np.ndarray:
    """uint8 images (n, H, W, 3) (or greyscale) → float32 (n, d) unit-norm embeddings."""
    _check_model(model)
    batch_size = check_int(batch_size, "batch_size")
    x = images_to_tensor(images)
    dev = _model_device(model) if device is None else get_device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    try:
        out = [model.encode_images(x[i:i + batch_size].to(dev)).float().cpu()
               for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().astype(np.float32, copy=False)


def _check_text_model(model, name: str = "model"):
    """Any joint model with a text tower and a vocabulary (DualEncoder, a video model, ...)."""
    if not (isinstance(model, JointEncoder) and "text" in model.modalities
            and callable(getattr(model, "tokenize", None))):
        raise ValueError(f"{name}: expected a mmcourse.torch model with a text tower and a "
                         f"vocabulary (e.g. a DualEncoder), got {type(model).__name__}")


@torch.no_grad()
def embed_texts(model: DualEncoder, texts, batch_size: int = 1024, device=None) -> np.ndarray:
    """Captions (list of m strings) → float32 (m, d) unit-norm embeddings.

    ``model``: any joint model with a text tower and a vocabulary (a DualEncoder, a video model).
    Unknown words map to ``<unk>``; a caption without any token raises ValueError.
    """
    _check_text_model(model)
    texts = check_texts(texts, "texts")
    batch_size = check_int(batch_size, "batch_size")
    ids, lengths = model.tokenize(texts, "texts")
    dev = _model_device(model) if device is None else get_device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    try:
        out = [model.encode("text", ids[i:i + batch_size].to(dev), lengths[i:i + batch_size]).float().cpu()
               for i in range(0, len(ids), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().astype(np.float32, copy=False)


def make_text_encoder_fn(model: DualEncoder):
    """A callable ``list[str] -> (n, d)`` float32 array in the joint space (for the widgets)."""
    _check_text_model(model)

    def encode(texts):
        return embed_texts(model, texts)

    encode.__doc__ = "Embed captions with the trained text tower: list[str] → float32 (n, d)."
    return encode


def _check_joint(model):
    _check_model(model, JointEncoder)


_EMBEDDERS = EmbedderRegistry("torch", _check_joint)


def register_embedder(modality: str, fn) -> None:
    """Make ``embed(model, modality, items, **kw)`` call ``fn(model, items, **kw)``."""
    _EMBEDDERS.register(modality, fn)


def embed(model, modality: str, items, **kwargs) -> np.ndarray:
    """Items of ``modality`` → float32 (n, d) unit-norm rows in the model's joint space.

    "image": uint8 images (n, H, W, 3); "text": a list of captions; other modalities as their
    registered function takes them (e.g. "audio": a list of 1-D float waveforms). ``kwargs``
    go to that function (``batch_size``, ``device``, ``sample_rate``, ...). A modality the
    model has no tower for raises ValueError naming the model's modalities.
    """
    return _EMBEDDERS.embed(model, modality, items, **kwargs)


register_embedder("image", embed_images)
register_embedder("text", embed_texts)
