"""Framework-neutral part of the default models: the variants table, their parameters, the cache
key and the locked train-once cache, shared by ``mmcourse.torch.pretrained`` and
``mmcourse.keras.pretrained`` (each track adds only its file format and training function).

A default model's file is ``cache_dir()/models/<prefix><dataset>-<variant>-<key>.<ext>``; the key
hashes the training and dataset parameters, the framework's version and the source of every module
the model depends on (:func:`source_files`), so any change retrains. Imports neither framework.
"""
from __future__ import annotations

import os
from pathlib import Path

from ._validation import check_choice

#: training parameters per variant (passed to ``train_dual_encoder``), the same in both tracks
VARIANTS = {
    "default": dict(rnn="gru", loss="infonce", hard_negatives=False),
    # each image's relational caption against its swapped twin (see train_dual_encoder)
    "word_order": dict(rnn="gru", loss="infonce", scene_twins=128, twin_weight=2.0, steps=2000),
}
#: variants that need counterfactual captions, hence a dataset that has them
COUNTERFACTUAL_VARIANTS = ("word_order",)
#: variants built on top of another one by a track's own code (not train_dual_encoder):
#: name → (tracks that have it, the datasets it exists for)
DERIVED_VARIANTS = {"speech": (("torch",), ("shapes",)),
                    # the moving-shapes clips' temporal model ("shapes" = the default argument)
                    "video": (("torch",), ("moving_shapes", "shapes"))}
#: the cached models the course's notebooks load, per track: ``(variant, overrides)`` of
#: ``load_default_model`` (``mmcourse run`` and the test suite train them before the notebooks,
#: outside the cells' time limits; notebook 08 compares the three video towers)
COURSE_MODELS = {
    "torch": (("default", {}), ("word_order", {}), ("speech", {}), ("video", {}),
              ("video", {"kind": "meanp"}), ("video", {"kind": "temporal"})),
    "keras": (("default", {}), ("word_order", {})),
}
#: keyword arguments of ``mmcourse.load_dataset`` per dataset
DATASETS = {"shapes": {}, "digits": {}}
#: datasets whose captions have counterfactual twins (checked without loading them)
COUNTERFACTUAL_DATASETS = ("shapes",)
KEY_VERSION = "1"
#: modules of a track or of ``mmcourse/data`` that no default image–text model depends on (the
#: audio and video towers, and the clips, have their own keys)
INDEPENDENT = ("audio*.py", "video*.py")
#: framework-neutral modules every default model depends on
NEUTRAL_SOURCES = ("text.py", "_frameworks.py", "_training.py", "_model_cache.py", "_towers.py",
                   "_embedding.py", "_validation.py")


def check_variant(dataset: str, variant: str, track: str) -> None:
    """ValueError unless ``variant`` of ``dataset`` exists in ``track`` ("torch" / "keras")."""
    derived = {v: d for v, (tracks, d) in DERIVED_VARIANTS.items() if track in tracks}
    check_choice(dataset, "dataset", tuple(dict.fromkeys(tuple(DATASETS) + sum(derived.values(), ()))))
    check_choice(variant, "variant", tuple(VARIANTS) + tuple(derived))
    allowed = derived.get(variant) or (COUNTERFACTUAL_DATASETS if variant in COUNTERFACTUAL_VARIANTS
                                       else tuple(DATASETS))
    if dataset not in allowed:
        raise ValueError(f"variant: expected a variant of the {dataset!r} dataset (the {variant!r} "
                         f"variant exists for {list(allowed)} only), got {variant!r}")


def default_model_params(dataset: str = "shapes", variant: str = "default", dataset_kwargs=None,
                         track: str = "torch", **overrides) -> dict:
    """The full parameter set of a default model: ``{"dataset": ..., "train": ...}``."""
    check_variant(dataset, variant, track)
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {sorted(VARIANTS)} for a trained dual encoder, "
                         f"got {variant!r} (built by its own loader)")
    if dataset_kwargs is not None and not isinstance(dataset_kwargs, dict):
        raise ValueError(f"dataset_kwargs: expected a dict or None, got {type(dataset_kwargs).__name__}")
    train = dict(seed=0, **VARIANTS[variant])
    train.update(overrides)
    data = dict(DATASETS[dataset])
    data.update(dataset_kwargs or {})
    return {"dataset": dict(name=dataset, kwargs=data), "train": train}


def source_files(track: str) -> list[Path]:
    """The source files a track's default model depends on: ``mmcourse/<track>/*.py`` and
    ``mmcourse/data/*.py`` (but the ``INDEPENDENT`` ones: other modalities' towers and data, which
    have their own keys) and the ``NEUTRAL_SOURCES``, in a fixed order."""
    from fnmatch import fnmatch

    check_choice(track, "track", ("torch", "keras"))
    pkg = Path(__file__).resolve().parent
    files = [p for folder in (track, "data") for p in sorted((pkg / folder).glob("*.py"))
             if not any(fnmatch(p.name, pattern) for pattern in INDEPENDENT)]
    return files + [pkg / name for name in NEUTRAL_SOURCES if (pkg / name).is_file()]


def model_path(params: dict, env: dict, track: str, dataset: str, variant: str, ext: str,
               prefix: str = "", cache_dir=None) -> Path:
    """Where a default model with ``params`` (and framework ``env``) lives; it may not exist yet."""
    from .data.cache import cache_dir as default_cache_dir, cache_key

    key = cache_key(dict(params, env=env), KEY_VERSION, source_files(track))
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "models" / f"{prefix}{dataset}-{variant}-{key}{ext}"


# ----------------------------------------------------------------------------- shipped weights
#: the manifest of the shipped weights (in :func:`shipped_dir`)
MANIFEST = "MANIFEST.json"
#: set in a process to make :func:`cached` ignore the shipped weights (what retraining needs)
NO_SHIPPED_ENV = "MMCOURSE_NO_SHIPPED"


def shipped_dir() -> Path:
    """``data/models/`` of the checkout: trained weights shipped with the course, each named like
    its cache file (so its key — the code and parameters that trained it — is in its name)."""
    return Path(__file__).resolve().parents[1] / "data" / "models"


def read_manifest(folder=None) -> dict:
    """{file name: record} of the shipped weights (empty when there are none)."""
    import json

    path = Path(folder or shipped_dir()) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def file_sha256(path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _model_name(name: str) -> str:
    """A cache file name without its key: "shapes-default-3425d0c95a9de721.pt" → "shapes-default"."""
    return name.rsplit("-", 1)[0]


def shipped_file(path: Path):
    """The shipped weights for the cache file ``path`` — same name, so trained by this very code
    with these parameters — when present and intact (its SHA-256 is the manifest's), else None."""
    if os.environ.get(NO_SHIPPED_ENV):  # retraining (mmcourse._shipping)
        return None
    record = read_manifest().get(path.name)
    candidate = shipped_dir() / path.name
    if record is None or not candidate.is_file() or file_sha256(candidate) != record.get("sha256"):
        return None
    return candidate


def stale_shipped(path: Path) -> list:
    """Shipped weights of the same model trained by *other* code or parameters (another key)."""
    folder = shipped_dir()
    if not folder.is_dir():
        return []
    model = _model_name(path.name)
    return sorted(p.name for p in folder.glob(f"{model}-*{path.suffix}")
                  if p.name != path.name and _model_name(p.name) == model)


def cached(path: Path, memory: dict, load, build):
    """The model at ``path``: from ``memory``, else from disk with ``load(path)``, else the
    course's shipped weights of the same name (:func:`shipped_file`, copied into the cache), else
    ``build(path)`` (train and save). A file lock makes concurrent callers build only once; a
    file ``load`` refuses with ValueError is rebuilt and overwritten. When only weights for other
    code or parameters are shipped, a line says so before training."""
    import filelock

    if str(path) in memory:
        return memory[str(path)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(os.fspath(path) + ".lock"):
        model = None
        if not path.is_file() and (source := shipped_file(path)) is not None:
            _copy(source, path)
        if path.is_file():
            try:
                model = load(path)
            except ValueError:  # unreadable file: retrain and overwrite
                model = None
        if model is None:
            stale = stale_shipped(path)
            if stale:
                print(f"mmcourse: the shipped weights {stale[0]} were trained by another version of "
                      f"the code or other parameters (this code's file is {path.name}): training "
                      f"now; `mmcourse run --retrain` refreshes data/models/", flush=True)
            model = build(path)
    memory[str(path)] = model
    return model


def _copy(source: Path, target: Path) -> None:
    import shutil
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
