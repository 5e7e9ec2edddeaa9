"""Datasets of the course, all loaded into one container, :class:`CaptionDataset`.

* ``load_dataset("shapes")`` — generated shapes scenes with exact caption ↔ image semantics (default);
* ``load_dataset("digits")`` — scikit-learn's 1,797 real handwritten digit scans, captioned;
* ``load_dataset("/path/to/data")`` — a local COCO captions / Karpathy split / Flickr8k folder or file.

Generated data is cached under :func:`cache_dir`. Deduplication and split-leakage checks are in
:func:`find_duplicates` and :func:`check_split_leakage`.
"""
from __future__ import annotations

from pathlib import Path

from .._validation import check_int, describe
from .cache import cache_dir
from .dataset import SPLITS, CaptionDataset
from .shapes import (COLOURS, RELATIONS, SHAPES, SIZES, Description, Meaning, SceneObject,
                     hard_negatives, make_shapes, parse_caption, relevance_matrix, satisfies,
                     word_order_probe)

__all__ = ["CaptionDataset", "SPLITS", "load_dataset", "load_shapes", "make_shapes", "load_digits",
           "load_coco_captions", "load_karpathy", "load_flickr8k", "find_duplicates",
           "check_split_leakage", "cache_dir", "SHAPES", "COLOURS", "SIZES", "RELATIONS",
           "SceneObject", "Description", "Meaning", "satisfies", "relevance_matrix",
           "parse_caption", "hard_negatives", "word_order_probe"]


def load_shapes(n_train: int = 20000, n_val: int = 1000, n_test: int = 1000, image_size: int = 32,
                seed: int = 0, captions_per_image: int = 5, cache: bool = True,
                progress: bool = True) -> CaptionDataset:
    """The default shapes-scenes dataset: train / val / test splits (COCO-1K-like 1,000-image test).

    Generated once (a few seconds) and then loaded from the cache. The test and val images depend
    only on ``seed`` and ``image_size``, not on ``n_train``.
    """
    sizes = tuple(check_int(v, name, minimum=0) for v, name in
                  ((n_train, "n_train"), (n_val, "n_val"), (n_test, "n_test")))
    if sum(sizes) == 0:
        raise ValueError("n_train, n_val, n_test: expected at least one image in total, got 0")
    return make_shapes(sum(sizes), seed=seed, image_size=image_size,
                       captions_per_image=captions_per_image, split_sizes=sizes, cache=cache,
                       progress=progress)


def load_dataset(name="shapes", **kwargs) -> CaptionDataset:
    """Load a dataset by name (``"shapes"``, ``"digits"``) or from a local path.

    ``kwargs`` go to :func:`load_shapes`, :func:`load_digits` or, for a path,
    :func:`mmcourse.data.formats.load_path` (``format=None|"coco"|"karpathy"|"flickr8k"``,
    ``image_size=64``, ``max_images=None``, ``strict=False``).
    """
    if isinstance(name, str) and name.lower() == "shapes":
        return load_shapes(**kwargs)
    if isinstance(name, str) and name.lower() == "digits":
        return load_digits(**kwargs)
    if isinstance(name, (str, Path)):
        path = Path(name).expanduser()
        if path.exists():
            from .formats import load_path

            return load_path(path, **kwargs)
        raise ValueError(f"name: expected 'shapes', 'digits' or an existing file or folder, "
                         f"got {str(name)!r} (no such path)")
    raise ValueError(f"name: expected 'shapes', 'digits' or a path, got {describe(name)}")


def __getattr__(name):  # lazy: the loaders below import PIL / scikit-learn only when used
    if name in ("load_coco_captions", "load_karpathy", "load_flickr8k"):
        from . import formats

        return getattr(formats, name)
    if name in ("find_duplicates", "check_split_leakage"):
        from . import dedup

        return getattr(dedup, name)
    raise AttributeError(f"module 'mmcourse.data' has no attribute {name!r}")


def load_digits(**kwargs) -> CaptionDataset:  # noqa: F811 - real function, documented in .digits
    """scikit-learn's handwritten digits as a captioned dataset; see :mod:`mmcourse.data.digits`."""
    from .digits import load_digits as _load

    return _load(**kwargs)
