"""mmcourse — a Jupyter course on multimodal and cross-modal (image ↔ text) retrieval.

The helper package stays light: ``import mmcourse`` imports neither torch nor TensorFlow.
The framework tracks live in ``mmcourse.torch`` and ``mmcourse.keras``.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "check", "load_dataset", "CaptionDataset"]


def __getattr__(name):  # lazy: keeps `import mmcourse` fast and framework-free
    if name == "check":
        from .grading.check import check

        return check
    if name in ("load_dataset", "CaptionDataset"):
        from . import data

        return getattr(data, name)
    raise AttributeError(f"module 'mmcourse' has no attribute {name!r}")
