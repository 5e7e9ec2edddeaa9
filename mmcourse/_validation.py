"""Input checks shared by every public function.

Each helper raises ``ValueError`` with a message that names the argument, says what was
expected and what was received, e.g.::

    ValueError: scores: expected a 2-D array (n_queries, n_items), got shape (5,)
"""
from __future__ import annotations

import numbers

import numpy as np


def describe(x) -> str:
    """A short description of ``x`` for error messages (type, shape, dtype)."""
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of length {len(x)}"
    return f"{type(x).__name__} {x!r}"[:120]


def as_array(x, name: str, ndim: int | None = None, dtype=None, allow_empty: bool = False,
             finite: bool = True) -> np.ndarray:
    """Convert ``x`` to a numpy array and check dimensionality, emptiness and finiteness."""
    if x is None:
        raise ValueError(f"{name}: expected an array, got None")
    try:
        arr = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a numeric array, got {describe(x)} ({exc})") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise ValueError(f"{name}: expected a numeric array, got {describe(arr)}")
    if ndim is not None and arr.ndim != ndim:
        shape_hint = {1: "(n,)", 2: "(n, d)", 3: "(n, H, W)", 4: "(n, H, W, C)"}.get(ndim, "")
        raise ValueError(f"{name}: expected a {ndim}-D array {shape_hint}, got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {arr.shape}")
    if finite and arr.dtype.kind in "fc" and arr.size and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name}: expected finite values, got {bad} NaN/inf entries")
    return arr


def as_matrix(x, name: str, dtype=None, **kw) -> np.ndarray:
    """A 2-D numeric array, e.g. embeddings (n, d) or scores (n_queries, n_items)."""
    return as_array(x, name, ndim=2, dtype=dtype, **kw)


def check_same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Two embedding matrices must share their second dimension."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_b}: expected {a.shape[1]} columns to match {name_a} (shape {a.shape}), "
            f"got shape {b.shape}")


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_b}: expected the same shape as {name_a} {a.shape}, got {b.shape}")


def check_int(value, name: str, minimum: int | None = 1, maximum: int | None = None) -> int:
    """An integer (not bool) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: expected an integer, got {describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected an integer <= {maximum}, got {value}")
    return value


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {sorted(choices)}, got {value!r}")
    return value


def check_images(images, name: str = "images") -> np.ndarray:
    """uint8 images (n, H, W, 3); greyscale (n, H, W) or (n, H, W, 1) is converted to RGB."""
    arr = as_array(images, name)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"{name}: expected images of shape (n, H, W, 3) or (n, H, W), got {arr.shape}")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if arr.dtype != np.uint8:
        if arr.dtype.kind == "f" and arr.size and arr.min() >= 0.0 and arr.max() <= 1.0:
            arr = np.round(arr * 255.0)
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"{name}: expected uint8 pixel values in [0, 255], got range "
                             f"[{arr.min()}, {arr.max()}]")
        arr = arr.astype(np.uint8)
    return arr


def check_texts(texts, name: str = "texts") -> list[str]:
    """A non-empty list of strings (a single string is wrapped)."""
    if isinstance(texts, str):
        texts = [texts]
    if texts is None or isinstance(texts, (bytes, dict)) or not hasattr(texts, "__iter__"):
        raise ValueError(f"{name}: expected a list of strings, got {describe(texts)}")
    texts = list(texts)
    if not texts:
        raise ValueError(f"{name}: expected a non-empty list of strings, got an empty list")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"{name}: expected strings, got {describe(t)} at position {i}")
    return texts
