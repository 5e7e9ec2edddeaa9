"""Shipped trained weights (``data/models/``, ``mmcourse._shipping``): used only when they are the
current code's, intact, and what the code trains.

The proof that a shipped file is exactly what the code trains has three parts: its name carries
the key of the parameters, the framework's version and what every source module the model depends
on does, and must equal the name the current code asks for (so nothing changed since it was
trained); its SHA-256 is the manifest's (nobody edited it); and retraining from scratch reproduces
it — array for array on a machine with the same CPU extensions as the one that trained it (training
is deterministic for a fixed step count), and to within run-to-run noise on another CPU.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmcourse import _model_cache as MC

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data" / "models"
MANIFEST = MC.read_manifest(SHIPPED)


# ----------------------------------------------------------------------------- the mechanism
@pytest.fixture
def shipped(tmp_path, monkeypatch):
    folder = tmp_path / "shipped"
    folder.mkdir()
    monkeypatch.setattr(MC, "shipped_dir", lambda: folder)
    monkeypatch.delenv(MC.NO_SHIPPED_ENV, raising=False)
    return folder


def _ship(folder, name, payload=b"weights"):
    (folder / name).write_bytes(payload)
    manifest = MC.read_manifest(folder)
    manifest[name] = {"sha256": MC.file_sha256(folder / name)}
    (folder / MC.MANIFEST).write_text(json.dumps(manifest))


def _load(path):
    data = Path(path).read_bytes()
    if data == b"unreadable":
        raise ValueError("path: expected a model")
    return data


def test_a_shipped_file_of_the_same_name_is_copied_into_the_cache_and_nothing_trains(shipped, tmp_path):
    _ship(shipped, "shapes-default-abc.pt")
    path = tmp_path / "cache" / "shapes-default-abc.pt"
    built = []
    model = MC.cached(path, {}, _load, lambda p: built.append(p) or b"trained")
    assert model == b"weights" and built == [] and path.read_bytes() == b"weights"


def test_an_edited_or_unlisted_shipped_file_is_not_used(shipped, tmp_path):
    _ship(shipped, "shapes-default-abc.pt")
    (shipped / "shapes-default-abc.pt").write_bytes(b"tampered")          # SHA-256 differs
    (shipped / "shapes-speech-abc.pt").write_bytes(b"weights")           # not in the manifest
    for name in ("shapes-default-abc.pt", "shapes-speech-abc.pt"):
        path = tmp_path / "cache" / name
        assert MC.cached(path, {}, _load, lambda p: (p.write_bytes(b"trained"), b"trained")[1]) == b"trained"


def test_stale_shipped_weights_are_named_and_the_model_trains(shipped, tmp_path, capsys):
    _ship(shipped, "shapes-default-0ld0ld.pt")
    _ship(shipped, "shapes-default_twin-0ld0ld.pt")                      # another model's name
    path = tmp_path / "cache" / "shapes-default-n3wn3w.pt"
    assert MC.stale_shipped(path) == ["shapes-default-0ld0ld.pt"]
    assert MC.cached(path, {}, _load, lambda p: b"trained") == b"trained"
    out = capsys.readouterr().out
    assert "shapes-default-0ld0ld.pt were trained by another version" in out and "--retrain" in out


def test_retraining_ignores_the_shipped_weights(shipped, tmp_path, monkeypatch):
    _ship(shipped, "shapes-default-abc.pt")
    monkeypatch.setenv(MC.NO_SHIPPED_ENV, "1")
    path = tmp_path / "cache" / "shapes-default-abc.pt"
    assert MC.cached(path, {}, _load, lambda p: b"trained") == b"trained"


def test_ship_copies_replaces_stale_files_and_writes_the_manifest(tmp_path):
    from mmcourse._shipping import ship

    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "shapes-default-0ld0ld.pt").write_bytes(b"old")
    trained = tmp_path / "cache" / "shapes-default-n3wn3w.pt"
    trained.parent.mkdir()
    trained.write_bytes(b"new weights")
    manifest = ship([dict(path=str(trained), track="torch", variant="default", overrides={},
                          seconds=12.34, framework_version="x")], folder)
    assert sorted(p.name for p in folder.iterdir()) == [MC.MANIFEST, "shapes-default-n3wn3w.pt"]
    rec = manifest["shapes-default-n3wn3w.pt"]
    assert rec["sha256"] == MC.file_sha256(trained) and rec["train_seconds"] == 12.3
    assert rec["trained_on"]["cores"] == os.cpu_count()
    assert MC.read_manifest(folder) == manifest


# ----------------------------------------------------------------------------- what is shipped
def _current_names(track: str) -> dict:
    """{file name the current code asks for: (variant, overrides)} for the track's course models."""
    code = (f"import json\nfrom mmcourse.{track}.pretrained import default_model_path\n"
            f"from mmcourse._model_cache import COURSE_MODELS\n"
            f"print(json.dumps([[default_model_path(variant=v, **o).name, v, o] "
            f"for v, o in COURSE_MODELS[{track!r}]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name: (v, o) for name, v, o in json.loads(out.stdout.strip().splitlines()[-1])}


def test_every_shipped_file_is_listed_intact():
    files = sorted(p.name for p in SHIPPED.glob("*") if p.name != MC.MANIFEST) if SHIPPED.is_dir() else []
    assert files == sorted(MANIFEST)
    for name, rec in MANIFEST.items():
        assert MC.file_sha256(SHIPPED / name) == rec["sha256"], f"{name} was edited after shipping"


@pytest.mark.parametrize("track", ["torch", "keras"])
def test_the_shipped_weights_are_the_current_codes(track):
    """Every course model is shipped under the name the current code computes: nothing that trains
    it changed since (else run `mmcourse run --retrain --models-only` and commit data/models/)."""
    pytest.importorskip({"torch": "torch", "keras": "tensorflow"}[track])
    want = _current_names(track)
    have = {name for name, rec in MANIFEST.items() if rec["track"] == track}
    stale = sorted(have - set(want))
    missing = sorted(set(want) - have)
    assert not stale and not missing, (f"stale shipped weights {stale}, not shipped {missing}: run "
                                       f"`mmcourse run --retrain --models-only` and commit data/models/")


@pytest.mark.slow
@pytest.mark.parametrize("track", ["torch", "keras"])
def test_retraining_reproduces_the_shipped_default_model(track, tmp_path):
    pytest.importorskip({"torch": "torch", "keras": "tensorflow"}[track])
    from mmcourse._shipping import machine, train_track

    name = next(n for n, rec in MANIFEST.items() if rec["track"] == track and rec["variant"] == "default")
    rec = MANIFEST[name]
    env = dict(MMCOURSE_CACHE=str(tmp_path))
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        [got] = train_track(track, [("default", {})])
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    fresh = Path(got["path"])
    assert fresh.name == name
    here, there = machine(), rec["trained_on"]
    if (here["cpu"], here["avx512"], here["avx2"]) == (there["cpu"], there["avx512"], there["avx2"]):
        # the arrays, not the file bytes (an .npz zip stamps the time it was written)
        assert _digest(fresh) == _digest(SHIPPED / name), "retrained weights differ from the shipped ones"
    else:  # another CPU rounds differently: the same training, to within run-to-run noise
        gap = _map(track, fresh) - _map(track, SHIPPED / name)
        assert abs(gap) <= 0.03, (f"retrained on {here['cpu']} vs shipped from {there['cpu']}: "
                                  f"validation mAP differs by {gap:+.3f}")


def _digest(path: Path) -> str:
    """SHA-256 over a saved model's named arrays (torch state dict or Keras .npz), in name order."""
    code = ("import hashlib, sys\nimport numpy as np\np = sys.argv[1]\n"
            "if p.endswith('.pt'):\n"
            "    import torch\n"
            "    sd = torch.load(p, map_location='cpu', weights_only=True)['state_dict']\n"
            "    arrays = {k: v.numpy() for k, v in sd.items()}\n"
            "else:\n"
            "    with np.load(p, allow_pickle=False) as z:\n"
            "        arrays = {k: z[k] for k in z.files}\n"
            "h = hashlib.sha256()\n"
            "for k in sorted(arrays):\n"
            "    h.update(k.encode()); h.update(np.ascontiguousarray(arrays[k]).tobytes())\n"
            "print(h.hexdigest())")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def _map(track: str, path: Path) -> float:
    code = (f"import sys, mmcourse\nfrom mmcourse.{track}.persist import load_model\n"
            f"from mmcourse.{track} import embed\nfrom mmcourse.metrics import mean_average_precision\n"
            f"val = mmcourse.load_dataset('shapes', progress=False).subset('val')\n"
            f"m = load_model(sys.argv[1])\n"
            f"s = embed(m, 'text', val.captions) @ embed(m, 'image', val.images).T\n"
            f"print(mean_average_precision(s, val.relevance('text', 'image') > 0))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])
