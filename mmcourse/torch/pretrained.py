"""The course's default trained dual encoders, trained once with a fixed seed and cached on disk.

Cache file: ``mmcourse.data.cache_dir()/models/<dataset>-<variant>-<key>.pt``; the key hashes the
source of ``mmcourse/torch/*.py`` (and of the text and data code the model depends on), the
training and dataset parameters, the torch version and the device type — any change retrains.
A file lock makes concurrent callers (two pytest workers, two notebooks) train only once.
"""
from __future__ import annotations

import os
from pathlib import Path

from .._validation import check_choice

#: training parameters per variant (passed to ``train_dual_encoder``)
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
    files = sorted((pkg / "torch").glob("*.py")) + sorted((pkg / "data").glob("*.py"))
    return files + [p for p in (pkg / "text.py", pkg / "_training.py") if p.is_file()]


def default_model_params(dataset: str = "shapes", variant: str = "default", dataset_kwargs=None,
                         **overrides) -> dict:
    """The full parameter set of a default model: ``{"dataset": ..., "train": ...}``."""
    check_choice(dataset, "dataset", tuple(DATASETS))
    check_choice(variant, "variant", tuple(VARIANTS))
    if dataset != "shapes" and VARIANTS[variant].get("scene_twins"):
        raise ValueError(f"variant: expected 'default' for the {dataset!r} dataset (its captions "
                         f"have no word-order twins), got {variant!r}")
    train = dict(seed=0, **VARIANTS[variant])
    train.update(overrides)
    data = dict(DATASETS[dataset])
    data.update(dataset_kwargs or {})
    return {"dataset": dict(name=dataset, kwargs=data), "train": train}


def default_model_path(dataset: str = "shapes", variant: str = "default", dataset_kwargs=None,
                       cache_dir=None, **overrides) -> Path:
    """Where the cached model for these parameters lives (it may not exist yet)."""
    import torch

    from ..data.cache import cache_dir as default_cache_dir, cache_key
    from .device import get_device

    params = default_model_params(dataset, variant, dataset_kwargs, **overrides)
    params["env"] = dict(torch=torch.__version__, device=get_device(overrides.get("device")).type)
    key = cache_key(params, KEY_VERSION, _sources())
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "models" / f"{dataset}-{variant}-{key}.pt"


def load_default_model(dataset: str = "shapes", variant: str = "default", progress: bool = True,
                       dataset_kwargs=None, cache_dir=None, **overrides):
    """The default trained :class:`DualEncoder` for ``dataset`` ("shapes" or "digits").

    ``variant="default"``: GRU + InfoNCE; ``"word_order"``: GRU + InfoNCE + each image's
    relational caption against its swapped twin (``scene_twins``; shapes only). The first call
    trains (≈ 1 min on 2 CPU cores, seeded) and caches; later calls load in well under a second.
    ``dataset_kwargs`` and ``**overrides`` (any ``train_dual_encoder`` argument) change the
    parameters — and the key.
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
                model = load_model(path, device=overrides.get("device"))
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
