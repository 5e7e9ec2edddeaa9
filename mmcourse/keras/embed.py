"""Embedding items of any modality with a trained Keras model, in batches, to L2-normalised arrays.

``embed(model, modality, items)`` dispatches through a registry of embed functions:
"image" → :func:`embed_images`, "text" → :func:`embed_texts`; a modality's own module registers
its function with :func:`register_embedder` (as in ``mmcourse.torch``).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .._embedding import EmbedderRegistry
from .._validation import check_images, check_int, check_texts
from .encoders import DualEncoder, JointEncoder


def _check_model(model, cls=DualEncoder, name: str = "model"):
    if not isinstance(model, cls):
        raise ValueError(f"{name}: expected a mmcourse.keras.{cls.__name__}, got {type(model).__name__}")


@tf.function(reduce_retracing=True)
def _encode_images(model, x):
    return model.encode_images(tf.cast(x, tf.float32) / 255.0, training=False)


@tf.function(reduce_retracing=True)
def _encode_texts(model, ids):
    return model.encode_texts(ids, training=False)


def embed_images(model: DualEncoder, images, batch_size: int = 512) -> np.ndarray:
    """uint8 images (n, H, W, 3) (or greyscale) → float32 (n, d) unit-norm embeddings."""
    _check_model(model)
    batch_size = check_int(batch_size, "batch_size")
    arr = check_images(images, "images")
    out = [_encode_images(model, tf.constant(arr[i:i + batch_size])).numpy()
           for i in range(0, len(arr), batch_size)]
    return np.concatenate(out).astype(np.float32, copy=False)


def embed_texts(model: DualEncoder, texts, batch_size: int = 1024) -> np.ndarray:
    """Captions (list of m strings) → float32 (m, d) unit-norm embeddings.

    Unknown words map to ``<unk>``; a caption without any token raises ValueError.
    """
    _check_model(model)
    texts = check_texts(texts, "texts")
    batch_size = check_int(batch_size, "batch_size")
    ids = model.tokenize(texts, "texts")
    out = [_encode_texts(model, tf.constant(ids[i:i + batch_size]))
           .numpy() for i in range(0, len(ids), batch_size)]
    return np.concatenate(out).astype(np.float32, copy=False)


def make_text_encoder_fn(model: DualEncoder):
    """A callable ``list[str] -> (n, d)`` float32 array in the images' space (for the widgets)."""
    _check_model(model)

    def encode(texts):
        return embed_texts(model, texts)

    encode.__doc__ = "Embed captions with the trained text tower: list[str] → float32 (n, d)."
    return encode


def _check_joint(model):
    _check_model(model, JointEncoder)


_EMBEDDERS = EmbedderRegistry("keras", _check_joint)


def register_embedder(modality: str, fn) -> None:
    """Make ``embed(model, modality, items, **kw)`` call ``fn(model, items, **kw)``."""
    _EMBEDDERS.register(modality, fn)


def embed(model, modality: str, items, **kwargs) -> np.ndarray:
    """Items of ``modality`` → float32 (n, d) unit-norm rows in the model's joint space.

    "image": uint8 images (n, H, W, 3); "text": a list of captions; other modalities as their
    registered function takes them. ``kwargs`` go to that function (e.g. ``batch_size``). A
    modality the model has no tower for raises ValueError naming the model's modalities.
    """
    return _EMBEDDERS.embed(model, modality, items, **kwargs)


register_embedder("image", embed_images)
register_embedder("text", embed_texts)
