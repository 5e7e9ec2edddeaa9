"""Checkers for notebook 03k (fusion and the joint space in Keras): InfoNCE and the VSE hinge in
TensorFlow (against ``mmcourse.keras.losses``), a ``tf.GradientTape`` train step (against the
same step done by the reference on a clone of the model), and a composed image + text query.
TensorFlow is imported lazily (never torch)."""
from __future__ import annotations

import numpy as np

from ..check import expect_close, fail, register


def _unit(rng, n, d):
    x = rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@register("nb03k-info-nce", twins=("mmcourse.keras.losses:info_nce_loss", "mmcourse.keras.losses:twin_loss",),
          why="InfoNCE is a classification of the right caption among the batch, "
          "in both directions; the temperature sets how peaked it is.")
def check_info_nce(info_nce):
    import tensorflow as tf

    from ...keras.losses import info_nce_loss

    rng = np.random.default_rng(0)
    cases = [("2 perfectly aligned pairs, temperature 1", np.eye(2, dtype=np.float32),
              np.eye(2, dtype=np.float32), 1.0),
             ("5 random pairs, temperature 0.07", _unit(rng, 5, 8), _unit(rng, 5, 8), 0.07),
             ("3 pairs, temperature 0.5", _unit(rng, 3, 4), _unit(rng, 3, 4), 0.5)]
    for case, img, txt, t in cases:
        got = info_nce(tf.constant(img), tf.constant(txt), t)
        expect_close(float(got), float(info_nce_loss(img, txt, t)), case,
                     "logits = img @ txt.T / temperature; average the cross-entropy of rows (image→"
                     "text) and of columns (text→image) with targets 0..n-1", rtol=1e-4, atol=1e-5)
    img, txt = tf.Variable(_unit(rng, 4, 3)), tf.constant(_unit(rng, 4, 3))
    with tf.GradientTape() as tape:
        loss = info_nce(img, txt, 0.1)
    if tape.gradient(loss, img) is None:
        fail("a gradient through your loss", "a gradient with respect to img", "None",
             "use TensorFlow ops only (no .numpy() inside), so the tape can differentiate")


@register("nb03k-vse", twins=("mmcourse.keras.losses:vse_hinge_loss",),
          why="The hinge asks each true pair to beat its negatives by a margin; "
          "hardest=True (VSE++) looks only at the worst offender.")
def check_vse(vse_hinge):
    import tensorflow as tf

    from ...keras.losses import vse_hinge_loss

    rng = np.random.default_rng(1)
    same = np.tile(np.array([[1.0, 0.0]], np.float32), (3, 1))
    cases = [("collapsed embeddings (all equal), hardest", same, same, 0.2, True),
             ("collapsed embeddings, sum of hinges", same, same, 0.2, False)]
    for hardest in (True, False):
        cases.append((f"6 random pairs, margin 0.2, hardest={hardest}", _unit(rng, 6, 5),
                      _unit(rng, 6, 5), 0.2, hardest))
    cases.append(("4 random pairs, margin 0.5, hardest=True", _unit(rng, 4, 3), _unit(rng, 4, 3), 0.5, True))
    for case, img, txt, margin, hardest in cases:
        got = vse_hinge(tf.constant(img), tf.constant(txt), margin, hardest)
        expect_close(float(got), float(vse_hinge_loss(img, txt, margin, hardest=hardest)), case,
                     "s = img @ txt.T; caption hinges relu(margin + s - diag[:, None]), image hinges "
                     "relu(margin + s - diag[None, :]), zero the diagonal, max (hardest) or sum, then "
                     "mean over the batch of (row term + column term)", rtol=1e-4, atol=1e-5)


def _tiny_model(seed):
    import keras

    from ...keras.encoders import DualEncoder
    from ...text import Vocabulary

    keras.utils.set_random_seed(seed)
    vocab = Vocabulary.build(["a red circle", "a blue square left of a green star"])
    return DualEncoder(vocab, embed_dim=8, channels=(4,), head_dim=8, word_dim=4,
                       hidden_dim=8).build_weights((8, 8))


@register("nb03k-train-step", twins=("mmcourse.keras.train:train_dual_encoder",),
          why="tf.GradientTape records the forward pass; gradient + "
          "apply_gradients is one step of learning — the whole of a custom training loop.")
def check_train_step(train_step):
    import keras
    import tensorflow as tf

    from ...keras.losses import info_nce_loss
    from ...keras.persist import clone_model

    model = _tiny_model(0)
    ref = clone_model(model)
    rng = np.random.default_rng(2)
    images = tf.constant(rng.uniform(size=(4, 8, 8, 3)).astype(np.float32))
    ids = tf.constant(model.tokenize(["a red circle", "a blue square", "a green star",
                                      "a red square left of a blue circle"]))
    opt, ref_opt = keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5)
    for step in range(2):
        got = train_step(model, opt, images, ids)
        with tf.GradientTape() as tape:
            img = ref.encode_images(images, training=True)
            txt = ref.encode_texts(ids, training=True)
            loss = info_nce_loss(img, txt, 1.0 / tf.exp(ref.clamped_logit_scale()))
        grads = tape.gradient(loss, ref.trainable_variables)
        ref_opt.apply_gradients(zip(grads, ref.trainable_variables))
        expect_close(float(got), float(loss), f"the loss returned by step {step + 1}",
                     "encode with training=True, InfoNCE with temperature 1 / exp(model.clamped_logit_scale())",
                     rtol=1e-4, atol=1e-5)
    for var, ref_var in zip(model.trainable_variables, ref.trainable_variables):
        expect_close(var.numpy(), ref_var.numpy(), f"weights {var.path} after 2 steps",
                     "tape.gradient(loss, model.trainable_variables), then "
                     "optimizer.apply_gradients(zip(grads, model.trainable_variables))",
                     rtol=1e-3, atol=1e-5)


@register("nb03k-composed-query", twins=("mmcourse.search:composed_query_vector", "mmcourse.search:composed_query",),
          why="In a joint space an image and a text can be mixed into one "
          "query: 'this picture, but blue'.")
def check_composed_query(composed_query):
    rng = np.random.default_rng(3)
    for alpha in (0.0, 0.3, 0.5, 1.0):
        img, txt = _unit(rng, 3, 6), _unit(rng, 3, 6)
        mix = alpha * img + (1 - alpha) * txt
        expected = mix / np.linalg.norm(mix, axis=1, keepdims=True)
        expect_close(np.asarray(composed_query(img, txt, alpha)), expected,
                     f"3 image and 3 text embeddings, alpha={alpha}",
                     "alpha * image + (1 - alpha) * text, then divide each row by its L2 norm",
                     rtol=1e-4, atol=1e-5)
