"""On-disk cache for generated data and trained models.

Location, first match wins:

1. ``$MMCOURSE_CACHE`` when set;
2. ``data/cache/`` of the repository when the package runs from a checkout (editable install)
   whose ``data/`` folder is writable;
3. ``~/.cache/mmcourse``.

Keys hash the generator's parameters, a version constant and the generator's source code, so a
changed generator never reads a stale file. Writes are atomic (temporary file + ``os.replace``),
so two processes (e.g. two pytest workers) may fill the same entry at once.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

_REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """The cache folder (created if needed); see the module docstring for how it is chosen."""
    env = os.environ.get("MMCOURSE_CACHE")
    if env:
        path = Path(env).expanduser()
    elif (_REPO_ROOT / "pyproject.toml").is_file() and (_REPO_ROOT / "data").is_dir() \
            and os.access(_REPO_ROOT / "data", os.W_OK):
        path = _REPO_ROOT / "data" / "cache"
    else:
        path = Path.home() / ".cache" / "mmcourse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_fingerprint(path) -> bytes:
    """What a Python source file *does*: its syntax tree without docstrings (comments and
    layout are not in the tree), so editing prose or formatting keeps every key; a file that does
    not parse counts by its bytes."""
    import ast

    raw = Path(path).read_bytes()
    try:
        tree = ast.parse(raw)
    except (SyntaxError, ValueError):
        return raw
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False).encode()


def cache_key(params: dict, version: str, source_files=()) -> str:
    """A 16-hex-digit key from JSON-able ``params``, a ``version`` string and what the source
    files do (:func:`source_fingerprint`: docstrings, comments and layout do not count)."""
    h = hashlib.sha256()
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(version.encode())
    for f in source_files:
        h.update(source_fingerprint(f))
    return h.hexdigest()[:16]


def atomic_save_npz(path, arrays: dict) -> Path:
    """Write ``arrays`` to ``path`` (.npz, uncompressed for fast loading) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_npz(path) -> dict | None:
    """The arrays of a cached .npz, or ``None`` when it is missing or unreadable (then regenerate)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:  # a truncated or foreign file is treated as a cache miss
        return None


def encode_strings(strings) -> np.ndarray:
    """Pack a list of strings into one uint8 array (UTF-8, newline separated) for .npz storage."""
    text = "\n".join(strings)
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()


def decode_strings(arr: np.ndarray) -> list[str]:
    """Inverse of :func:`encode_strings`."""
    text = arr.tobytes().decode("utf-8")
    return text.split("\n") if text else []
