"""Contrastive losses for a batch of matching pairs: row i of ``img`` goes with row i of ``txt``.

Both take unit-norm embeddings (n, d) and optional ``extra_negatives`` (e, d): more captions that
match none of the images (e.g. each caption's word-swapped twin); they are added as negatives for
every image (image→text direction only, since they are texts), and an optional boolean
``false_negatives`` mask (n, n): entry (i, j) True when caption j also describes image i (e.g. "a
red circle" fits several images of a batch); such pairs are left out of the negatives — in both
directions (``false_negative_directions="both"``) or only when ranking images for a caption
(``"t2i"``, the training default: masking the image→text direction too lets an image stop
preferring its own captions over other captions it satisfies, which breaks image→text recall).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


FN_DIRECTIONS = ("both", "t2i", "i2t")


def _check_pair(img, txt, extra_negatives, false_negatives=None, directions="both"):
    for name, t in (("img", img), ("txt", txt)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2:
            raise ValueError(f"{name}: expected a 2-D tensor (n, d), got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    if img.shape != txt.shape:
        raise ValueError(f"txt: expected the same shape as img {tuple(img.shape)}, got {tuple(txt.shape)}")
    if img.shape[0] < 2:
        raise ValueError(f"img: expected a batch of at least 2 pairs (negatives come from the "
                         f"batch), got {img.shape[0]}")
    if extra_negatives is not None:
        if (not isinstance(extra_negatives, torch.Tensor) or extra_negatives.dim() != 2
                or extra_negatives.shape[1] != img.shape[1]):
            got = (tuple(extra_negatives.shape) if isinstance(extra_negatives, torch.Tensor)
                   else type(extra_negatives).__name__)
            raise ValueError(f"extra_negatives: expected a 2-D tensor (e, {img.shape[1]}), got {got}")
    if directions not in FN_DIRECTIONS:
        raise ValueError(f"false_negative_directions: expected one of {FN_DIRECTIONS}, "
                         f"got {directions!r}")
    if false_negatives is not None:
        n = img.shape[0]
        if (not isinstance(false_negatives, torch.Tensor) or false_negatives.dtype != torch.bool
                or false_negatives.shape != (n, n)):
            got = (f"{tuple(false_negatives.shape)} {false_negatives.dtype}"
                   if isinstance(false_negatives, torch.Tensor) else type(false_negatives).__name__)
            raise ValueError(f"false_negatives: expected a bool tensor ({n}, {n}), got {got}")


def _off_diagonal(mask: torch.Tensor) -> torch.Tensor:
    return mask & ~torch.eye(mask.shape[0], dtype=torch.bool, device=mask.device)


def info_nce_loss(img: torch.Tensor, txt: torch.Tensor, temperature=0.07,
                  extra_negatives: torch.Tensor | None = None,
                  false_negatives: torch.Tensor | None = None,
                  false_negative_directions: str = "both") -> torch.Tensor:
    """Symmetric InfoNCE (CLIP): mean of the image→text and text→image cross-entropies.

    logits = img @ txt.T / temperature, shape (n, n); the target of row i is column i.
    ``temperature`` is a float or a scalar tensor (pass ``1 / model.clamped_logit_scale().exp()``
    to learn it). With ``extra_negatives`` (e, d) the image→text logits get e more columns;
    ``false_negatives`` logits (off the diagonal) are set to −∞. Returns a scalar tensor (nats).
    """
    _check_pair(img, txt, extra_negatives, false_negatives, false_negative_directions)
    if not isinstance(temperature, torch.Tensor):
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature: expected a positive float, got {temperature!r}")
    elif temperature.numel() != 1 or not bool(temperature.detach() > 0):
        raise ValueError(f"temperature: expected a positive scalar, got {temperature!r}")
    logits = img @ txt.T / temperature
    i2t = t2i = logits
    if false_negatives is not None:
        masked = logits.masked_fill(_off_diagonal(false_negatives), float("-inf"))
        i2t = masked if false_negative_directions in ("both", "i2t") else logits
        t2i = masked if false_negative_directions in ("both", "t2i") else logits
    target = torch.arange(img.shape[0], device=img.device)
    if extra_negatives is not None:
        i2t = torch.cat([i2t, img @ extra_negatives.T / temperature], dim=1)
    return 0.5 * (F.cross_entropy(i2t, target) + F.cross_entropy(t2i.T, target))


def vse_hinge_loss(img: torch.Tensor, txt: torch.Tensor, margin: float = 0.2, hardest: bool = True,
                   extra_negatives: torch.Tensor | None = None,
                   false_negatives: torch.Tensor | None = None,
                   false_negative_directions: str = "both") -> torch.Tensor:
    """VSE++ triplet loss on cosine similarities s(i, j) = img[i] · txt[j].

    For each pair i: caption hinges [margin + s(i, j) − s(i, i)]₊ over negative captions j (and
    extra negatives) plus image hinges [margin + s(j, i) − s(i, i)]₊ over negative images j.
    ``hardest=False`` sums the hinges (VSE0), ``hardest=True`` keeps only the largest of each
    kind (VSE++; collapses from scratch — warm up with the sum). Mean over the batch.
    ``false_negatives`` pairs contribute no hinge.
    """
    _check_pair(img, txt, extra_negatives, false_negatives, false_negative_directions)
    if not (isinstance(margin, (int, float)) and margin >= 0):
        raise ValueError(f"margin: expected a non-negative float, got {margin!r}")
    scores = img @ txt.T  # (n, n)
    pos = scores.diagonal()
    eye = torch.eye(scores.shape[0], dtype=torch.bool, device=scores.device)
    off_txt = off_img = eye
    if false_negatives is not None:
        masked = eye | false_negatives
        off_txt = masked if false_negative_directions in ("both", "i2t") else eye
        off_img = masked if false_negative_directions in ("both", "t2i") else eye
    cost_txt = (margin + scores - pos[:, None]).clamp_min(0).masked_fill(off_txt, 0)  # per image row
    cost_img = (margin + scores - pos[None, :]).clamp_min(0).masked_fill(off_img, 0)  # per caption col
    if extra_negatives is not None:
        extra = (margin + img @ extra_negatives.T - pos[:, None]).clamp_min(0)
        cost_txt = torch.cat([cost_txt, extra], dim=1)
    if hardest:
        return (cost_txt.amax(dim=1) + cost_img.amax(dim=0)).mean()
    return (cost_txt.sum(dim=1) + cost_img.sum(dim=0)).mean()


def twin_loss(img: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
              temperature=0.07) -> torch.Tensor:
    """Pairwise loss of an image against a caption it satisfies and its swapped twin.

    img, positive, negative: unit-norm (p, d), row k the same image / caption / twin. It is the
    cross-entropy of choosing the positive among the two captions,
    −log σ((s⁺ − s⁻) / temperature) = softplus((s⁻ − s⁺) / temperature), mean over the rows
    (nats). Only the word order tells the two captions apart, so this is what teaches it.
    """
    for name, t in (("positive", positive), ("negative", negative)):
        if not isinstance(t, torch.Tensor) or not isinstance(img, torch.Tensor) or t.shape != img.shape \
                or t.dim() != 2:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            want = tuple(img.shape) if isinstance(img, torch.Tensor) else "(p, d)"
            raise ValueError(f"{name}: expected a 2-D tensor shaped like img {want}, got {got}")
    margin = (img * negative).sum(dim=1) - (img * positive).sum(dim=1)
    return F.softplus(margin / temperature).mean()
