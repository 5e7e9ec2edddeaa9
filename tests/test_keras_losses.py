"""mmcourse.keras.losses against direct numpy re-implementations of the formulas."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
from mmcourse.keras import info_nce_loss, twin_loss, vse_hinge_loss  # noqa: E402

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402


def _unit(rng, n, d):
    x = rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _logsumexp(a, axis):
    m = a.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def ref_info_nce(img, txt, t, extra=None, fn=None):
    img, txt = img.astype(np.float64), txt.astype(np.float64)
    logits = img @ txt.T / t
    n = len(img)
    if fn is not None:
        logits = np.where(fn & ~np.eye(n, dtype=bool), -np.inf, logits)
    i2t = logits if extra is None else np.concatenate([logits, img @ extra.T / t], axis=1)
    ce_i2t = np.mean(_logsumexp(i2t, 1) - i2t[np.arange(n), np.arange(n)])
    ce_t2i = np.mean(_logsumexp(logits.T, 1) - logits.T[np.arange(n), np.arange(n)])
    return 0.5 * (ce_i2t + ce_t2i)


def ref_vse(img, txt, margin, hardest, extra=None, fn=None):
    """Loop form of the VSE / VSE++ hinge, one pair at a time (false negatives give no hinge)."""
    img, txt = img.astype(np.float64), txt.astype(np.float64)
    n, total = len(img), 0.0
    fn = np.zeros((n, n), bool) if fn is None else fn
    for i in range(n):
        pos = img[i] @ txt[i]
        cap = [0.0 if fn[i, j] else max(0.0, margin + img[i] @ txt[j] - pos) for j in range(n) if j != i]
        if extra is not None:
            cap += [max(0.0, margin + img[i] @ e - pos) for e in extra]
        ims = [0.0 if fn[j, i] else max(0.0, margin + img[j] @ txt[i] - pos) for j in range(n) if j != i]
        total += (max(cap) + max(ims)) if hardest else (sum(cap) + sum(ims))
    return total / n


def _false_negatives(rng, n, use):
    return (rng.random((n, n)) < 0.3) if use else None


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 9), d=st.integers(1, 8), t=st.floats(0.01, 2.0), seed=st.integers(0, 10**6),
       n_extra=st.integers(0, 4), use_fn=st.booleans())
def test_info_nce_matches_formula(n, d, t, seed, n_extra, use_fn):
    rng = np.random.default_rng(seed)
    img, txt = _unit(rng, n, d), _unit(rng, n, d)
    extra = _unit(rng, n_extra, d) if n_extra else None
    fn = _false_negatives(rng, n, use_fn)
    got = float(info_nce_loss(img, txt, t, extra_negatives=extra, false_negatives=fn))
    assert got == pytest.approx(ref_info_nce(img, txt, t, extra, fn), rel=1e-4, abs=1e-5)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 9), d=st.integers(1, 8), margin=st.floats(0.0, 1.0), hardest=st.booleans(),
       seed=st.integers(0, 10**6), n_extra=st.integers(0, 3), use_fn=st.booleans())
def test_vse_matches_formula(n, d, margin, hardest, seed, n_extra, use_fn):
    rng = np.random.default_rng(seed)
    img, txt = _unit(rng, n, d), _unit(rng, n, d)
    extra = _unit(rng, n_extra, d) if n_extra else None
    fn = _false_negatives(rng, n, use_fn)
    got = float(vse_hinge_loss(img, txt, margin, hardest=hardest, extra_negatives=extra,
                               false_negatives=fn))
    assert got == pytest.approx(ref_vse(img, txt, margin, hardest, extra, fn), rel=1e-4, abs=1e-5)


def test_hand_computed_cases():
    img = np.eye(2, dtype=np.float32)
    # perfect alignment: positives 1, negatives 0 → InfoNCE = log(1 + e^{-1/t})
    assert float(info_nce_loss(img, img, 1.0)) == pytest.approx(np.log1p(np.exp(-1.0)), rel=1e-6)
    # collapsed embeddings: every hinge equals the margin; hardest → 2 × margin
    same = np.tile(np.array([[1.0, 0.0]], np.float32), (4, 1))
    assert float(vse_hinge_loss(same, same, 0.2, hardest=True)) == pytest.approx(0.4)
    assert float(vse_hinge_loss(same, same, 0.2, hardest=False)) == pytest.approx(2 * 3 * 0.2)


def test_learnable_temperature_gets_gradient():
    rng = np.random.default_rng(0)
    img, txt = _unit(rng, 4, 3), _unit(rng, 4, 3)
    scale = tf.Variable(np.log(1 / 0.07), dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = info_nce_loss(img, txt, 1.0 / tf.exp(scale))
    assert float(tape.gradient(loss, scale)) != 0.0


@pytest.mark.parametrize("fn", [info_nce_loss, vse_hinge_loss])
def test_bad_inputs(fn):
    a = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="txt"):
        fn(a, a[:2])
    with pytest.raises(ValueError, match="img"):
        fn(a[:1], a[:1])
    with pytest.raises(ValueError, match="img"):
        fn(a[0], a[0])
    with pytest.raises(ValueError, match="extra_negatives"):
        fn(a, a, extra_negatives=np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match="temperature" if fn is info_nce_loss else "margin"):
        fn(a, a, -1.0)
    with pytest.raises(ValueError, match="false_negatives"):
        fn(a, a, false_negatives=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="false_negatives"):
        fn(a, a, false_negatives=np.ones((3, 3), np.float32))


@pytest.mark.parametrize("direction", ["t2i", "i2t"])
def test_false_negatives_in_one_direction_only(direction):
    rng = np.random.default_rng(5)
    img, txt = _unit(rng, 6, 4), _unit(rng, 6, 4)
    fn = rng.random((6, 6)) < 0.4
    got = float(info_nce_loss(img, txt, 0.1, false_negatives=fn, false_negative_directions=direction))
    logits = img.astype(np.float64) @ txt.T.astype(np.float64) / 0.1
    masked = np.where(fn & ~np.eye(6, dtype=bool), -np.inf, logits)
    rows = masked if direction == "i2t" else logits
    cols = masked if direction == "t2i" else logits
    ce = lambda a: np.mean(_logsumexp(a, 1) - np.diag(a))  # noqa: E731
    assert got == pytest.approx(0.5 * (ce(rows) + ce(cols.T)), rel=1e-4)
    hinge = float(vse_hinge_loss(img, txt, 0.2, hardest=False, false_negatives=fn,
                                 false_negative_directions=direction))
    s = img.astype(np.float64) @ txt.T.astype(np.float64)
    off = ~np.eye(6, dtype=bool)
    keep = off & ~fn
    cap = np.maximum(0, 0.2 + s - np.diag(s)[:, None]) * (keep if direction == "i2t" else off)
    ims = np.maximum(0, 0.2 + s - np.diag(s)[None, :]) * (keep if direction == "t2i" else off)
    assert hinge == pytest.approx(np.mean(cap.sum(1) + ims.sum(0)), rel=1e-4)
    with pytest.raises(ValueError, match="false_negative_directions"):
        info_nce_loss(img, txt, 0.1, false_negatives=fn, false_negative_directions="sideways")


@settings(max_examples=20, deadline=None)
@given(p=st.integers(1, 9), d=st.integers(1, 8), t=st.floats(0.01, 2.0), seed=st.integers(0, 10**6))
def test_twin_loss_matches_formula(p, d, t, seed):
    rng = np.random.default_rng(seed)
    img, pos, neg = _unit(rng, p, d), _unit(rng, p, d), _unit(rng, p, d)
    margin = ((img * neg).sum(1) - (img * pos).sum(1)).astype(np.float64) / t
    ref = np.mean(np.logaddexp(0.0, margin))  # −log σ((s⁺ − s⁻)/t)
    assert float(twin_loss(img, pos, neg, t)) == pytest.approx(ref, rel=1e-4, abs=1e-5)
    assert float(twin_loss(img, pos, pos, t)) == pytest.approx(np.log(2.0), rel=1e-5)
    with pytest.raises(ValueError, match="positive"):
        twin_loss(img, pos[:, :1] if d > 1 else pos[None], neg, t)
