"""``mmcourse.tracks``: the FRAMEWORK switch of the notebooks after 03.

(``tests/test_tracks.py`` checks the twin contract of ``mmcourse.torch`` and ``mmcourse.keras``.)
Each framework is loaded in its own subprocess: one process never imports both.
"""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

from mmcourse.tracks import DEFAULT, ENV_VAR, TRACKS, Track, load_track


def _python(code: str, **env) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; ``$MMCOURSE_FRAMEWORK`` only as ``env`` sets it."""
    full_env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    full_env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=600, env=full_env)


def _needs(track):
    if importlib.util.find_spec(TRACKS[track]) is None:
        pytest.skip(f"{TRACKS[track]} is not installed")


@pytest.mark.parametrize("bad", ["tf", "pytorch", "", 3, None])
def test_a_bad_name_is_a_value_error_naming_the_switch(bad, monkeypatch):
    if bad is None:  # None reads the environment
        monkeypatch.setenv(ENV_VAR, "jax")
        with pytest.raises(ValueError, match=rf"\${ENV_VAR}.*FRAMEWORK.*'torch', 'keras'.*'jax'"):
            load_track(None)
        return
    with pytest.raises(ValueError, match=r"name: expected the FRAMEWORK to be one of 'torch', 'keras'") as err:
        load_track(bad)
    assert repr(bad) in str(err.value)


def test_importing_the_module_imports_no_framework():
    proc = _python("""
        import sys
        import mmcourse.tracks
        print(sorted(m for m in ("torch", "tensorflow", "mmcourse.torch", "mmcourse.keras") if m in sys.modules))
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]"


CHECK = """
    import sys
    import numpy as np
    from mmcourse.data import make_shapes
    from mmcourse.tracks import Track, load_track

    track = load_track({arg})
    assert isinstance(track, Track) and track.name == {want!r}, track
    assert load_track({want!r}) is track and repr(track) == "Track({want!r})"
    other = {{"torch": "tensorflow", "keras": "torch"}}[track.name]
    tiny = make_shapes(120, seed=3, split_sizes=(100, 10, 10), cache=False)
    model, history = track.train_dual_encoder(tiny, steps=3, batch_size=16, progress=False, eval_images=10)
    imgs, caps = tiny.images[:4], list(tiny.captions[:3])
    img, txt = track.embed_images(model, imgs), track.embed_texts(model, caps)
    assert img.shape == (4, model.embed_dim) and txt.shape == (3, model.embed_dim), (img.shape, txt.shape)
    assert isinstance(img, np.ndarray) and img.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(track.embed(model, "image", imgs), img)
    np.testing.assert_array_equal(track.make_text_encoder_fn(model)(caps), txt)
    # the other framework was never imported, and asking for it now is refused
    assert other not in sys.modules, other + " was imported"
    try:
        load_track({{"torch": "keras", "keras": "torch"}}[track.name])
    except RuntimeError as exc:
        assert "restart the kernel" in str(exc), exc
    else:
        raise AssertionError("loading the second framework was not refused")
    assert other not in sys.modules, other + " was imported"
    print("ok", track.name)
"""


@pytest.mark.parametrize("track", sorted(TRACKS))
def test_a_track_embeds_with_its_framework_only(track):
    _needs(track)
    proc = _python(CHECK.format(arg=repr(track), want=track))
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    assert f"ok {track}" in proc.stdout


@pytest.mark.parametrize("env", ["keras", " Keras ", None])
def test_none_reads_the_environment_variable(env):
    """The notebooks' switch: ``$MMCOURSE_FRAMEWORK`` (any case, spaces stripped), else torch."""
    want = DEFAULT if env is None else env.strip().lower()
    _needs(want)
    proc = _python("""
        import sys
        from mmcourse.tracks import TRACKS, load_track
        track = load_track(None)
        print(track.name, sorted(p for p in TRACKS.values() if p in sys.modules))
    """, **({} if env is None else {ENV_VAR: env}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[-2] == f"{want} {[TRACKS[want]]}"


def test_a_track_that_is_not_installed_says_which_package():
    """Run in a fresh interpreter: this process may already hold the other framework."""
    code = textwrap.dedent("""
        import importlib.util
        import mmcourse.tracks as tracks
        real = importlib.util.find_spec
        tracks.importlib.util.find_spec = lambda name, *a: None if name == "tensorflow" else real(name, *a)
        try:
            tracks.load_track("keras")
        except ImportError as exc:
            print("ImportError:", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FRAMEWORK='keras' needs the 'tensorflow' package" in proc.stdout, proc.stdout


def test_the_track_names_match_both_packages():
    """Every method of Track forwards to a public name that both framework packages export."""
    import ast
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[1] / "mmcourse"
    methods = [n for n in vars(Track) if not n.startswith("_")]
    for name in TRACKS:
        tree = ast.parse((pkg / name / "__init__.py").read_text(encoding="utf-8"))
        exported = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                        and any(getattr(t, "id", "") == "__all__" for t in node.targets))
        missing = sorted(set(methods) - set(exported))
        assert not missing, f"mmcourse.{name} does not export {missing}"
