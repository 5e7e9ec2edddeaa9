"""The checkers of notebooks 00-03: correct answers pass, classic mistakes and unimplemented
stubs fail (with a message, never an exception), and the checker modules import no framework."""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from itertools import permutations

import numpy as np
import pytest

from mmcourse.grading.check import check


def _stub(*args, **kwargs):
    raise NotImplementedError()


# ------------------------------------------------------------------ correct answers
def tokenize_caption(text):
    return re.findall(r"[^\W_]+", text.lower())


def normalize_images(images, mean, std):
    x = np.asarray(images, dtype=np.float32) / 255.0
    return ((x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)


def find_leaks(a, b):
    seen = {hashlib.sha1(im.tobytes()).hexdigest() for im in a}
    return np.array([i for i, im in enumerate(b) if hashlib.sha1(im.tobytes()).hexdigest() in seen],
                    dtype=np.int64)


def satisfies_caption(meaning, scene):
    from mmcourse.data.shapes import relation_holds

    for combo in permutations(range(len(scene)), len(meaning.objects)):
        if all(d.matches(scene[k]) for d, k in zip(meaning.objects, combo)):
            if meaning.relation is None:
                return True
            a, b = scene[combo[0]], scene[combo[1]]
            if relation_holds(meaning.relation, a.x, a.y, b.x, b.y):
                return True
    return False


def conv_output_size(n, kernel_size, stride=1, padding=0):
    return (n + 2 * padding - kernel_size) // stride + 1


def conv2d(x, w, b=None, stride=1, padding=0):
    x = np.pad(np.asarray(x, float), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    w = np.asarray(w, float)
    ho = (x.shape[2] - w.shape[2]) // stride + 1
    wo = (x.shape[3] - w.shape[3]) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for u in range(w.shape[2]):
        for v in range(w.shape[3]):
            patch = x[:, :, u:u + stride * ho:stride, v:v + stride * wo:stride]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, u, v])
    return out if b is None else out + np.asarray(b)[None, :, None, None]


def max_pool2d(x, size, stride=None):
    stride = stride or size
    ho, wo = (x.shape[2] - size) // stride + 1, (x.shape[3] - size) // stride + 1
    out = np.full(x.shape[:2] + (ho, wo), -np.inf)
    for u in range(size):
        for v in range(size):
            out = np.maximum(out, x[:, :, u:u + stride * ho:stride, v:v + stride * wo:stride])
    return out


def receptive_field(layers):
    r, jump = 1, 1
    for k, s in layers:
        r, jump = r + (k - 1) * jump, jump * s
    return r


def pad_batch(seqs, max_len=None):
    max_len = max_len or max(len(s) for s in seqs)
    ids = np.zeros((len(seqs), max_len), np.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s[:max_len])] = s[:max_len]
    return ids, np.array([min(len(s), max_len) for s in seqs], np.int64)


def rnn_cell(x, h, W, U, b):
    return np.tanh(x @ W.T + h @ U.T + b)


def gru_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    ir, iz, i_n = np.split(x @ W_ih.T + b_ih, 3, axis=1)
    hr, hz, hn = np.split(h @ W_hh.T + b_hh, 3, axis=1)
    r, z = sig(ir + hr), sig(iz + hz)
    n = np.tanh(i_n + r * hn)
    return (1 - z) * n + z * h


def masked_mean(states, lengths):
    mask = np.arange(states.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return (states * mask[..., None]).sum(1) / np.maximum(mask.sum(1), 1)[:, None]


def attention_fuse(features, query):
    stack = np.stack(features, axis=1)
    logits = stack @ query / np.sqrt(stack.shape[-1])
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return (w[..., None] * stack).sum(1)


def impute_mean(features, present):
    out = np.array(features, dtype=np.float64)
    present = np.asarray(present, bool)
    out[~present] = out[present].mean(0) if present.any() else 0.0
    return out


def info_nce(img, txt, temperature):
    import torch
    import torch.nn.functional as F

    logits = img @ txt.T / temperature
    target = torch.arange(len(img))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def vse_hinge(img, txt, margin=0.2, hardest=True):
    import torch

    s = img @ txt.T
    d = s.diagonal()
    eye = torch.eye(len(s), dtype=torch.bool)
    ct = (margin + s - d[:, None]).clamp_min(0).masked_fill(eye, 0)
    ci = (margin + s - d[None, :]).clamp_min(0).masked_fill(eye, 0)
    if hardest:
        return (ct.amax(1) + ci.amax(0)).mean()
    return (ct.sum(1) + ci.sum(0)).mean()


CORRECT = {
    "nb00-tokenize": tokenize_caption, "nb00-normalize": normalize_images,
    "nb00-leakage": find_leaks, "nb00-satisfies": satisfies_caption,
    "nb01-output-size": conv_output_size, "nb01-conv2d": conv2d, "nb01-maxpool": max_pool2d,
    "nb01-receptive-field": receptive_field, "nb02-pad": pad_batch, "nb02-rnn-cell": rnn_cell,
    "nb02-gru-cell": gru_cell, "nb02-masked-mean": masked_mean,
    "nb03-attention-fusion": attention_fuse, "nb03-impute-mean": impute_mean,
    "nb03-info-nce": info_nce, "nb03-vse-hinge": vse_hinge,
}


# ------------------------------------------------------------------ classic mistakes
def _conv_flipped(x, w, b=None, stride=1, padding=0):
    return conv2d(x, np.asarray(w)[:, :, ::-1, ::-1], b, stride, padding)


def _gru_bias_outside_reset(x, h, W_ih, W_hh, b_ih, b_hh):
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    ir, iz, i_n = np.split(x @ W_ih.T + b_ih, 3, axis=1)
    hr, hz, hn = np.split(h @ W_hh.T, 3, axis=1)
    br, bz, bn = np.split(b_hh, 3)
    r, z = sig(ir + hr + br), sig(iz + hz + bz)
    return (1 - z) * np.tanh(i_n + r * hn + bn) + z * h


def _satisfies_not_injective(meaning, scene):
    return all(any(d.matches(o) for o in scene) for d in meaning.objects) and (
        meaning.relation is None or satisfies_caption(meaning, scene))


def _info_nce_one_direction(img, txt, temperature):
    import torch
    import torch.nn.functional as F

    return F.cross_entropy(img @ txt.T / temperature, torch.arange(len(img)))


def _vse_with_diagonal(img, txt, margin=0.2, hardest=True):
    s = img @ txt.T
    d = s.diagonal()
    ct, ci = (margin + s - d[:, None]).clamp_min(0), (margin + s - d[None, :]).clamp_min(0)
    return (ct.amax(1) + ci.amax(0)).mean() if hardest else (ct.sum(1) + ci.sum(0)).mean()


WRONG = [
    ("nb00-tokenize", lambda t: t.lower().split()),
    ("nb00-normalize", lambda im, m, s: (np.asarray(im, np.float32) - m) / s),
    ("nb00-leakage", lambda a, b: np.arange(len(b))[[any((x == y).all() for y in a) for x in b]][:1]),
    ("nb00-satisfies", _satisfies_not_injective),
    ("nb01-output-size", lambda n, k, stride=1, padding=0: (n + padding - k) // stride + 1),
    ("nb01-conv2d", _conv_flipped),
    ("nb01-maxpool", lambda x, size, stride=None: max_pool2d(x, size, size)),
    ("nb01-receptive-field", lambda layers: 1 + sum(k - 1 for k, _ in layers)),
    ("nb02-pad", lambda seqs, max_len=None: (pad_batch(seqs, max_len)[0].astype(np.int32),
                                             pad_batch(seqs, max_len)[1])),
    ("nb02-rnn-cell", lambda x, h, W, U, b: np.tanh(x @ W + h @ U + b)),
    ("nb02-gru-cell", _gru_bias_outside_reset),
    ("nb02-masked-mean", lambda s, l: s.mean(axis=1)),
    ("nb03-attention-fusion", lambda f, q: np.mean(f, axis=0)),
    ("nb03-impute-mean", lambda f, p: np.where(np.asarray(p)[:, None], f, np.mean(f, axis=0))),
    ("nb03-info-nce", _info_nce_one_direction),
    ("nb03-vse-hinge", _vse_with_diagonal),
]


@pytest.mark.parametrize("grade_id", sorted(CORRECT))
def test_correct_answer_passes(grade_id, capsys):
    assert check(grade_id, CORRECT[grade_id]) is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("grade_id", sorted(CORRECT))
def test_stub_fails_with_a_message(grade_id, capsys):
    assert check(grade_id, _stub) is False
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("grade_id,wrong", WRONG, ids=[g for g, _ in WRONG])
def test_classic_mistake_fails_with_hint(grade_id, wrong, capsys):
    assert check(grade_id, wrong) is False
    out = capsys.readouterr().out
    assert out.startswith("✗") and ("Hint:" in out or "raised" in out), out


def test_checker_modules_import_no_framework():
    code = ("import sys; import mmcourse.grading.checks.nb00, mmcourse.grading.checks.nb01, "
            "mmcourse.grading.checks.nb02, mmcourse.grading.checks.nb03; "
            "print('torch' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_receptive_field_reference_matches_a_gradient_probe():
    torch = pytest.importorskip("torch")
    from mmcourse.grading.checks.nb01 import receptive_field_reference

    for layers in ([(3, 1), (2, 2), (3, 1)], [(5, 2), (3, 2)], [(3, 1)] * 3):
        x = torch.zeros(1, 1, 48, 48, dtype=torch.float64, requires_grad=True)
        h = x
        for k, s in layers:
            h = torch.nn.functional.conv2d(h, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s)
        h[0, 0, h.shape[2] // 2, h.shape[3] // 2].backward()
        cols = np.flatnonzero(x.grad[0, 0].abs().sum(0).numpy())
        assert receptive_field_reference(layers) == cols[-1] - cols[0] + 1


# ------------------------------------------------------------------ 03: the joint space (heads, loop)
def _joint_heads_class(normalise_dim=-1, normalise=True):
    """A learner's ``JointHeads`` (correct with the defaults; a classic mistake otherwise)."""
    from torch import nn
    from torch.nn import functional as F

    class JointHeads(nn.Module):
        def __init__(self, image_dim, text_dim, joint_dim=64):
            super().__init__()
            self.image_proj = nn.Linear(image_dim, joint_dim)
            self.text_proj = nn.Linear(text_dim, joint_dim)

        def forward(self, image_features, text_features):
            img, txt = self.image_proj(image_features), self.text_proj(text_features)
            if not normalise:
                return img, txt
            return (img / img.norm(dim=normalise_dim, keepdim=True),
                    txt / txt.norm(dim=normalise_dim, keepdim=True))

    return JointHeads


def _train_loop(pairing="same", seeded=True, step=True):
    """A learner's ``train_joint_space`` (correct with the defaults; a classic mistake otherwise)."""
    def train_joint_space(heads, image_features, text_features, steps=300, batch_size=256,
                          lr=1e-2, temperature=0.05, seed=0):
        import torch

        from mmcourse.torch import info_nce_loss

        img = torch.as_tensor(image_features, dtype=torch.float32)
        txt = torch.as_tensor(text_features, dtype=torch.float32)
        gen = torch.Generator().manual_seed(seed) if seeded else None
        opt = torch.optim.Adam(heads.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            idx = torch.randperm(len(img), generator=gen)[:batch_size]
            other = idx if pairing == "same" else torch.randperm(len(img), generator=gen)[:batch_size]
            a, b = heads(img[idx], txt[other])
            loss = info_nce_loss(a, b, temperature)
            opt.zero_grad()
            loss.backward()
            if step:
                opt.step()
            losses.append(loss.item())
        return losses

    return train_joint_space


def test_joint_heads_correct_passes_and_mistakes_fail(capsys):
    pytest.importorskip("torch")
    assert check("nb03-joint-heads", _joint_heads_class()) is True
    assert "✓" in capsys.readouterr().out
    for wrong in (_joint_heads_class(normalise=False), _joint_heads_class(normalise_dim=0)):
        assert check("nb03-joint-heads", wrong) is False
        out = capsys.readouterr().out
        assert out.startswith("✗") and "row norms" in out and "Hint:" in out, out
    assert check("nb03-joint-heads", _stub) is False
    assert "not implemented yet" in capsys.readouterr().out


def test_joint_heads_delegating_to_the_reference_scores_0(capsys):
    pytest.importorskip("torch")
    from mmcourse.grading.checks import nb03

    def JointHeads(image_dim, text_dim, joint_dim=64):
        return nb03.joint_heads_reference(image_dim, text_dim, joint_dim)

    assert check("nb03-joint-heads", JointHeads) is False
    assert "joint_heads_reference" in capsys.readouterr().out


def test_train_joint_correct_passes(capsys):
    pytest.importorskip("torch")
    assert check("nb03-train-joint", _train_loop()) is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (dict(pairing="shuffled"), "pair row i"),              # image i no longer meets its own caption
    (dict(seeded=False), "same seed"),                     # batches from the global random state
    (dict(step=False), "changed weights"),                 # backward without optimizer.step()
], ids=["two-index-arrays", "unseeded", "no-step"])
def test_train_joint_classic_mistakes_fail_with_hint(wrong, words, capsys):
    pytest.importorskip("torch")
    assert check("nb03-train-joint", _train_loop(**wrong)) is False
    out = capsys.readouterr().out
    assert out.startswith("✗") and words in out and "Hint:" in out, out


def test_train_joint_stub_fails(capsys):
    pytest.importorskip("torch")
    assert check("nb03-train-joint", _stub) is False
    assert "not implemented yet" in capsys.readouterr().out


def test_train_joint_floor_has_a_clear_margin():
    """The reference loop clears the synthetic floor by a wide margin; untrained heads do not."""
    pytest.importorskip("torch")
    from mmcourse.grading.checks.nb03 import (JOINT_HIT_FLOOR, _synthetic_pairs, joint_heads_reference,
                                              joint_retrieval)

    img, txt = _synthetic_pairs(0, 2048)
    test_img, test_txt = _synthetic_pairs(1, 400)
    heads = joint_heads_reference(32, 24, 16, seed=0)
    hit0, _ = joint_retrieval(heads, test_img, test_txt, np.eye(400))
    _train_loop()(heads, img, txt, steps=120, batch_size=64, lr=2e-2, temperature=0.1, seed=0)
    hit, _ = joint_retrieval(heads, test_img, test_txt, np.eye(400))
    assert hit0 < JOINT_HIT_FLOOR / 5 and hit > JOINT_HIT_FLOOR + 0.3, (hit0, hit)
