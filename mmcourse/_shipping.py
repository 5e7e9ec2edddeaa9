"""Retrain the course's cached models from scratch and ship them in ``data/models/``.

A learner's first run then trains nothing: ``load_default_model`` finds the shipped file whose
name — and so whose key, the hash of the parameters, the framework's version and what every
source module the model depends on does — is the one its own code asks for, and copies it into
the cache (``mmcourse._model_cache.cached``). Weights for other code are never used (their name
differs); a line says they are stale and the model trains. ``mmcourse run --retrain``
(:func:`retrain`) refreshes them all; ``tests/test_model_shipping.py`` checks that every shipped
file is the current code's, intact, and that retraining reproduces the torch and Keras defaults.

Imports neither framework: each track trains in its own subprocess.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ._model_cache import (COURSE_MODELS, MANIFEST, NO_SHIPPED_ENV, file_sha256, read_manifest,
                           shipped_dir)

_TRAIN = """
import json, sys, time
import mmcourse.{track} as m
from mmcourse.{track}.pretrained import default_model_path
for variant, overrides in json.loads(sys.argv[1]):
    path = default_model_path(variant=variant, **overrides)
    if path.is_file():
        path.unlink()
    start = time.perf_counter()
    m.load_default_model(variant=variant, progress=False, **overrides)
    print(json.dumps(dict(variant=variant, overrides=overrides, path=str(path),
                          seconds=time.perf_counter() - start)), flush=True)
print(json.dumps(dict(framework=m.__name__, version=__import__({module!r}).__version__)), flush=True)
"""

_MODULES = {"torch": "torch", "keras": "tensorflow"}


def machine() -> dict:
    """Where weights were trained: CPU model and its vector extensions, cores, Python."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        cpuinfo = []
    field = {}
    for line in cpuinfo:
        key, _, value = line.partition(":")
        field.setdefault(key.strip(), value.strip())
    flags = field.get("flags", "").split()
    return {"cpu": field.get("model name") or platform.processor() or platform.machine(),
            "avx512": "avx512f" in flags, "avx2": "avx2" in flags,
            "cores": os.cpu_count(), "python": platform.python_version()}


def train_track(track: str, models=None) -> list[dict]:
    """Train ``models`` (default: the track's ``COURSE_MODELS``) from scratch in a subprocess,
    into the cache; one record per model (variant, overrides, cache path, seconds) and the
    framework's version."""
    models = list(COURSE_MODELS[track] if models is None else models)
    env = dict(os.environ, **{NO_SHIPPED_ENV: "1"})
    code = _TRAIN.format(track=track, module=_MODULES[track])
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(models)], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"training the {track} models failed (exit {proc.returncode}):\n{tail}")
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    version = lines[-1]["version"]
    return [dict(rec, track=track, framework_version=version) for rec in lines[:-1]]


def ship(records: list[dict], folder=None) -> dict:
    """Copy the trained cache files of ``records`` into ``folder`` (default ``data/models/``),
    remove shipped files of the same models trained by other code, and write the manifest."""
    from ._model_cache import _model_name

    folder = Path(folder or shipped_dir())
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)
    where = machine()
    for rec in records:
        path = Path(rec["path"])
        for old in folder.glob(f"{_model_name(path.name)}-*{path.suffix}"):
            if _model_name(old.name) == _model_name(path.name) and old.name != path.name:
                old.unlink()
                manifest.pop(old.name, None)
        shutil.copyfile(path, folder / path.name)
        manifest[path.name] = {"track": rec["track"], "variant": rec["variant"],
                               "overrides": rec["overrides"], "sha256": file_sha256(path),
                               "bytes": path.stat().st_size, "train_seconds": round(rec["seconds"], 1),
                               "framework_version": rec["framework_version"], "trained_on": where,
                               "date": time.strftime("%Y-%m-%d")}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def retrain(tracks=("torch", "keras"), folder=None, progress=print) -> dict:
    """Retrain every course model of ``tracks`` from scratch and ship them; the manifest."""
    records = []
    for track in tracks:
        start = time.perf_counter()
        got = train_track(track)
        records += got
        if progress:
            for rec in got:
                extra = "".join(f" {k}={v}" for k, v in rec["overrides"].items())
                progress(f"retrained {track} {rec['variant']}{extra}: {rec['seconds']:.1f} s "
                         f"→ {Path(rec['path']).name}")
            progress(f"{track}: {time.perf_counter() - start:.1f} s")
    return ship(records, folder)


__all__ = ["retrain", "train_track", "ship", "machine", "NO_SHIPPED_ENV"]
