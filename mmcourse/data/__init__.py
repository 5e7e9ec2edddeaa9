"""Datasets of the course, all loaded into one container, :class:`CaptionDataset`.

* ``load_dataset("shapes")`` — generated shapes scenes with exact caption ↔ image semantics (default);
* ``load_dataset("digits")`` — scikit-learn's 1,797 real handwritten digit scans, captioned;
* ``load_dataset("moving_shapes")`` — generated clips of moving shapes with motion captions
  (modalities image = first frame, text, video; see :mod:`mmcourse.data.video`);
* ``load_dataset("/path/to/data")`` — a local COCO captions / Karpathy split / Flickr8k folder or file.

Each dataset carries the modalities ``"image"`` and ``"text"``; ``load_dataset(...,
modalities=("image", "text", "audio"))`` attaches extra ones through the registry of
:mod:`mmcourse.data.modalities` (see docs/ADDING_A_MODALITY.md). Relevance between any two
modalities comes from the dataset's :class:`RelevanceRule` (:mod:`mmcourse.data.relevance`).

Generated data is cached under :func:`cache_dir`. Deduplication and split-leakage checks are in
:func:`find_duplicates` and :func:`check_split_leakage`.
"""
from __future__ import annotations

from pathlib import Path

from .._validation import check_int, describe
from .cache import cache_dir
from .dataset import SPLITS, CaptionDataset
from .modalities import Modality, register_modality, registered_modalities
from .relevance import ClassRelevance, PairingRelevance, RelevanceRule, register_rule
from .shapes import (COLOURS, RELATIONS, SHAPES, SIZES, Description, Meaning, SceneObject,
                     hard_negatives, make_shapes, parse_caption, relevance_matrix, satisfies,
                     word_order_probe)

__all__ = ["CaptionDataset", "SPLITS", "load_dataset", "load_shapes", "make_shapes", "load_digits",
           "load_coco_captions", "load_karpathy", "load_flickr8k", "find_duplicates",
           "check_split_leakage", "attach_modalities", "cache_dir", "SHAPES", "COLOURS", "SIZES", "RELATIONS",
           "SceneObject", "Description", "Meaning", "satisfies", "relevance_matrix",
           "parse_caption", "hard_negatives", "word_order_probe", "Modality", "register_modality",
           "registered_modalities", "sample_path", "SAMPLES", "RelevanceRule", "PairingRelevance", "ClassRelevance",
           "ShapesRelevance", "register_rule"]


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


def load_dataset(name="shapes", modalities=None, **kwargs) -> CaptionDataset:
    """Load a dataset by name (``"shapes"``, ``"digits"``, ``"moving_shapes"``) or from a local path.

    ``modalities``: None (image and text), or the modalities wanted, e.g.
    ``("image", "text", "audio")``; each extra one is attached by its registered attach function
    (its data module, e.g. :mod:`mmcourse.data.speech` for ``"audio"``, is imported on first use).
    ``kwargs`` go to :func:`load_shapes`, :func:`load_digits`,
    :func:`mmcourse.data.video.load_moving_shapes` or, for a path,
    :func:`mmcourse.data.formats.load_path` (``format=None|"coco"|"karpathy"|"flickr8k"``,
    ``image_size=64``, ``max_images=None``, ``strict=False``).
    """
    wanted = _check_modalities(modalities)
    if isinstance(name, str) and name.lower() == "shapes":
        ds = load_shapes(**kwargs)
    elif isinstance(name, str) and name.lower() == "digits":
        ds = load_digits(**kwargs)
    elif isinstance(name, str) and name.lower() == "moving_shapes":
        from .video import load_moving_shapes

        ds = load_moving_shapes(**kwargs)
    elif isinstance(name, (str, Path)):
        path = Path(name).expanduser()
        if not path.exists():
            raise ValueError(f"name: expected 'shapes', 'digits', 'moving_shapes' or an existing file or folder, "
                             f"got {str(name)!r} (no such path)")
        from .formats import load_path

        ds = load_path(path, **kwargs)
    else:
        raise ValueError(f"name: expected 'shapes', 'digits', 'moving_shapes' or a path, got {describe(name)}")
    return attach_modalities(ds, wanted)


#: the real-format samples shipped in ``data/samples/`` (written by ``data/samples/make_samples.py``)
SAMPLES = ("flickr8k",)


def sample_path(name: str = "flickr8k") -> Path:
    """The folder of a shipped sample in a real dataset's layout, for ``load_dataset(path)``.

    ``"flickr8k"``: 600 shapes scenes (400 / 100 / 100 images, five captions each) written as
    Flickr8k's ``Flicker8k_Dataset/`` + ``Flickr8k.token.txt`` + split lists, so the Flickr8k
    loader, training and evaluation run end to end exactly as on the real data (32 px images:
    pass ``image_size=32``). Raises ValueError for an unknown name or a missing folder.
    """
    if name not in SAMPLES:
        raise ValueError(f"name: expected one of {SAMPLES}, got {describe(name)}")
    path = Path(__file__).resolve().parents[2] / "data" / "samples" / name
    if not (path / "Flickr8k.token.txt").is_file():
        raise ValueError(f"name: the {name!r} sample is missing at {path} (it ships with the "
                         "repository; regenerate it with data/samples/make_samples.py)")
    return path


def _check_modalities(modalities) -> tuple:
    if modalities is None:
        return ()
    if isinstance(modalities, str) or not isinstance(modalities, (list, tuple)) \
            or not all(isinstance(m, str) for m in modalities):
        raise ValueError(f"modalities: expected a tuple of modality names such as "
                         f"('image', 'text', 'audio'), got {describe(modalities)}")
    if len(set(modalities)) != len(modalities):
        raise ValueError(f"modalities: expected each modality once, got {tuple(modalities)}")
    missing = [m for m in ("image", "text") if m not in modalities]
    if missing:
        raise ValueError(f"modalities: expected 'image' and 'text' among them (every dataset "
                         f"carries both), got {tuple(modalities)}")
    return tuple(m for m in modalities if m not in ("image", "text"))


def attach_modalities(ds: CaptionDataset, extras) -> CaptionDataset:
    """``ds`` with the registered modalities ``extras`` attached (in order); ValueError naming
    ``modalities`` when one is not registered or not available for this dataset (its attach
    function raised ValueError, or OSError for missing material)."""
    from .modalities import get_attach

    for modality in extras:
        get_attach(modality, "modalities")  # ValueError naming modalities when unregistered
        if modality in ds.modalities:
            continue
        try:
            ds = ds.with_modality(modality)
        except (ValueError, OSError) as exc:  # OSError: its shipped material is missing
            if isinstance(exc, ValueError) and str(exc).startswith("modalities:"):
                raise
            raise ValueError(f"modalities: {modality!r} is not available for dataset "
                             f"{ds.name!r}: {exc}") from exc
    return ds


def __getattr__(name):  # lazy: the loaders below import PIL / scikit-learn only when used
    if name in ("load_coco_captions", "load_karpathy", "load_flickr8k"):
        from . import formats

        return getattr(formats, name)
    if name == "ShapesRelevance":
        from .relevance_shapes import ShapesRelevance

        return ShapesRelevance
    if name in ("find_duplicates", "check_split_leakage"):
        from . import dedup

        return getattr(dedup, name)
    raise AttributeError(f"module 'mmcourse.data' has no attribute {name!r}")


def load_digits(**kwargs) -> CaptionDataset:  # noqa: F811 - real function, documented in .digits
    """scikit-learn's handwritten digits as a captioned dataset; see :mod:`mmcourse.data.digits`."""
    from .digits import load_digits as _load

    return _load(**kwargs)
