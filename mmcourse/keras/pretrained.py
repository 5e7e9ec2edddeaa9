"""The course's default trained Keras dual encoders, and an optional pretrained Keras backbone.

Default models are trained once with a fixed seed and cached in
``mmcourse.data.cache_dir()/models/keras-<dataset>-<variant>-<key>.npz``; the key hashes the
training and dataset parameters, the TensorFlow version and the source of every module the model
depends on (``mmcourse._model_cache.source_files("keras")``) — any change retrains. The variants
table and the key are shared with ``mmcourse.torch`` (``mmcourse._model_cache``). A file lock
makes concurrent callers (two pytest workers, two notebooks) train only once.

The pretrained backbone (``keras.applications.MobileNetV2`` without its classifier) is used only
when its ImageNet weights file is already in Keras' cache (``$KERAS_HOME/models``, default
``~/.keras/models``): nothing here ever downloads.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from .. import _model_cache
from .._model_cache import DATASETS, KEY_VERSION, VARIANTS  # noqa: F401  (public here)
from .._validation import check_choice, check_int

_MEMORY: dict = {}


def _sources() -> list[Path]:
    return _model_cache.source_files("keras")


def default_model_params(dataset: str = "shapes", variant: str = "default", dataset_kwargs=None,
                         **overrides) -> dict:
    """The full parameter set of a default model: ``{"dataset": ..., "train": ...}``."""
    return _model_cache.default_model_params(dataset, variant, dataset_kwargs, "keras", **overrides)


def default_model_path(dataset: str = "shapes", variant: str = "default", dataset_kwargs=None,
                       cache_dir=None, **overrides) -> Path:
    """Where the cached model for these parameters lives (it may not exist yet)."""
    import tensorflow as tf

    params = default_model_params(dataset, variant, dataset_kwargs, **overrides)
    return _model_cache.model_path(params, dict(tensorflow=tf.__version__), "keras", dataset, variant,
                                   ".npz", prefix="keras-", cache_dir=cache_dir)


def load_default_model(dataset: str = "shapes", variant: str = "default", progress: bool = True,
                       dataset_kwargs=None, cache_dir=None, **overrides):
    """The default trained Keras :class:`DualEncoder` for ``dataset`` ("shapes" or "digits").

    ``variant="default"``: GRU + InfoNCE; ``"word_order"``: GRU + InfoNCE + each image's
    relational caption against its swapped twin (``scene_twins``; shapes only). The first call
    trains (about a minute on 2 CPU cores, seeded) and caches; later calls load in about a
    second. ``dataset_kwargs`` and ``**overrides`` (any ``train_dual_encoder`` argument) change
    the parameters — and the key.
    """
    from .persist import load_model, save_model

    path = default_model_path(dataset, variant, dataset_kwargs, cache_dir, **overrides)

    def build(path):
        from .. import load_dataset
        from .train import train_dual_encoder

        params = default_model_params(dataset, variant, dataset_kwargs, **overrides)
        data = load_dataset(dataset, **params["dataset"]["kwargs"])
        model, _ = train_dual_encoder(data, progress=progress, **params["train"])
        save_model(model, path)
        return model

    return _model_cache.cached(path, _MEMORY, load_model, build)


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
