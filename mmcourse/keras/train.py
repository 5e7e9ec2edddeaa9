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

from .. import _training
from .._training import DEFAULT_NUM_THREADS, DEFAULT_STEPS, HISTORY_KEYS, LOSSES  # noqa: F401
from .._training import Clock as _Clock, lr_factor, prefetched as _prefetched
from ._runtime import limit_threads, seed_everything
from .encoders import DualEncoder
from .losses import info_nce_loss, twin_loss, vse_hinge_loss


def _pad_to(ids: np.ndarray, length: int) -> np.ndarray:
    if ids.shape[1] >= length:
        return ids
    return np.pad(ids, ((0, 0), (0, length - ids.shape[1])))


def train_dual_encoder(dataset, *, rnn: str = "gru", loss: str = "infonce", steps: int | None = None,
                       epochs: int | None = None, time_budget: float | None = None,
                       batch_size: int = 128, lr: float = 3e-3, weight_decay: float = 1e-4,
                       margin: float = 0.2, hinge_warmup: float = 0.25, seed: int = 0,
                       hard_negatives: bool = False, scene_twins: int = 0,
                       twin_weight: float = 1.0, twin_start: float = 0.0,
                       mask_false_negatives="t2i", progress: bool = True,
                       eval_every: int | None = None, eval_images: int = 500, model=None,
                       min_freq: int = 1, num_threads: int | None = DEFAULT_NUM_THREADS, **model_kw):
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
        ``dataset.hard_negatives``) as an extra negative for its image; needs a dataset with
        ``has_counterfactuals`` (shapes): any other raises ValueError before training starts.
    scene_twins : for this many images of each batch (shapes only), a relational caption built
        from the image's scene and its same-words twin (arguments or colours swapped, from
        ``dataset.scene_twins``) enter :func:`~mmcourse.keras.losses.twin_loss`,
        weighted by ``twin_weight``, from the ``twin_start`` fraction of the steps on (a
        curriculum: the contrastive loss alone first): what makes the GRU learn word order (see ``mmcourse.torch``).
    mask_false_negatives : where the dataset knows which images a caption describes (shapes,
        digits), images of the batch that a caption also fits are not used as its negatives:
        "t2i" (default, as in ``mmcourse.torch``) when ranking images for a caption only; "both" /
        True also when ranking captions for an image (it costs image→text recall, see
        ``mmcourse.keras.losses``); False / None never.
    eval_every : evaluate every this many steps (default: 5 evaluations) on up to
        ``eval_images`` validation images. model : continue training this model.
    num_threads : TensorFlow intra- and inter-op threads (applied only if TensorFlow has not
        run an op yet); default 2 in both tracks (see ``mmcourse._training.training_config``).
    **model_kw : passed to :class:`DualEncoder` (embed_dim, channels, hidden_dim, ...).
    Every argument is validated up front by ``mmcourse._training.training_config``, the same
    function as in ``mmcourse.torch``.

    Returns ``(model, history)``; history is a dict of lists: per step ``step``, ``loss``,
    ``temperature``, ``lr``, ``seconds``; per evaluation ``eval_step``, ``eval_seconds``,
    ``val_R@1``, ``val_R@5``, ``val_R@10`` (text→image hit rate, relevant = every image that
    satisfies the caption where known) and ``val_i2t_R@10``.
    """
    if model is not None and not isinstance(model, DualEncoder):
        raise ValueError(f"model: expected a DualEncoder to continue training, got {type(model).__name__}")
    cfg = _training.training_config(
        dataset, rnn=rnn, loss=loss, steps=steps, epochs=epochs, time_budget=time_budget,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, margin=margin,
        hinge_warmup=hinge_warmup, seed=seed, hard_negatives=hard_negatives, scene_twins=scene_twins,
        twin_weight=twin_weight, twin_start=twin_start, mask_false_negatives=mask_false_negatives,
        eval_every=eval_every,
        eval_images=eval_images, min_freq=min_freq, num_threads=num_threads,
        model_modalities=("image", "text") if model is None else model.modalities)
    if cfg.num_threads is not None:
        limit_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    if model is None:
        from ..text import Vocabulary

        vocab = Vocabulary.build(cfg.train.captions, min_freq=cfg.min_freq)
        model = DualEncoder(vocab, rnn=cfg.rnn, **model_kw)
    model.build_weights(cfg.train.image_size)
    return model, _fit(model, cfg, progress)


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


def _fit(model, cfg, progress):
    from .embed import embed

    plan = _training.BatchPlan(cfg)
    images = cfg.train.images
    all_ids = model.tokenize(cfg.train.captions, "dataset.captions")
    width = all_ids.shape[1]  # one fixed width: tf.function traces once
    history = _training.History(cfg, _training.make_evaluator(
        cfg.val, cfg.eval_images, cfg.seed, lambda modality, items: embed(model, modality, items)))
    opt = _make_optimizer(model, cfg.lr, cfg.weight_decay)
    step_fn = _make_step(model, opt, cfg.loss, cfg.margin, cfg.mask_fn or "both", cfg.twin_weight)
    no_neg = tf.zeros((1, width), tf.int32)  # placeholders for the branches a step skips
    no_rows = tf.zeros((0,), tf.int32)
    no_mask = np.zeros((cfg.batch_size, cfg.batch_size), bool)

    def prepare():
        """The next batch as NumPy arrays (runs in the prefetch thread)."""
        b = plan.next()
        fn_mask = no_mask[:len(b.images), :len(b.images)] if b.fn_mask is None else b.fn_mask
        neg = None if b.negatives is None else _pad_to(model.tokenize(b.negatives, "hard negatives"), width)
        twin_rows = twin_ids = None
        if b.twin_rows is not None:
            twin_rows = b.twin_rows.astype(np.int32)
            twin_ids = _pad_to(model.tokenize(b.twin_texts, "scene twins"), width)
        return images[b.images], all_ids[b.captions], neg, fn_mask, twin_rows, twin_ids

    lr = cfg.lr
    clock = _Clock(cfg.steps, cfg.time_budget)
    bar = tqdm(total=cfg.steps, disable=not progress, desc="training", leave=False)
    try:
        for step, batch in enumerate(_prefetched(prepare, cfg.steps), start=1):
            if clock.over():
                break
            frac = clock.progress(step)
            cur_lr = lr * lr_factor(frac)
            opt.learning_rate = cur_lr
            x, ids, neg, fn_mask, twin_rows, twin_ids = batch
            hardest = cfg.loss == "vse_hardest" and frac >= cfg.hinge_warmup
            value = step_fn(tf.constant(x), tf.constant(ids), no_neg if neg is None else tf.constant(neg),
                            tf.constant(fn_mask), no_rows if twin_rows is None else tf.constant(twin_rows),
                            no_neg if twin_ids is None else tf.constant(twin_ids),
                            neg is not None, twin_rows is not None, bool(hardest))
            clock.step_done()
            history.step(step, float(value), model.temperature, cur_lr, clock)
            bar.update(1)
            if history.evaluate_due(step, clock):
                history.evaluation(step, clock)
                bar.set_postfix(**history.postfix())
    finally:
        bar.close()
    if history.final_evaluation_due():
        history.evaluation(history.data["step"][-1], clock)
    return history.data
