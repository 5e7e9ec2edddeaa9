"""Checkers for notebook 03 (fusion and the joint space): attention fusion, mean imputation of a
missing modality, symmetric InfoNCE and the VSE++ hinge. References: ``mmcourse.fusion`` and
``mmcourse.torch.losses`` (torch imported lazily, inside the loss checkers only)."""
from __future__ import annotations

import numpy as np

from ..check import expect_close, fail, register


def _unit(rng, n, d):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def attention_fusion_reference(features, query):
    """Softmax(q · f_m / sqrt(d)) over modalities m, then the weighted sum of the f_m."""
    stack = np.stack([np.asarray(f, dtype=np.float64) for f in features], axis=1)  # (n, M, d)
    logits = stack @ np.asarray(query, dtype=np.float64) / np.sqrt(stack.shape[-1])  # (n, M)
    logits -= logits.max(axis=1, keepdims=True)
    w = np.exp(logits)
    w /= w.sum(axis=1, keepdims=True)
    return (w[..., None] * stack).sum(axis=1)


@register("nb03-attention-fusion", twins=("mmcourse.fusion:attention_fusion", "mmcourse.grading.checks.nb03:attention_fusion_reference",),
          why="Attention fusion lets every item decide how much to "
          "trust each modality, instead of one fixed weight for the whole collection.")
def check_attention_fusion(attention_fuse):
    rng = np.random.default_rng(6)
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    expect_close(attention_fuse([a, b], np.array([0.0, 0.0])), np.array([[0.5, 0.5]]),
                 "a zero query (equal attention)", "a zero query gives equal weights, the mean")
    expect_close(attention_fuse([a, b], np.array([0.0, 50.0])),
                 attention_fusion_reference([a, b], np.array([0.0, 50.0])),
                 "a query that strongly prefers the second modality",
                 "subtract the row max before exp() to avoid overflow")
    feats = [rng.normal(size=(5, 4)) for _ in range(3)]
    q = rng.normal(size=4)
    expect_close(attention_fuse([f.copy() for f in feats], q.copy()),
                 attention_fusion_reference(feats, q), "5 items, 3 modalities, d=4",
                 "scores are f·q / sqrt(d), softmax over the modalities of EACH item (axis of M)")


def impute_mean_reference(features, present):
    features = np.asarray(features, dtype=np.float64).copy()
    present = np.asarray(present, dtype=bool)
    fill = features[present].mean(axis=0) if present.any() else np.zeros(features.shape[1])
    features[~present] = fill
    return features


@register("nb03-impute-mean", twins=("mmcourse.fusion:impute_missing", "mmcourse.grading.checks.nb03:impute_mean_reference",),
          why="Mean imputation keeps every item searchable when one "
          "modality is missing, at the price of making those items look alike.")
def check_impute_mean(impute_mean):
    rng = np.random.default_rng(7)
    x = np.array([[1.0, 2.0], [3.0, 6.0], [99.0, 99.0]])
    present = np.array([True, True, False])
    expect_close(impute_mean(x.copy(), present.copy()), np.array([[1, 2], [3, 6], [2, 4]]),
                 "3 items, the last one missing",
                 "the fill value is the mean of the PRESENT rows only")
    x = rng.normal(size=(8, 3))
    present = np.array([True, False, True, True, False, True, False, True])
    expect_close(impute_mean(x.copy(), present.copy()), impute_mean_reference(x, present),
                 "8 items, 3 missing", "only rows with present == False change")
    expect_close(impute_mean(x[:3].copy(), np.ones(3, bool)), x[:3], "nothing missing",
                 "with nothing missing, return the features unchanged")
    got = impute_mean(x[:2].copy(), np.zeros(2, bool))
    expect_close(got, np.zeros((2, 3)), "everything missing",
                 "with no present row there is no mean: fill with zeros (avoid NaN)")


def _loss_cases(torch):
    rng = np.random.default_rng(8)
    for n, d in [(2, 3), (4, 8), (16, 5)]:
        yield (f"a batch of {n} pairs, d={d}",
               torch.from_numpy(_unit(rng, n, d)), torch.from_numpy(_unit(rng, n, d)))
    same = torch.from_numpy(_unit(rng, 4, 6))
    yield "perfectly matched pairs (txt == img)", same, same.clone()


@register("nb03-info-nce", twins=("mmcourse.torch.losses:info_nce_loss", "mmcourse.torch.losses:twin_loss",),
          why="InfoNCE turns retrieval into classification: each image must "
          "pick its own caption out of the batch, and vice versa.")
def check_info_nce(info_nce):
    import torch

    from ...torch.losses import info_nce_loss

    for case, img, txt in _loss_cases(torch):
        for t in (0.07, 1.0):
            expected = info_nce_loss(img, txt, temperature=t)
            got = info_nce(img.clone(), txt.clone(), t)
            if not isinstance(got, torch.Tensor) or got.numel() != 1:
                fail(case, "a scalar torch tensor", type(got).__name__,
                     "return the loss as a tensor so it can be back-propagated")
            expect_close(got.detach().numpy(), expected.numpy(), f"{case}, temperature={t}",
                         "logits = img @ txt.T / temperature; the target of row i is i; "
                         "average the two cross-entropies (rows and columns)", rtol=1e-6)
    img = torch.from_numpy(_unit(np.random.default_rng(9), 3, 4)).requires_grad_(True)
    loss = info_nce(img, torch.flip(img.detach(), [0]), 0.5)
    loss.backward()
    if img.grad is None or not torch.isfinite(img.grad).all():
        fail("back-propagation", "a finite gradient on img", img.grad,
             "build the loss from torch operations only (no .numpy() or .item())")


@register("nb03-vse-hinge", twins=("mmcourse.torch.losses:vse_hinge_loss",),
          why="The hinge only cares that the true pair beats the negatives "
          "by a margin; VSE++ focuses on the single hardest negative.")
def check_vse_hinge(vse_hinge):
    import torch

    from ...torch.losses import vse_hinge_loss

    for case, img, txt in _loss_cases(torch):
        for margin, hardest in ((0.2, True), (0.2, False), (0.5, True)):
            expected = vse_hinge_loss(img, txt, margin=margin, hardest=hardest)
            got = vse_hinge(img.clone(), txt.clone(), margin=margin, hardest=hardest)
            if not isinstance(got, torch.Tensor) or got.numel() != 1:
                fail(case, "a scalar torch tensor", type(got).__name__,
                     "return the loss as a tensor so it can be back-propagated")
            expect_close(got.detach().numpy(), expected.numpy(),
                         f"{case}, margin={margin}, hardest={hardest}",
                         "hinges [margin + s(i,j) - s(i,i)]+ for captions j != i (rows) and "
                         "[margin + s(j,i) - s(i,i)]+ for images j != i (columns); exclude the "
                         "diagonal; max (hardest) or sum over negatives; mean over the batch",
                         rtol=1e-6)
