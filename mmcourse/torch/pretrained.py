"""The course's default trained dual encoders, trained once with a fixed seed and cached on disk.

Cache file: ``mmcourse.data.cache_dir()/models/<dataset>-<variant>-<key>.pt``; the key hashes the
training and dataset parameters, the torch version, the device type and the source of every
module the model depends on (``mmcourse._model_cache.source_files("torch")``) — any change
retrains. A file lock makes concurrent callers (two pytest workers, two notebooks) train only once.
The variants table and the key are shared with ``mmcourse.keras`` (``mmcourse._model_cache``).
"""
from __future__ import annotations

from pathlib import Path

from .. import _model_cache
from .._model_cache import DATASETS, KEY_VERSION, VARIANTS  # noqa: F401  (public here)

_MEMORY: dict = {}


def _sources() -> list[Path]:
    return _model_cache.source_files("torch")


def default_model_params(dataset: str = "shapes", variant: str = "default", dataset_kwargs=None,
                         **overrides) -> dict:
    """The full parameter set of a default model: ``{"dataset": ..., "train": ...}``."""
    return _model_cache.default_model_params(dataset, variant, dataset_kwargs, "torch", **overrides)


def default_model_path(dataset: str = "shapes", variant: str = "default", dataset_kwargs=None,
                       cache_dir=None, **overrides) -> Path:
    """Where the cached model for these parameters lives (it may not exist yet)."""
    import torch

    from .device import get_device

    if variant == "speech":
        _model_cache.check_variant(dataset, variant, "torch")
        from .audio import speech_model_path

        return speech_model_path(cache_dir, dataset_kwargs, **overrides)
    if variant == "video":
        _model_cache.check_variant(dataset, variant, "torch")
        from .video import video_model_path

        return video_model_path(cache_dir=cache_dir, dataset_kwargs=dataset_kwargs, **overrides)
    params = default_model_params(dataset, variant, dataset_kwargs, **overrides)
    env = dict(torch=torch.__version__, device=get_device(overrides.get("device")).type)
    return _model_cache.model_path(params, env, "torch", dataset, variant, ".pt", cache_dir=cache_dir)


def load_default_model(dataset: str = "shapes", variant: str = "default", progress: bool = True,
                       dataset_kwargs=None, cache_dir=None, **overrides):
    """The default trained :class:`DualEncoder` for ``dataset`` ("shapes" or "digits").

    ``variant="default"``: GRU + InfoNCE; ``"word_order"``: GRU + InfoNCE + each image's
    relational caption against its swapped twin (``scene_twins``; shapes only); ``"speech"``
    (shapes only): the default model with an audio tower bound to it
    (``mmcourse.torch.audio.load_speech_model``); ``"video"``: the best temporal model of the
    moving-shapes clips (a :class:`~mmcourse.torch.video.VideoModel`,
    ``mmcourse.torch.video.load_video_model``; ``dataset`` "moving_shapes"). The first call trains (≈ 1 min on 2 CPU
    cores, seeded) and caches; later calls load in well under a second. ``dataset_kwargs`` and
    ``**overrides`` (any ``train_dual_encoder`` argument) change the parameters — and the key.
    """
    from .persist import load_model, save_model

    if variant == "speech":
        _model_cache.check_variant(dataset, variant, "torch")
        from .audio import load_speech_model

        return load_speech_model(progress=progress, cache_dir=cache_dir, dataset_kwargs=dataset_kwargs,
                                 **overrides)
    if variant == "video":
        _model_cache.check_variant(dataset, variant, "torch")
        from .video import load_video_model

        return load_video_model(progress=progress, cache_dir=cache_dir, dataset_kwargs=dataset_kwargs,
                                **overrides)
    path = default_model_path(dataset, variant, dataset_kwargs, cache_dir, **overrides)

    def build(path):
        from .. import load_dataset
        from .train import train_dual_encoder

        params = default_model_params(dataset, variant, dataset_kwargs, **overrides)
        data = load_dataset(dataset, **params["dataset"]["kwargs"])
        model, _ = train_dual_encoder(data, progress=progress, **params["train"])
        save_model(model, path)
        return model

    return _model_cache.cached(path, _MEMORY, lambda p: load_model(p, device=overrides.get("device")),
                               build)
