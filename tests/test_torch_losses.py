"""Contrastive losses against direct, loop-by-loop re-implementations of their formulas."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from mmcourse.torch import info_nce_loss, twin_loss, vse_hinge_loss  # noqa: E402


def _unit(rng, n, d):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _log_softmax_at(row, j):
    m = max(row)
    return row[j] - (m + math.log(sum(math.exp(v - m) for v in row)))


def ref_info_nce(img, txt, t, extra=None, fn=None):
    n = len(img)
    keep = lambda i, j: i == j or fn is None or not fn[i][j]  # noqa: E731
    total_i2t = total_t2i = 0.0
    for i in range(n):
        cols = [j for j in range(n) if keep(i, j)]
        row = [img[i] @ txt[j] / t for j in cols]
        if extra is not None:
            row += [img[i] @ e / t for e in extra]
        total_i2t -= _log_softmax_at(row, cols.index(i))
        rows = [j for j in range(n) if keep(j, i)]
        col = [img[j] @ txt[i] / t for j in rows]
        total_t2i -= _log_softmax_at(col, rows.index(i))
    return 0.5 * (total_i2t + total_t2i) / n


def ref_vse(img, txt, margin, hardest, extra=None, fn=None):
    n = len(img)
    neg = lambda i, j: i != j and (fn is None or not fn[i][j])  # noqa: E731
    total = 0.0
    for i in range(n):
        pos = img[i] @ txt[i]
        c_txt = [max(0.0, margin + img[i] @ txt[j] - pos) for j in range(n) if neg(i, j)]
        if extra is not None:
            c_txt += [max(0.0, margin + img[i] @ e - pos) for e in extra]
        c_img = [max(0.0, margin + img[j] @ txt[i] - pos) for j in range(n) if neg(j, i)]
        total += (max(c_txt + [0.0]) + max(c_img + [0.0])) if hardest else (sum(c_txt) + sum(c_img))
    return total / n


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_extra", [False, True])
def test_info_nce_matches_formula(seed, with_extra):
    rng = np.random.default_rng(seed)
    n, d = 3 + seed, 5
    img, txt, extra = _unit(rng, n, d), _unit(rng, n, d), _unit(rng, 4, d) if with_extra else None
    t = [0.07, 0.5, 1.0, 0.2][seed]
    got = info_nce_loss(torch.tensor(img), torch.tensor(txt), t,
                        extra_negatives=None if extra is None else torch.tensor(extra))
    assert float(got) == pytest.approx(ref_info_nce(img, txt, t, extra), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_false_negative_mask_matches_formula(seed):
    rng = np.random.default_rng(20 + seed)
    n, d = 5, 4
    img, txt, extra = _unit(rng, n, d), _unit(rng, n, d), _unit(rng, 2, d)
    fn = rng.random((n, n)) < 0.4
    fn[0, 1:] = True  # a row where every off-diagonal caption is a false negative
    np.fill_diagonal(fn, rng.random(n) < 0.5)  # the diagonal is always a positive
    mask = torch.tensor(fn)
    got = info_nce_loss(torch.tensor(img), torch.tensor(txt), 0.3, torch.tensor(extra), false_negatives=mask)
    assert float(got) == pytest.approx(ref_info_nce(img, txt, 0.3, extra, fn), rel=1e-9)
    for hardest in (False, True):
        got = vse_hinge_loss(torch.tensor(img), torch.tensor(txt), 0.3, hardest, false_negatives=mask)
        assert float(got) == pytest.approx(ref_vse(img, txt, 0.3, hardest, None, fn), rel=1e-9, abs=1e-12)
    with pytest.raises(ValueError, match="false_negatives"):
        info_nce_loss(torch.tensor(img), torch.tensor(txt), false_negatives=torch.ones(n, n))


def test_info_nce_tensor_temperature_gets_gradient():
    rng = np.random.default_rng(0)
    img, txt = torch.tensor(_unit(rng, 6, 4)), torch.tensor(_unit(rng, 6, 4))
    scale = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    loss = info_nce_loss(img, txt, 1.0 / scale.exp())
    loss.backward()
    assert float(loss.detach()) == pytest.approx(ref_info_nce(img.numpy(), txt.numpy(), 0.07), rel=1e-9)
    assert scale.grad is not None and torch.isfinite(scale.grad)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("hardest", [False, True])
@pytest.mark.parametrize("with_extra", [False, True])
def test_vse_hinge_matches_formula(seed, hardest, with_extra):
    rng = np.random.default_rng(10 + seed)
    n, d = 2 + seed, 3
    img, txt, extra = _unit(rng, n, d), _unit(rng, n, d), _unit(rng, 3, d) if with_extra else None
    margin = [0.2, 0.0, 0.5, 1.0][seed]
    got = vse_hinge_loss(torch.tensor(img), torch.tensor(txt), margin, hardest=hardest,
                         extra_negatives=None if extra is None else torch.tensor(extra))
    assert float(got) == pytest.approx(ref_vse(img, txt, margin, hardest, extra), rel=1e-9, abs=1e-12)


def test_hand_computed_cases():
    img = torch.eye(2, dtype=torch.float64)
    # perfect alignment, orthogonal negatives: hinge = max(0, 0.2 + 0 - 1) = 0
    assert float(vse_hinge_loss(img, img, 0.2)) == 0.0
    # collapsed embeddings: every hinge equals the margin; hardest = 2 x margin
    same = torch.ones(3, 2, dtype=torch.float64) / math.sqrt(2)
    assert float(vse_hinge_loss(same, same, 0.2, hardest=True)) == pytest.approx(0.4)
    assert float(vse_hinge_loss(same, same, 0.2, hardest=False)) == pytest.approx(4 * 0.2)
    # InfoNCE on collapsed embeddings is log(n) whatever the temperature
    assert float(info_nce_loss(same, same, 0.1)) == pytest.approx(math.log(3))
    # a hard negative identical to the positive caption adds exactly one more equal logit
    extra = img[:1].clone()
    loss = info_nce_loss(img, img, 1.0, extra_negatives=extra)
    e = math.e
    # image->text rows: [1, 0 | 1] and [0, 1 | 0]; text->image columns: [1, 0] and [0, 1]
    i2t = (-math.log(e / (2 * e + 1)) - math.log(e / (e + 2))) / 2
    t2i = -math.log(e / (e + 1))
    expected = 0.5 * (i2t + t2i)
    assert float(loss) == pytest.approx(expected)


@pytest.mark.parametrize("fn", [info_nce_loss, vse_hinge_loss])
def test_bad_inputs_raise(fn):
    a = torch.randn(4, 3)
    with pytest.raises(ValueError, match="txt"):
        fn(a, torch.randn(4, 2))
    with pytest.raises(ValueError, match="img"):
        fn(torch.randn(4), a)
    with pytest.raises(ValueError, match="img"):
        fn(a[:1], a[:1])
    with pytest.raises(ValueError, match="extra_negatives"):
        fn(a, a, extra_negatives=torch.randn(2, 5))
    with pytest.raises(ValueError, match="img"):
        fn(np.zeros((4, 3)), a)


def test_bad_hyperparameters_raise():
    a = torch.randn(4, 3)
    with pytest.raises(ValueError, match="temperature"):
        info_nce_loss(a, a, 0.0)
    with pytest.raises(ValueError, match="temperature"):
        info_nce_loss(a, a, torch.tensor(-1.0))
    with pytest.raises(ValueError, match="margin"):
        vse_hinge_loss(a, a, margin=-0.1)


def test_false_negative_directions_mask_only_the_chosen_side():
    """"t2i" masks a caption's extra matching images only; "i2t" an image's extra captions only."""
    import torch.nn.functional as F

    from mmcourse.torch.losses import info_nce_loss as loss_fn

    g = torch.Generator().manual_seed(7)
    img = F.normalize(torch.randn(5, 8, generator=g), dim=1)
    txt = F.normalize(torch.randn(5, 8, generator=g), dim=1)
    fn = torch.zeros(5, 5, dtype=torch.bool)
    fn[0, 1] = True  # caption 1 also describes image 0
    logits = img @ txt.T / 0.1
    masked = logits.clone()
    masked[0, 1] = float("-inf")
    target = torch.arange(5)
    ref_t2i = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(masked.T, target))
    ref_i2t = 0.5 * (F.cross_entropy(masked, target) + F.cross_entropy(logits.T, target))
    got_t2i = loss_fn(img, txt, 0.1, false_negatives=fn, false_negative_directions="t2i")
    got_i2t = loss_fn(img, txt, 0.1, false_negatives=fn, false_negative_directions="i2t")
    assert torch.allclose(got_t2i, ref_t2i, atol=1e-6)
    assert torch.allclose(got_i2t, ref_i2t, atol=1e-6)
    with pytest.raises(ValueError, match="false_negative_directions"):
        loss_fn(img, txt, 0.1, false_negatives=fn, false_negative_directions="sideways")


@pytest.mark.parametrize("seed", range(4))
def test_twin_loss_matches_formula(seed):
    rng = np.random.default_rng(30 + seed)
    p, d, t = 1 + seed, 4, [0.07, 0.5, 1.0, 0.2][seed]
    img, pos, neg = _unit(rng, p, d), _unit(rng, p, d), _unit(rng, p, d)
    ref = sum(-math.log(1 / (1 + math.exp(-(img[k] @ pos[k] - img[k] @ neg[k]) / t)))
              for k in range(p)) / p
    got = twin_loss(torch.tensor(img), torch.tensor(pos), torch.tensor(neg), t)
    assert float(got) == pytest.approx(ref, rel=1e-9)
    # a twin embedded exactly like its positive: the two captions are a coin flip, log 2
    same = twin_loss(torch.tensor(img), torch.tensor(pos), torch.tensor(pos), t)
    assert float(same) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="negative"):
        twin_loss(torch.tensor(img), torch.tensor(pos), torch.tensor(neg[:, :2]))
