"""The twin contract of ``mmcourse.torch`` and ``mmcourse.keras``, checked with the same code.

Each track runs in its own subprocess (TensorFlow, then torch's triton, segfaults in one process;
see tests/test_framework_safety.py): the script below imports one track as ``T`` and checks
argument validation, determinism for a seed, bad-input errors of ``embed``, counterfactual
options on a dataset without counterfactuals (digits), the shared ``num_threads`` default, the
tower registry and the embedder registry.
"""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

CHECKS = r'''
import inspect
import numpy as np
import mmcourse
from mmcourse import _training
from mmcourse.data import CaptionDataset, make_shapes

T = __import__("mmcourse." + TRACK, fromlist=["train_dual_encoder"])
tiny = make_shapes(160, seed=3, split_sizes=(120, 20, 20), cache=False)
FAST = dict(steps=3, batch_size=16, progress=False, eval_images=20)


def raises(name, fn, *a, **k):
    try:
        fn(*a, **k)
    except ValueError as exc:
        assert name in str(exc), (name, str(exc))
        return str(exc)
    raise AssertionError(f"no ValueError for {name}: {a} {k}")


# 1. every argument is validated, with the argument's name, before training starts
cases = [(dict(loss="triplet"), "loss"), (dict(rnn="cnn"), "rnn"), (dict(steps=0), "steps"),
         (dict(steps=3, epochs=1), "steps"), (dict(lr=0), "lr"), (dict(batch_size=1), "batch_size"),
         (dict(time_budget=-1), "time_budget"), (dict(hinge_warmup=1.5), "hinge_warmup"),
         (dict(scene_twins=-1), "scene_twins"), (dict(scene_twins=4, twin_weight=0), "twin_weight"),
         (dict(mask_false_negatives="sometimes"), "mask_false_negatives"),
         (dict(num_threads=0), "num_threads"), (dict(weight_decay=-1.0), "weight_decay"),
         (dict(margin=float("nan")), "margin"), (dict(hard_negatives="yes"), "hard_negatives"),
         (dict(eval_images=1), "eval_images"), (dict(seed=-1), "seed"), (dict(min_freq=0), "min_freq"),
         (dict(model="not a model"), "model")]
for kw, name in cases:
    raises(name, T.train_dual_encoder, tiny, progress=False, **kw)
raises("dataset", T.train_dual_encoder, tiny.images, progress=False)
raises("dataset", T.train_dual_encoder, tiny.subset("test"), progress=False)

# 2. counterfactual options need a dataset that has counterfactual captions: a clear error up
#    front (Keras used to fail later, inside its prefetch thread, with an unrelated error)
digits = mmcourse.load_dataset("digits")
assert not digits.has_counterfactuals and tiny.has_counterfactuals
msg = raises("hard_negatives", T.train_dual_encoder, digits, hard_negatives=True, **FAST)
assert "digits" in msg and "counterfactual" in msg
raises("scene_twins", T.train_dual_encoder, digits, scene_twins=8, **FAST)
plain = CaptionDataset(images=tiny.images[:20], captions=tiny.captions[:100],
                       caption_image=tiny.caption_image[:100], split=tiny.split[:20])
raises("hard_negatives", T.train_dual_encoder, plain, hard_negatives=True, progress=False)

# 3. one num_threads default for both tracks
default = inspect.signature(T.train_dual_encoder).parameters["num_threads"].default
assert default == _training.DEFAULT_NUM_THREADS == 2, default
assert T.DEFAULT_STEPS == _training.DEFAULT_STEPS

# 4. determinism for a seed, and a different seed differs
a, ha = T.train_dual_encoder(tiny, seed=1, hard_negatives=True, scene_twins=4, **FAST)
b, hb = T.train_dual_encoder(tiny, seed=1, hard_negatives=True, scene_twins=4, **FAST)
c, hc = T.train_dual_encoder(tiny, seed=2, **FAST)
assert ha["loss"] == hb["loss"] and all(np.isfinite(ha["loss"]))
assert list(ha) == list(_training.HISTORY_KEYS)
imgs, caps = tiny.images[:6], list(tiny.captions[:6])
np.testing.assert_array_equal(T.embed(a, "image", imgs), T.embed(b, "image", imgs))
np.testing.assert_array_equal(T.embed(a, "text", caps), T.embed(b, "text", caps))
assert not np.allclose(T.embed(a, "image", imgs), T.embed(c, "image", imgs))

# 5. embed(model, modality, items) is embed_images / embed_texts; bad input names the argument
np.testing.assert_array_equal(T.embed(a, "image", imgs), T.embed_images(a, imgs))
np.testing.assert_array_equal(T.embed(a, "text", caps), T.embed_texts(a, caps))
np.testing.assert_allclose(T.embed(a, "text", caps, batch_size=2), T.embed_texts(a, caps), atol=1e-6)
msg = raises("modality", T.embed, a, "smell", imgs)
assert "'image', 'text'" in msg and "'smell'" in msg
raises("modality", T.embed, a, 3, imgs)
raises("model", T.embed, "not a model", "image", imgs)
raises("texts", T.embed, a, "text", [""])
raises("images", T.embed, a, "image", np.zeros((2, 5), np.uint8))

# 6. the towers behind one registry; a joint model holds any subset of them
assert T.TOWERS["image"] is T.ImageEncoder and T.TOWERS["text"] is T.TextEncoder
assert a.modalities == ("image", "text") and a.towers["image"] is a.image_encoder
assert a.towers["text"] is a.text_encoder
solo = T.JointEncoder({"image": T.ImageEncoder(embed_dim=16)}, embed_dim=16)
assert solo.modalities == ("image",)
raises("modality", solo.add_tower, "image", T.ImageEncoder(embed_dim=16))
raises("tower", solo.add_tower, "text", T.TextEncoder(10, embed_dim=8))
solo.add_tower("text", T.TextEncoder(10, embed_dim=16))
assert solo.modalities == ("image", "text") and solo.text_encoder is solo.towers["text"]
raises("towers", T.JointEncoder, [T.ImageEncoder()], embed_dim=128)
msg = raises("modality", solo.tower, "audio")
assert "'image', 'text'" in msg

# 7. a modality's own module registers its embedder
def embed_sizes(model, items, scale=1.0):
    out = np.zeros((len(items), model.embed_dim), np.float32)
    out[:, 0] = scale
    return out

T.register_embedder("sizes", embed_sizes)
raises("modality", T.embed, a, "sizes", [1, 2])  # the model has no such tower
a.add_tower("sizes", T.ImageEncoder())
assert a.modalities == ("image", "text", "sizes")
assert T.embed(a, "sizes", [1, 2, 3], scale=2.0)[:, 0].tolist() == [2.0, 2.0, 2.0]
raises("fn", T.register_embedder, "sizes", "not callable")
raises("modality", T.register_embedder, "Bad Name", embed_sizes)
# training runs over the modality pairs the loop can batch: a tower of another modality the
# dataset does not carry is left alone; none of these pairs is refused silently
assert _training.modality_pairs(("image", "text", "audio")) == (
    ("image", "text"), ("image", "audio"), ("text", "audio"))
print("ok", TRACK)
'''


def _run(track, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MMCOURSE_CACHE=str(tmp_path / "cache"),
               CUDA_VISIBLE_DEVICES="")
    code = f"TRACK = {track!r}\n" + textwrap.dedent(CHECKS)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                          env=env, cwd=str(tmp_path))


@pytest.mark.parametrize("track", ["torch", "keras"])
def test_track_contract(track, tmp_path):
    needs = {"torch": "torch", "keras": "tensorflow"}[track]
    if importlib.util.find_spec(needs) is None:
        pytest.skip(f"{needs} is not installed")
    proc = _run(track, tmp_path)
    assert proc.returncode == 0, (f"exit code {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\n"
                                  f"stderr:\n{proc.stderr[-4000:]}")
    assert f"ok {track}" in proc.stdout
