"""Contrastive losses (TensorFlow) for a batch of matching pairs: row i of ``img`` goes with row i of ``txt``.

Same formulas as :mod:`mmcourse.torch.losses`. Both take unit-norm embeddings (n, d) and optional
``extra_negatives`` (e, d): more captions that match none of the images (e.g. each caption's
word-swapped twin); they are added as negatives for every image (image→text direction only),
and an optional boolean ``false_negatives`` mask (n, n): entry (i, j) True when caption j also
describes image i (e.g. "a red circle" fits several images of a batch); such pairs are left out
of the negatives — in both directions (``false_negative_directions="both"``, as in
``mmcourse.torch``) or only when ranking images for a caption (``"t2i"``, the training default
here: masking the image→text direction too lets an image stop preferring its own captions over
other captions it satisfies, which measured image→text R@10 fall from about 0.98 to 0.21).
Shape checks happen at trace time, so the losses can be used inside ``tf.function``.
"""
from __future__ import annotations

import tensorflow as tf


FN_DIRECTIONS = ("both", "t2i", "i2t")


def _check_pair(img, txt, extra_negatives, false_negatives=None, directions="both"):
    img, txt = tf.convert_to_tensor(img), tf.convert_to_tensor(txt)
    for name, t in (("img", img), ("txt", txt)):
        if len(t.shape) != 2:
            raise ValueError(f"{name}: expected a 2-D tensor (n, d), got shape {tuple(t.shape)}")
    if img.shape.is_fully_defined() and txt.shape.is_fully_defined() and img.shape != txt.shape:
        raise ValueError(f"txt: expected the same shape as img {tuple(img.shape)}, got {tuple(txt.shape)}")
    if img.shape[0] is not None and img.shape[0] < 2:
        raise ValueError(f"img: expected a batch of at least 2 pairs (negatives come from the "
                         f"batch), got {img.shape[0]}")
    if extra_negatives is not None:
        extra_negatives = tf.convert_to_tensor(extra_negatives)
        if len(extra_negatives.shape) != 2 or extra_negatives.shape[1] != img.shape[1]:
            raise ValueError(f"extra_negatives: expected a 2-D tensor (e, {img.shape[1]}), "
                             f"got shape {tuple(extra_negatives.shape)}")
        extra_negatives = tf.cast(extra_negatives, img.dtype)
    if directions not in FN_DIRECTIONS:
        raise ValueError(f"false_negative_directions: expected one of {FN_DIRECTIONS}, got {directions!r}")
    if false_negatives is not None:
        false_negatives = tf.convert_to_tensor(false_negatives)
        n = img.shape[0]
        if false_negatives.dtype != tf.bool or len(false_negatives.shape) != 2 or (
                n is not None and tuple(false_negatives.shape) not in ((n, n), (None, None))):
            raise ValueError(f"false_negatives: expected a bool tensor ({n}, {n}), got "
                             f"{tuple(false_negatives.shape)} {false_negatives.dtype.name}")
        false_negatives = tf.logical_and(false_negatives, tf.logical_not(
            tf.cast(tf.eye(tf.shape(false_negatives)[0]), tf.bool)))  # never mask a positive
    return img, tf.cast(txt, img.dtype), extra_negatives, false_negatives


def info_nce_loss(img, txt, temperature=0.07, extra_negatives=None, false_negatives=None,
                  false_negative_directions: str = "both") -> tf.Tensor:
    """Symmetric InfoNCE (CLIP): mean of the image→text and text→image cross-entropies.

    logits = img @ txt.T / temperature, shape (n, n); the target of row i is column i.
    ``temperature`` is a float or a scalar tensor (pass ``1 / exp(model.clamped_logit_scale())``
    to learn it). With ``extra_negatives`` (e, d) the image→text logits get e more columns;
    ``false_negatives`` logits (off the diagonal) are set to −∞. Returns a scalar tensor (nats).
    """
    img, txt, extra_negatives, false_negatives = _check_pair(img, txt, extra_negatives, false_negatives,
                                                             false_negative_directions)
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        if not temperature > 0:
            raise ValueError(f"temperature: expected a positive float, got {temperature!r}")
    else:
        temperature = tf.convert_to_tensor(temperature)
        if temperature.shape.num_elements() != 1:
            raise ValueError(f"temperature: expected a positive scalar, got shape {tuple(temperature.shape)}")
        temperature = tf.reshape(tf.cast(temperature, img.dtype), ())
    logits = tf.matmul(img, txt, transpose_b=True) / temperature
    i2t, t2i = logits, logits
    if false_negatives is not None:
        masked = tf.where(false_negatives, tf.constant(-float("inf"), logits.dtype), logits)
        i2t = masked if false_negative_directions in ("both", "i2t") else logits
        t2i = masked if false_negative_directions in ("both", "t2i") else logits
    target = tf.range(tf.shape(img)[0])
    if extra_negatives is not None:
        i2t = tf.concat([i2t, tf.matmul(img, extra_negatives, transpose_b=True) / temperature], axis=1)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits
    return 0.5 * (tf.reduce_mean(ce(target, i2t)) + tf.reduce_mean(ce(target, tf.transpose(t2i))))


def vse_hinge_loss(img, txt, margin: float = 0.2, hardest: bool = True, extra_negatives=None,
                   false_negatives=None, false_negative_directions: str = "both") -> tf.Tensor:
    """VSE++ triplet loss on cosine similarities s(i, j) = img[i] · txt[j].

    For each pair i: caption hinges [margin + s(i, j) − s(i, i)]₊ over negative captions j (and
    extra negatives) plus image hinges [margin + s(j, i) − s(i, i)]₊ over negative images j.
    ``hardest=False`` sums the hinges (VSE0), ``hardest=True`` keeps only the largest of each
    kind (VSE++; collapses from scratch — warm up with the sum). Mean over the batch.
    ``false_negatives`` pairs contribute no hinge.
    """
    img, txt, extra_negatives, false_negatives = _check_pair(img, txt, extra_negatives, false_negatives,
                                                             false_negative_directions)
    if isinstance(margin, bool) or not (isinstance(margin, (int, float)) and margin >= 0):
        raise ValueError(f"margin: expected a non-negative float, got {margin!r}")
    scores = tf.matmul(img, txt, transpose_b=True)  # (n, n)
    pos = tf.linalg.diag_part(scores)
    off = 1.0 - tf.eye(tf.shape(scores)[0], dtype=scores.dtype)  # 0 on the positives
    off_txt, off_img = off, off
    if false_negatives is not None:
        keep = off * (1.0 - tf.cast(false_negatives, scores.dtype))
        off_txt = keep if false_negative_directions in ("both", "i2t") else off
        off_img = keep if false_negative_directions in ("both", "t2i") else off
    cost_txt = tf.nn.relu(margin + scores - pos[:, None]) * off_txt  # row i: captions ranked for image i
    cost_img = tf.nn.relu(margin + scores - pos[None, :]) * off_img  # column j: images ranked for caption j
    if extra_negatives is not None:
        extra = tf.nn.relu(margin + tf.matmul(img, extra_negatives, transpose_b=True) - pos[:, None])
        cost_txt = tf.concat([cost_txt, extra], axis=1)
    if hardest:
        return tf.reduce_mean(tf.reduce_max(cost_txt, axis=1) + tf.reduce_max(cost_img, axis=0))
    return tf.reduce_mean(tf.reduce_sum(cost_txt, axis=1) + tf.reduce_sum(cost_img, axis=0))


def twin_loss(img, positive, negative, temperature=0.07) -> tf.Tensor:
    """Pairwise loss of an image against a caption it satisfies and its swapped twin.

    img, positive, negative: unit-norm (p, d), row k the same image / caption / twin. It is the
    cross-entropy of choosing the positive among the two captions,
    −log σ((s⁺ − s⁻) / temperature) = softplus((s⁻ − s⁺) / temperature), mean over the rows
    (nats); the same formula as ``mmcourse.torch.losses.twin_loss``.
    """
    img = tf.convert_to_tensor(img)
    for name, t in (("positive", positive), ("negative", negative)):
        t = tf.convert_to_tensor(t)
        if len(t.shape) != 2 or len(img.shape) != 2 or not t.shape.is_compatible_with(img.shape):
            raise ValueError(f"{name}: expected a 2-D tensor shaped like img {tuple(img.shape)}, "
                             f"got {tuple(t.shape)}")
    positive, negative = tf.cast(positive, img.dtype), tf.cast(negative, img.dtype)
    margin = tf.reduce_sum(img * negative, axis=1) - tf.reduce_sum(img * positive, axis=1)
    return tf.reduce_mean(tf.nn.softplus(margin / temperature))
