"""The cache folder, keys and atomic writes; cached shapes equal freshly generated ones."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mmcourse.data import cache as cache_mod
from mmcourse.data import cache_dir, make_shapes


def test_env_var_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("MMCOURSE_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_repo_cache_by_default(monkeypatch):
    monkeypatch.delenv("MMCOURSE_CACHE", raising=False)
    repo = Path(cache_mod.__file__).resolve().parents[2]
    if not os.access(repo / "data", os.W_OK):
        pytest.skip("read-only checkout: the cache falls back to ~/.cache/mmcourse")
    assert cache_dir() == repo / "data" / "cache"


def test_home_cache_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("MMCOURSE_CACHE", raising=False)
    monkeypatch.setattr(cache_mod, "_REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "mmcourse"


def test_key_changes_with_params_version_and_source(tmp_path):
    src = tmp_path / "gen.py"
    src.write_text("x = 1\n")
    k = cache_mod.cache_key({"n": 1}, "1", [src])
    assert k == cache_mod.cache_key({"n": 1}, "1", [src]) and len(k) == 16
    assert k != cache_mod.cache_key({"n": 2}, "1", [src])
    assert k != cache_mod.cache_key({"n": 1}, "2", [src])
    src.write_text("x = 2\n")
    assert k != cache_mod.cache_key({"n": 1}, "1", [src])


def test_key_ignores_docstrings_comments_and_layout_but_not_code(tmp_path):
    src = tmp_path / "gen.py"
    src.write_text('"""Module."""\ndef f(a):\n    """Doc."""\n    return a + 1\n')
    k = cache_mod.cache_key({}, "1", [src])
    src.write_text('"""Another module docstring."""\n\n# a comment\ndef f(a):  # why\n'
                   '    """Other words, same code."""\n    return (a +\n            1)\n')
    assert cache_mod.cache_key({}, "1", [src]) == k
    src.write_text('def f(a):\n    return a + 2\n')
    assert cache_mod.cache_key({}, "1", [src]) != k
    src.write_text('def f(a):\n    "a string that is the only statement is a docstring"\n')
    assert cache_mod.cache_key({}, "1", [src]) != k
    src.write_text("def broken(:\n")  # not Python: its bytes count
    assert cache_mod.cache_key({}, "1", [src]) != k


def test_atomic_save_and_corrupt_file_is_a_miss(tmp_path):
    path = tmp_path / "x.npz"
    cache_mod.atomic_save_npz(path, {"a": np.arange(3)})
    assert (cache_mod.load_npz(path)["a"] == np.arange(3)).all()
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    path.write_bytes(b"garbage")
    assert cache_mod.load_npz(path) is None
    assert cache_mod.load_npz(tmp_path / "missing.npz") is None


def test_strings_round_trip():
    strings = ["a red circle", "ünïcode ok", ""]
    assert cache_mod.decode_strings(cache_mod.encode_strings(strings)) == strings
    assert cache_mod.decode_strings(cache_mod.encode_strings([])) == []


def test_cached_shapes_equal_fresh_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("MMCOURSE_CACHE", str(tmp_path))
    fresh = make_shapes(60, seed=4, image_size=40, cache=False)
    first = make_shapes(60, seed=4, image_size=40)
    files = list(tmp_path.glob("shapes-*.npz"))
    assert len(files) == 1
    second = make_shapes(60, seed=4, image_size=40)  # from the file
    for ds in (first, second):
        assert ds.images.tobytes() == fresh.images.tobytes()
        assert ds.captions == fresh.captions and ds.meanings == fresh.meanings
        assert ds.scenes == fresh.scenes and (ds.labels == fresh.labels).all()
        assert (ds.split == fresh.split).all()
    files[0].write_bytes(b"truncated")  # a broken entry is regenerated, not trusted
    third = make_shapes(60, seed=4, image_size=40)
    assert third.images.tobytes() == fresh.images.tobytes()


@pytest.mark.slow
def test_default_dataset_test_split_is_the_standalone_test_split():
    import mmcourse

    ds = mmcourse.load_dataset("shapes", progress=False)
    assert [int((ds.split == s).sum()) for s in ("train", "val", "test")] == [20000, 1000, 1000]
    assert ds.images.shape[1:] == (32, 32, 3) and ds.n_captions == 5 * 22000
    test = ds.subset("test")
    alone = make_shapes(1000, seed=0, split_sizes=(0, 0, 1000), cache=False)
    assert test.images.tobytes() == alone.images.tobytes() and test.captions == alone.captions
