"""Training loop (``tf.GradientTape`` + ``tf.function``) for the Keras :class:`DualEncoder`.

Same recipe as :mod:`mmcourse.torch.train`, so the two tracks compare fairly: each step samples
``batch_size`` distinct training images and one of their captions each, and minimises a
contrastive loss over the batch with AdamW; the learning rate follows a short linear warm-up and
a cosine decay. Deterministic for a seed on the CPU (``keras.utils.set_random_seed`` + op
determinism) when bounded by ``steps`` / ``epochs``; ``time_budget`` is an opt-in wall-clock
stop and therefore not deterministic.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from .._training import Batches as _Batches, Clock as _Clock, check_dataset as _check_dataset
from .._training import check_twins as _check_twins
from .._training import false_negative_mode as _false_negative_mode
from .._training import lr_factor, positive_number as _positive, prefetched as _prefetched
from .._validation import check_choice, check_int
from ._runtime import limit_threads, seed_everything
from .encoders import RNN_KINDS, DualEncoder
from .losses import info_nce_loss, twin_loss, vse_hinge_loss

LOSSES = ("infonce", "vse", "vse_hardest")
#: Default number of steps, as in the PyTorch track (≈ 28 steps/s at batch 128 on 2 quiet cores).
DEFAULT_STEPS = 1500
HISTORY_KEYS = ("step", "loss", "temperature", "lr", "seconds", "eval_step", "eval_seconds",
                "val_R@1", "val_R@5", "val_R@10", "val_i2t_R@10")


def _evaluator(model, val, max_images, seed):
    """``f() -> dict`` with text→image hit rate@1/5/10 and image→text R@10 on ``val``."""
    from ..metrics import hit_rate_at_k
    from .embed import embed_images, embed_texts

    if val is None or val.n_images < 2 or val.n_captions < 1:
        return None
    if val.n_images > max_images:
        keep = np.sort(np.random.default_rng(seed).choice(val.n_images, max_images, replace=False))
        val = val.subset(image_indices=keep)
    t2i_rel = val.text_image_relevance() > 0
    i2t_rel = val.image_text_relevance()

    def evaluate():
        scores = embed_texts(model, val.captions) @ embed_images(model, val.images).T
        out = {f"val_R@{k}": float(hit_rate_at_k(scores, t2i_rel, k=k)) for k in (1, 5, 10)}
        out["val_i2t_R@10"] = float(hit_rate_at_k(scores.T, i2t_rel, k=10))
        return out

    return evaluate


def _pad_to(ids: np.ndarray, length: int) -> np.ndarray:
    if ids.shape[1] >= length:
        return ids
    return np.pad(ids, ((0, 0), (0, length - ids.shape[1])))


def train_dual_encoder(dataset, *, rnn: str = "gru", loss: str = "infonce", steps: int | None = None,
                       epochs: int | None = None, time_budget: float | None = None,
                       batch_size: int = 128, lr: float = 3e-3, weight_decay: float = 1e-4,
                       margin: float = 0.2, hinge_warmup: float = 0.25, seed: int = 0,
                       hard_negatives: bool = False, scene_twins: int = 0,
                       twin_weight: float = 1.0, mask_false_negatives="t2i", progress: bool = True,
                       eval_every: int | None = None, eval_images: int = 500, model=None,
                       min_freq: int = 1, num_threads: int | None = 2, **model_kw):
    """Train a :class:`DualEncoder` on the dataset's "train" split; evaluate on "val".

    Parameters
    ----------
    rnn : "gru" | "lstm" | "bow"; loss : "infonce" (learnable temperature) | "vse" (sum of
        hinges) | "vse_hardest" (VSE++, after ``hinge_warmup`` of the steps with the sum).
    steps / epochs : training length (default ``DEFAULT_STEPS`` steps; give at most one).
    time_budget : optional wall-clock stop in seconds, evaluations included (not deterministic);
        the LR schedule then follows whichever of steps and time runs out first, its clock
        starting after the first step (see ``mmcourse._training.Clock``).
    hard_negatives : add each caption's counterfactual twin (colours or relation swapped, from
        ``mmcourse.data.shapes.hard_negatives``) as an extra negative for its image.
    scene_twins : for this many images of each batch (shapes only), a relational caption built
        from the image's scene and its same-words twin (arguments or colours swapped, from
        ``mmcourse.data.shapes.scene_twins``) enter :func:`~mmcourse.keras.losses.twin_loss`,
        weighted by ``twin_weight``: what makes the GRU learn word order (see ``mmcourse.torch``).
    mask_false_negatives : where the dataset knows which images a caption describes (shapes,
        digits), images of the batch that a caption also fits are not used as its negatives:
        "t2i" (default, as in ``mmcourse.torch``) when ranking images for a caption only; "both" /
        True also when ranking captions for an image (it costs image→text recall, see
        ``mmcourse.keras.losses``); False / None never.
    eval_every : evaluate every this many steps (default: 5 evaluations) on up to
        ``eval_images`` validation images. model : continue training this model.
    num_threads : TensorFlow threads (applied only if TensorFlow has not run an op yet).
    **model_kw : passed to :class:`DualEncoder` (embed_dim, channels, hidden_dim, ...).

    Returns ``(model, history)``; history is a dict of lists: per step ``step``, ``loss``,
    ``temperature``, ``lr``, ``seconds``; per evaluation ``eval_step``, ``eval_seconds``,
    ``val_R@1``, ``val_R@5``, ``val_R@10`` (text→image hit rate, relevant = every image that
    satisfies the caption where known) and ``val_i2t_R@10``.
    """
    check_choice(rnn, "rnn", RNN_KINDS)
    check_choice(loss, "loss", LOSSES)
    train, val = _check_dataset(dataset)
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    lr, weight_decay = _positive(lr, "lr"), float(weight_decay)
    time_budget = _positive(time_budget, "time_budget")
    seed = check_int(seed, "seed", minimum=0)
    eval_images = check_int(eval_images, "eval_images", minimum=2)
    if not 0 <= hinge_warmup < 1:
        raise ValueError(f"hinge_warmup: expected a fraction in [0, 1), got {hinge_warmup!r}")
    if steps is not None and epochs is not None:
        raise ValueError(f"steps: expected steps or epochs, not both; got steps={steps}, epochs={epochs}")
    n_batches = max(len([c for c in train.image_captions() if len(c)]) // batch_size, 1)
    if epochs is not None:
        steps = check_int(epochs, "epochs") * n_batches
    steps = DEFAULT_STEPS if steps is None else check_int(steps, "steps")
    eval_every = max(steps // 5, 1) if eval_every is None else check_int(eval_every, "eval_every")
    if hard_negatives and not train.has_structure:
        raise ValueError(f"hard_negatives: expected a dataset with structured captions (shapes), "
                         f"got {dataset.name!r} which has none")
    scene_twins, twin_weight = _check_twins(scene_twins, twin_weight, train, dataset.name)
    fn_mode = _false_negative_mode(mask_false_negatives)
    if num_threads is not None:
        limit_threads(check_int(num_threads, "num_threads"))
    seed_everything(seed)
    if model is None:
        from ..text import Vocabulary

        vocab = Vocabulary.build(train.captions, min_freq=min_freq)
        model = DualEncoder(vocab, rnn=rnn, **model_kw)
    elif not isinstance(model, DualEncoder):
        raise ValueError(f"model: expected a DualEncoder to continue training, got {type(model).__name__}")
    model.build_weights(train.image_size)
    history = _fit(model, train, val, loss=loss, steps=steps, time_budget=time_budget,
                   batch_size=batch_size, lr=lr, weight_decay=weight_decay, margin=margin,
                   hinge_warmup=hinge_warmup, seed=seed, hard_negatives=hard_negatives,
                   scene_twins=scene_twins, twin_weight=twin_weight,
                   mask_fn=fn_mode if train.has_structure else None, progress=progress,
                   eval_every=eval_every, eval_images=eval_images)
    return model, history


def _make_optimizer(model, lr, weight_decay):
    opt = keras.optimizers.AdamW(learning_rate=lr, weight_decay=weight_decay, epsilon=1e-8)
    # decay matrices and kernels only, not biases, BatchNorm scales or the temperature
    opt.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables if len(v.shape) <= 1])
    return opt


def _make_step(model, opt, loss, margin, fn_mode, twin_weight=1.0):
    """A compiled train step ``(x_uint8, ids, neg_ids, fn_mask, twin_rows, twin_ids, use_neg,
    use_twins, hardest) -> loss``; twin_ids holds the p positives, then their p twins."""
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(x, ids, neg_ids, fn_mask, twin_rows, twin_ids, use_neg: bool, use_twins: bool,
             hardest: bool):
        with tf.GradientTape() as tape:
            img = model.encode_images(tf.cast(x, tf.float32) / 255.0, training=True)
            txt = model.encode_texts(ids, training=True)
            extra = model.encode_texts(neg_ids, training=True) if use_neg else None
            if loss == "infonce":
                value = info_nce_loss(img, txt, 1.0 / tf.exp(model.clamped_logit_scale()),
                                      extra_negatives=extra, false_negatives=fn_mask,
                                      false_negative_directions=fn_mode)
            else:
                value = vse_hinge_loss(img, txt, margin, hardest=hardest, extra_negatives=extra,
                                       false_negatives=fn_mask, false_negative_directions=fn_mode)
            if use_twins:
                both = model.encode_texts(twin_ids, training=True)
                p = tf.shape(twin_rows)[0]
                # a fixed temperature here: the twin loss alone would only sharpen it
                value += twin_weight * twin_loss(
                    tf.gather(img, twin_rows), both[:p], both[p:],
                    1.0 / tf.exp(tf.stop_gradient(model.clamped_logit_scale())))
        grads = tape.gradient(value, variables)
        # the hinge losses leave the temperature without a gradient: skip it, quietly
        opt.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return value

    return step


def _fit(model, train, val, *, loss, steps, time_budget, batch_size, lr, weight_decay, margin,
         hinge_warmup, seed, hard_negatives, mask_fn, progress, eval_every, eval_images,
         scene_twins=0, twin_weight=1.0):
    rng = np.random.default_rng(seed)
    batches = _Batches(train, batch_size, rng)
    neg_rng = np.random.default_rng(seed + 1)
    twin_rng = np.random.default_rng(seed + 2)
    images = train.images
    all_ids = model.tokenize(train.captions, "dataset.captions")
    width = all_ids.shape[1]  # one fixed width: tf.function traces once
    evaluate = _evaluator(model, val, eval_images, seed)
    if hard_negatives:
        from ..data.shapes import hard_negatives as make_negatives
    if scene_twins:
        from ..data.shapes import scene_twins as scene_twins_for
    opt = _make_optimizer(model, lr, weight_decay)
    step_fn = _make_step(model, opt, loss, margin, mask_fn or "both", twin_weight)
    no_neg = tf.zeros((1, width), tf.int32)  # placeholders for the branches a step skips
    no_rows = tf.zeros((0,), tf.int32)

    def prepare():
        """The next batch as NumPy arrays (runs in the prefetch thread)."""
        img_idx, cap_idx = batches.next()
        fn_mask = np.zeros((len(img_idx), len(img_idx)), bool)
        if mask_fn:  # (image i, caption j) True when caption j also fits image i
            fn_mask = train.text_image_relevance(cap_idx, img_idx, graded=False).T > 0
        neg = None
        if hard_negatives:
            negs = [t for t in make_negatives(train, cap_idx.tolist(), neg_rng) if t]
            if negs:
                neg = _pad_to(model.tokenize(negs, "hard negatives"), width)
        twin_rows = twin_ids = None
        if scene_twins:
            rows, pos, twins = scene_twins_for(train, img_idx[:scene_twins], twin_rng)
            if len(rows):
                twin_rows = rows.astype(np.int32)
                twin_ids = _pad_to(model.tokenize(pos + twins, "scene twins"), width)
        return images[img_idx], all_ids[cap_idx], neg, fn_mask, twin_rows, twin_ids

    history = {k: [] for k in HISTORY_KEYS}
    clock = _Clock(steps, time_budget)
    bar = tqdm(total=steps, disable=not progress, desc="training", leave=False)
    try:
        for step, batch in enumerate(_prefetched(prepare, steps), start=1):
            if clock.over():
                break
            frac = clock.progress(step)
            cur_lr = lr * lr_factor(frac)
            opt.learning_rate = cur_lr
            x, ids, neg, fn_mask, twin_rows, twin_ids = batch
            hardest = loss == "vse_hardest" and frac >= hinge_warmup
            value = step_fn(tf.constant(x), tf.constant(ids), no_neg if neg is None else tf.constant(neg),
                            tf.constant(fn_mask), no_rows if twin_rows is None else tf.constant(twin_rows),
                            no_neg if twin_ids is None else tf.constant(twin_ids),
                            neg is not None, twin_rows is not None, bool(hardest))
            clock.step_done()
            history["step"].append(step)
            history["loss"].append(float(value))
            history["temperature"].append(model.temperature)
            history["lr"].append(cur_lr)
            history["seconds"].append(clock.elapsed())
            bar.update(1)
            if evaluate is not None and (step % eval_every == 0 or step == steps or clock.over()):
                _record_eval(history, evaluate, step, clock)
                bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", R10=f"{history['val_R@10'][-1]:.2f}")
    finally:
        bar.close()
    if evaluate is not None and history["step"] and \
            (not history["eval_step"] or history["eval_step"][-1] != history["step"][-1]):
        _record_eval(history, evaluate, history["step"][-1], clock)
    return history


def _record_eval(history, evaluate, step, clock):
    history["eval_step"].append(step)
    for k, v in evaluate().items():
        history[k].append(v)
    history["eval_seconds"].append(clock.elapsed())
