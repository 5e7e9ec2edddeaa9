"""The course's default trained Keras dual encoders, and an optional pretrained Keras backbone.

Default models are trained once with a fixed seed and cached in
``mmcourse.data.cache_dir()/models/keras-<dataset>-<variant>-<key>.npz``; the key hashes the
source of ``mmcourse/keras/*.py`` (and of the data and text code the model depends on), the
training and dataset parameters and the TensorFlow version — any change retrains. A file lock
makes concurrent callers (two pytest workers, two notebooks) train only once.

The pretrained backbone (``keras.applications.MobileNetV2`` without its classifier) is used only
when its ImageNet weights file is already in Keras' cache (``$KERAS_HOME/models``, default
``~/.keras/models``): nothing here ever downloads.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from .._validation import check_choice, check_int

#: training parameters per variant (passed to ``train_dual_encoder``), as in mmcourse.torch
VARIANTS = {
    "default": dict(rnn="gru", loss="infonce", hard_negatives=False),
    # each image's relational caption against its swapped twin (see train_dual_encoder)
    "word_order": dict(rnn="gru", loss="infonce", scene_twins=128, twin_weight=2.0, steps=2000),
}
#: keyword arguments of ``mmcourse.load_dataset`` per dataset
DATASETS = {"shapes": {}, "digits": {}}
KEY_VERSION = "1"
_MEMORY: dict = {}


def _sources() -> list[Path]:
    pkg = Path(__file__).resolve().parents[1]
    files = sorted((pkg / "keras").glob("*.py")) + sorted((pkg / "data").glob("*.py"))
    return files + [p for p in (pkg / "text.py", pkg / "_frameworks.py", pkg / "_training.py") if p.is_file()]


def default_model_params(dataset: str = "shapes", variant: str = "default", dataset_kwargs=None,
                         **overrides) -> dict:
    """The full parameter set of a default model: ``{"dataset": ..., "train": ...}``."""
    check_choice(dataset, "dataset", tuple(DATASETS))
    check_choice(variant, "variant", tuple(VARIANTS))
    if dataset != "shapes" and VARIANTS[variant].get("scene_twins"):
        raise ValueError(f"variant: expected 'default' for the {dataset!r} dataset (its captions "
                         f"have no word-order twins), got {variant!r}")
    if dataset_kwargs is not None and not isinstance(dataset_kwargs, dict):
        raise ValueError(f"dataset_kwargs: expected a dict or None, got {type(dataset_kwargs).__name__}")
    train = dict(seed=0, **VARIANTS[variant])
    train.update(overrides)
    data = dict(DATASETS[dataset])
    data.update(dataset_kwargs or {})
    return {"dataset": dict(name=dataset, kwargs=data), "train": train}


def default_model_path(dataset: str = "shapes", variant: str = "default", dataset_kwargs=None,
                       cache_dir=None, **overrides) -> Path:
    """Where the cached model for these parameters lives (it may not exist yet)."""
    import tensorflow as tf

    from ..data.cache import cache_dir as default_cache_dir, cache_key

    params = default_model_params(dataset, variant, dataset_kwargs, **overrides)
    params["env"] = dict(tensorflow=tf.__version__)
    key = cache_key(params, KEY_VERSION, _sources())
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "models" / f"keras-{dataset}-{variant}-{key}.npz"


def load_default_model(dataset: str = "shapes", variant: str = "default", progress: bool = True,
                       dataset_kwargs=None, cache_dir=None, **overrides):
    """The default trained Keras :class:`DualEncoder` for ``dataset`` ("shapes" or "digits").

    ``variant="default"``: GRU + InfoNCE; ``"word_order"``: GRU + InfoNCE + each image's
    relational caption against its swapped twin (``scene_twins``; shapes only). The first call
    trains (about a minute on 2 CPU cores, seeded) and caches; later calls load in about a
    second. ``dataset_kwargs`` and ``**overrides`` (any ``train_dual_encoder`` argument) change
    the parameters — and the key.
    """
    import filelock

    from .persist import load_model, save_model

    path = default_model_path(dataset, variant, dataset_kwargs, cache_dir, **overrides)
    if str(path) in _MEMORY:
        return _MEMORY[str(path)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(os.fspath(path) + ".lock"):
        model = None
        if path.is_file():
            try:
                model = load_model(path)
            except ValueError:  # unreadable file: retrain and overwrite
                model = None
        if model is None:
            from .. import load_dataset
            from .train import train_dual_encoder

            params = default_model_params(dataset, variant, dataset_kwargs, **overrides)
            data = load_dataset(dataset, **params["dataset"]["kwargs"])
            model, _ = train_dual_encoder(data, progress=progress, **params["train"])
            save_model(model, path)
    _MEMORY[str(path)] = model
    return model


# ------------------------------------------------------------------ pretrained Keras backbone
MOBILENET_ALPHA = 0.35
MOBILENET_SIZES = (96, 128, 160, 192, 224)


def keras_models_dir() -> Path:
    """Keras' download cache (``$KERAS_HOME/models``, default ``~/.keras/models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def mobilenet_weights_path(size: int = 96, models_dir=None) -> Path:
    """Where Keras caches MobileNetV2 (alpha 0.35, no top) ImageNet weights for ``size`` px input."""
    check_choice(size, "size", MOBILENET_SIZES)
    root = Path(models_dir) if models_dir is not None else keras_models_dir()
    return root / f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{MOBILENET_ALPHA}_{size}_no_top.h5"


def how_to_get_weights(path) -> str:
    """The one sentence shown when the pretrained weights are missing."""
    return (f"Pretrained MobileNetV2 weights not found at {path}; to use them, run "
            f"`python -c \"import keras; keras.applications.MobileNetV2(input_shape=(96, 96, 3), "
            f"alpha={MOBILENET_ALPHA}, include_top=False)\"` once on a machine with internet access "
            f"(or copy {Path(path).name} there) — using the small CNN trained from scratch instead.")


def load_pretrained_backbone(size: int = 96, weights="auto", models_dir=None):
    """MobileNetV2 (alpha 0.35) feature extractor: images (n, size, size, 3) in [-1, 1] → (n, 1280).

    ``weights``: "auto" (the Keras cache file; returns None with a one-sentence warning when
    it is missing — never a download), "none" (random initialisation) or a path to the
    weights file. Resize 32 px images up to ``size`` first (the network needs ≥ 32 px).
    """
    import keras

    size = check_int(size, "size", minimum=32)
    if weights == "auto":
        path = mobilenet_weights_path(size, models_dir)
        if not path.is_file():
            warnings.warn(how_to_get_weights(path), UserWarning, stacklevel=2)
            return None
    elif weights == "none":
        path = None
    else:
        path = Path(os.fspath(weights))
        if not path.is_file():
            raise ValueError(f"weights: expected 'auto', 'none' or an existing weights file, "
                             f"got {str(path)!r} (no such file)")
    try:
        return keras.applications.MobileNetV2(
            input_shape=(size, size, 3), alpha=MOBILENET_ALPHA, include_top=False, pooling="avg",
            weights=None if path is None else os.fspath(path))
    except Exception as exc:  # offline keras raises "URL fetch failure"; bad files raise too
        if "URL fetch failure" in str(exc):
            warnings.warn(how_to_get_weights(path), UserWarning, stacklevel=2)
            return None
        raise ValueError(f"weights: expected MobileNetV2 weights for {size} px input, got "
                         f"{str(path)!r} ({type(exc).__name__}: {exc})") from None


def pretrained_features(backbone, images, batch_size: int = 256):
    """Pooled MobileNetV2 features float32 (n, 1280) of uint8 images (n, H, W, 3)."""
    import numpy as np
    import tensorflow as tf

    from .._validation import check_images

    arr = check_images(images, "images")
    size = int(backbone.input_shape[1])
    batch_size = check_int(batch_size, "batch_size")
    out = []
    for i in range(0, len(arr), batch_size):
        x = tf.image.resize(tf.cast(arr[i:i + batch_size], tf.float32), (size, size))
        out.append(backbone(x / 127.5 - 1.0, training=False).numpy())
    return np.concatenate(out).astype(np.float32, copy=False)
