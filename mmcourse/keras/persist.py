"""Saving and loading Keras models: one ``.npz`` file with config, vocabulary and weights.

The file holds only arrays and a JSON header (no pickles, no custom-object registration as a
``.keras`` archive would need), so loading runs no stored code. Weights are stored in
``model.weights`` order, which is fixed by the architecture in the config. Writes are atomic.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from .classifier import AttributeClassifier
from .encoders import DualEncoder

FORMAT = "mmcourse.keras"
FORMAT_VERSION = 1


def _check_path(path, name="path") -> Path:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"{name}: expected a file path, got {path!r}")
    path = Path(os.fspath(path))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def save_model(model, path) -> Path:
    """Save a DualEncoder (config + weights + vocabulary) or AttributeClassifier to ``path``.

    ``.npz`` is appended when ``path`` has another suffix; returns the path written.
    """
    from ..data.cache import atomic_save_npz, encode_strings

    path = _check_path(path)
    if isinstance(model, DualEncoder):
        header = dict(kind="DualEncoder", config=dict(model.config), vocab=model.vocab.to_dict())
    elif isinstance(model, AttributeClassifier):
        header = dict(kind="AttributeClassifier", config=dict(model.config))
    else:
        raise ValueError(f"model: expected a DualEncoder or AttributeClassifier, got {type(model).__name__}")
    if not model.weights:
        raise ValueError("model: expected a built model with weights, got one that was never called")
    header.update(format=FORMAT, format_version=FORMAT_VERSION, tensorflow_version=tf.__version__,
                  names=[w.path for w in model.weights])
    arrays = {f"w{i:03d}": np.asarray(w.numpy()) for i, w in enumerate(model.weights)}
    arrays["header"] = encode_strings([json.dumps(header)])
    return atomic_save_npz(path, arrays)


def load_model(path):
    """Load a model written by :func:`save_model` (inference mode: BatchNorm uses its running stats)."""
    from ..data.cache import decode_strings

    path = _check_path(path)
    if not path.is_file():
        raise ValueError(f"path: expected a saved model file, got {str(path)!r} (no such file)")
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(decode_strings(z["header"])[0])
            weights = [z[f"w{i:03d}"] for i in range(len(header["names"]))]
    except Exception as exc:  # corrupt or foreign file
        raise ValueError(f"path: expected a model saved by mmcourse.keras.save_model, got "
                         f"{str(path)!r} ({type(exc).__name__}: {exc})") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"path: expected a model saved by mmcourse.keras.save_model, got "
                         f"{str(path)!r} (format {header.get('format')!r})")
    if header["kind"] == "DualEncoder":
        from ..text import Vocabulary

        model = DualEncoder(Vocabulary.from_dict(header["vocab"]), **header["config"]).build_weights()
    else:
        model = AttributeClassifier(**header["config"]).build_weights()
    if len(model.weights) != len(weights):
        raise ValueError(f"path: expected {len(model.weights)} weight arrays for this architecture, "
                         f"got {len(weights)} in {str(path)!r}")
    for var, value in zip(model.weights, weights):
        if tuple(var.shape) != value.shape:
            raise ValueError(f"path: weight {var.path} expected shape {tuple(var.shape)}, got "
                             f"{value.shape} in {str(path)!r}")
        var.assign(value)
    return model


def clone_model(model):
    """An independent copy of a DualEncoder or AttributeClassifier (same config and weights)."""
    if isinstance(model, DualEncoder):
        twin = DualEncoder(model.vocab, **model.config).build_weights()
    elif isinstance(model, AttributeClassifier):
        twin = AttributeClassifier(**model.config).build_weights()
    else:
        raise ValueError(f"model: expected a DualEncoder or AttributeClassifier, got {type(model).__name__}")
    for dst, src in zip(twin.weights, model.weights):
        dst.assign(src)
    return twin

