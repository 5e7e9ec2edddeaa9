"""Checkers for notebook 03 (fusion and the joint space): attention fusion, mean imputation of a
missing modality, symmetric InfoNCE, the VSE++ hinge, projection heads with L2 normalisation
(``JointHeads``) and a training loop for them (graded on a held-out retrieval floor of a seeded
synthetic task). References: ``mmcourse.fusion``, ``mmcourse.torch.losses`` and the reference
heads below (torch imported lazily, inside the torch checkers only)."""
from __future__ import annotations

import contextlib

import numpy as np

from ..check import _fail_plain, expect_close, fail, register


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


# ---------------------------------------------------------------- the joint space: heads and loop
_JOINT_HEADS_CLASS = None


def _joint_heads_class():
    """The reference ``JointHeads`` class, defined on first use (this module imports no torch)."""
    global _JOINT_HEADS_CLASS
    if _JOINT_HEADS_CLASS is None:
        from torch import nn
        from torch.nn import functional as F

        class JointHeadsReference(nn.Module):
            """Two linear projections into the joint space, then L2 normalisation of each row."""

            def __init__(self, image_dim, text_dim, joint_dim=64):
                super().__init__()
                self.image_proj = nn.Linear(image_dim, joint_dim)
                self.text_proj = nn.Linear(text_dim, joint_dim)

            def forward(self, image_features, text_features):
                return (F.normalize(self.image_proj(image_features), dim=-1),
                        F.normalize(self.text_proj(text_features), dim=-1))

        _JOINT_HEADS_CLASS = JointHeadsReference
    return _JOINT_HEADS_CLASS


def joint_heads_reference(image_dim: int, text_dim: int, joint_dim: int = 64, seed: int | None = None):
    """A reference ``JointHeads(image_dim, text_dim, joint_dim)`` (an ``nn.Module``): ``forward(
    image_features (n, image_dim), text_features (m, text_dim))`` → unit-norm (n, joint_dim) and
    (m, joint_dim) tensors. ``seed`` seeds the initial weights (torch's default init otherwise)."""
    import torch

    cls = _joint_heads_class()
    if seed is None:
        return cls(image_dim, text_dim, joint_dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(image_dim, text_dim, joint_dim)


@contextlib.contextmanager
def one_torch_thread():
    """Run torch on one thread inside the block (restored after): the joint-space heads are tiny,
    and a second thread only waits for a busy core (a step measured ~4x slower on a loaded machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def joint_retrieval(heads, image_features, text_features, relevance, k: int = 10):
    """Text→image retrieval of ``heads`` (no gradients): (hit@k, mAP) of text queries (m, d_t)
    against images (n, d_i) with relevance (m, n)."""
    import torch

    from ...metrics import hit_rate_at_k, mean_average_precision

    with torch.no_grad():
        img, txt = heads(torch.as_tensor(image_features, dtype=torch.float32),
                         torch.as_tensor(text_features, dtype=torch.float32))
    scores = (txt @ img.T).double().numpy()
    return float(hit_rate_at_k(scores, relevance, k=k)), float(mean_average_precision(scores, relevance))


@register("nb03-joint-heads", twins=("mmcourse.grading.checks.nb03:joint_heads_reference",),
          why="A linear head maps each tower's features into one shared space; "
          "L2 normalisation makes every score a cosine in [-1, 1], so the temperature alone sets "
          "how sharp the softmax is.")
def check_joint_heads(JointHeads):
    import torch
    from torch import nn
    from torch.nn import functional as F

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        heads = JointHeads(5, 3, 4)
    if not isinstance(heads, nn.Module):
        _fail_plain("JointHeads(5, 3, 4)", "an nn.Module", type(heads).__name__,
             "write `class JointHeads(nn.Module)` and call super().__init__() first")
    for name, dim in (("image_proj", 5), ("text_proj", 3)):
        layer = getattr(heads, name, None)
        if not isinstance(layer, nn.Linear) or (layer.in_features, layer.out_features) != (dim, 4):
            got = (f"nn.Linear({layer.in_features}, {layer.out_features})"
                   if isinstance(layer, nn.Linear) else type(layer).__name__)
            _fail_plain(f"JointHeads(5, 3, 4).{name}", f"nn.Linear({dim}, 4)", got,
                 f"self.{name} = nn.Linear(<its tower's feature size>, joint_dim)")
    n_params = sum(p.numel() for p in heads.parameters())
    if n_params != 6 * 4 + 4 * 4:
        _fail_plain("the parameters of JointHeads(5, 3, 4)", "40", str(n_params),
             "only the two linear layers (weights and biases) hold parameters")
    gen = torch.Generator().manual_seed(10)
    x_img, x_txt = torch.randn(6, 5, generator=gen), torch.randn(2, 3, generator=gen)
    out = heads(x_img.clone(), x_txt.clone())
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        _fail_plain("heads(image_features (6, 5), text_features (2, 3))",
             "a pair (image embeddings, text embeddings)", type(out).__name__,
             "return image_embeddings, text_embeddings")
    img, txt = out
    for case, got, x, layer, n in (("image", img, x_img, heads.image_proj, 6),
                                   ("text", txt, x_txt, heads.text_proj, 2)):
        if not isinstance(got, torch.Tensor):
            _fail_plain(f"the {case} embeddings", "a torch tensor", type(got).__name__,
                 "keep torch operations (no .numpy()), so the loss can be back-propagated")
        norms = got.detach().norm(dim=-1)
        expect_close(norms.numpy(), np.ones(n), f"the row norms of the {case} embeddings",
                     "normalise each ROW (dim=-1 or dim=1): x / x.norm(dim=-1, keepdim=True)",
                     rtol=1e-5, atol=1e-5)
        expect_close(got.detach().numpy(), F.normalize(layer(x), dim=-1).detach().numpy(),
                     f"the {case} embeddings", f"project with self.{'image_proj' if case == 'image' else 'text_proj'}, "
                     "then L2-normalise each row", rtol=1e-5, atol=1e-6)
    (img.sum() + txt.sum()).backward()
    for name in ("image_proj", "text_proj"):
        grad = getattr(heads, name).weight.grad
        if grad is None or not torch.isfinite(grad).all():
            _fail_plain(f"back-propagation into {name}", "a finite gradient", str(grad),
                 "build the embeddings from torch operations only, without .detach()")


def _synthetic_pairs(seed: int, n: int, d_latent: int = 8, d_img: int = 32, d_txt: int = 24):
    """``n`` (image features, text features) pairs sharing a latent vector, different maps per side."""
    rng = np.random.default_rng(seed)
    maps = np.random.default_rng(99)
    a = maps.normal(size=(d_latent, d_img)) / np.sqrt(d_latent)
    b = maps.normal(size=(d_latent, d_txt)) / np.sqrt(d_latent)
    z = rng.normal(size=(n, d_latent))
    img = np.tanh(z @ a) + 0.1 * rng.normal(size=(n, d_img))
    txt = z @ b + 0.1 * rng.normal(size=(n, d_txt))
    return img.astype(np.float32), txt.astype(np.float32)


#: the synthetic task of ``nb03-train-joint``: held-out paired hit@10 must reach this floor
#: (the reference loop reaches about 0.9, untrained heads about 0.02; see tests)
JOINT_HIT_FLOOR = 0.5


@register("nb03-train-joint", twins=(),
          why="A few hundred steps of InfoNCE on frozen tower features are enough to "
          "line two spaces up: the loop samples pairs, projects, scores and back-propagates.")
def check_train_joint(train_joint_space):
    with one_torch_thread():
        _check_train_joint(train_joint_space)


def _check_train_joint(train_joint_space):
    import torch

    img, txt = _synthetic_pairs(0, 2048)
    test_img, test_txt = _synthetic_pairs(1, 400)
    paired = np.eye(400)
    kwargs = dict(steps=120, batch_size=64, lr=2e-2, temperature=0.1, seed=0)
    heads = joint_heads_reference(32, 24, 16, seed=0)
    before = [p.detach().clone() for p in heads.parameters()]
    hit0, _ = joint_retrieval(heads, test_img, test_txt, paired)
    img_copy, txt_copy = img.copy(), txt.copy()
    losses = train_joint_space(heads, img, txt, **kwargs)
    if not np.array_equal(img, img_copy) or not np.array_equal(txt, txt_copy):
        _fail_plain("the feature arrays after training", "unchanged inputs", "modified inputs",
             "the towers are frozen: never write into image_features or text_features")
    try:
        losses = np.asarray([float(v) for v in losses], dtype=np.float64)
    except (TypeError, ValueError):
        _fail_plain("the returned value", "a list of one loss (float) per step", type(losses).__name__,
             "append float(loss) (or loss.item()) to a list at every step and return it")
    if losses.shape != (120,) or not np.isfinite(losses).all():
        _fail_plain("the losses of steps=120", "120 finite floats", _losses_text(losses),
             "one optimizer step per iteration of `for step in range(steps)`")
    if all(torch.equal(p0, p.detach()) for p0, p in zip(before, heads.parameters())):
        _fail_plain("the heads after training", "changed weights", "the initial weights",
             "train the heads you were given: optimizer over heads.parameters(), "
             "loss.backward(), optimizer.step()")
    if not losses[-20:].mean() < 0.5 * losses[:5].mean():
        _fail_plain("the loss curve", "the last 20 losses well below the first ones",
             f"first {losses[:5].mean():.3f}, last {losses[-20:].mean():.3f}",
             "zero the gradients every step (optimizer.zero_grad()), and pair row i of the "
             "image batch with row i of the text batch (one index array for both)")
    hit, _ = joint_retrieval(heads, test_img, test_txt, paired)
    if hit < JOINT_HIT_FLOOR:
        _fail_plain("held-out text→image hit@10 on a synthetic task (400 pairs)",
             f"≥ {JOINT_HIT_FLOOR} (untrained heads: {hit0:.3f})", f"{hit:.3f}",
             "sample ONE batch of pair indices and pair row i of the image batch with row i of "
             "the text batch; embed both with heads(...); info_nce_loss(img_emb, txt_emb, "
             "temperature); then zero_grad / backward / step")
    again = joint_heads_reference(32, 24, 16, seed=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12345)           # a different global RNG state: only `seed` may matter
        losses2 = np.asarray([float(v) for v in
                              train_joint_space(again, img, txt, **{**kwargs, "steps": 3})])
    # the first loss depends only on the seed's first batch (a schedule over `steps` may change the rest)
    if losses2.shape != (3,) or not np.allclose(losses2[0], losses[0], rtol=1e-4, atol=1e-5):
        _fail_plain("a second run with the same seed", f"the same first loss ({losses[0]:.5f})",
                    f"{losses2[0]:.5f}" if losses2.size else "no losses",
                    "draw the batches from torch.Generator().manual_seed(seed) (or np.random."
             "default_rng(seed)), not from the global random state")


def _losses_text(losses) -> str:
    arr = np.asarray(losses)
    return f"{arr.size} values" + ("" if np.isfinite(arr).all() else " (some not finite)")
