"""A Keras CNN trained to predict an image's shape–colour labels, and feature extraction (notebook 01k).

Its pooled CNN features make better image→image search keys than raw pixels: images sharing
labels end up close even when their objects sit in different places.
"""
from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from .._validation import check_images, check_int
from ._runtime import limit_threads, seed_everything
from .encoders import DualEncoder, ImageEncoder


class AttributeClassifier(keras.Model):
    """:class:`ImageEncoder` whose head outputs one logit per label (multi-label, sigmoid).

    ``call(x)``: float images (n, H, W, 3) in [0, 1] → logits (n, n_labels);
    ``features(x)`` → pooled CNN features (n, channels[-1]).
    """

    def __init__(self, n_labels: int, channels=(16, 32, 64), head_dim: int = 256,
                 label_names=None, **kwargs):
        super().__init__(**kwargs)
        n_labels = check_int(n_labels, "n_labels")
        if label_names is not None and len(label_names) != n_labels:
            raise ValueError(f"label_names: expected {n_labels} names, got {len(label_names)}")
        self.config = dict(n_labels=n_labels, channels=list(channels), head_dim=head_dim,
                           label_names=None if label_names is None else list(label_names))
        self.encoder = ImageEncoder(n_labels, channels, head_dim, name="encoder")
        self.label_names = self.config["label_names"]

    def features(self, x, training=False):
        return self.encoder.features(x, training=training)

    def call(self, x, training=False):
        return self.encoder(x, training=training)

    def build_weights(self, image_size=(32, 32)) -> "AttributeClassifier":
        self(tf.zeros((1, *image_size, 3)))
        return self


def train_attribute_classifier(dataset, steps: int = 300, batch_size: int = 128, lr: float = 3e-3,
                               seed: int = 0, progress: bool = True, **model_kw):
    """Train an :class:`AttributeClassifier` on the "train" split's multi-hot ``labels``.

    Binary cross-entropy per label, AdamW with cosine decay, ``steps`` batches. Deterministic for
    a seed on the CPU. Returns ``(model, history)`` with per-step ``step``, ``loss``, ``seconds``
    and, when a "val" split exists, ``val_accuracy`` (fraction of correct label bits) at the end.
    """
    from ..data.dataset import CaptionDataset

    if not isinstance(dataset, CaptionDataset):
        raise ValueError(f"dataset: expected a mmcourse CaptionDataset, got {type(dataset).__name__}")
    if dataset.labels is None:
        raise ValueError(f"dataset: expected a dataset with multi-hot labels, got {dataset.name!r} "
                         f"without labels")
    steps = check_int(steps, "steps")
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr: expected a positive float, got {lr!r}")
    train = dataset.subset("train")
    if train.n_images < 2:
        raise ValueError(f"dataset: expected at least 2 training images, got {train.n_images}")
    limit_threads(2)
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    model = AttributeClassifier(dataset.labels.shape[1], label_names=dataset.label_names, **model_kw)
    model.build_weights(train.image_size)
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps)
    opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4)
    variables = model.trainable_variables

    @tf.function
    def step_fn(x, y):
        with tf.GradientTape() as tape:
            logits = model(tf.cast(x, tf.float32) / 255.0, training=True)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    labels = train.labels.astype(np.float32)
    batch_size = min(batch_size, train.n_images)
    history = {"step": [], "loss": [], "seconds": []}
    start = time.perf_counter()
    for step in tqdm(range(1, steps + 1), disable=not progress, desc="attributes", leave=False):
        idx = np.sort(rng.choice(train.n_images, batch_size, replace=False))
        loss = step_fn(tf.constant(train.images[idx]), tf.constant(labels[idx]))
        history["step"].append(step)
        history["loss"].append(float(loss))
        history["seconds"].append(time.perf_counter() - start)
    if (dataset.split == "val").any():
        val = dataset.subset("val")
        logits = np.concatenate([model(val.images[i:i + 512].astype(np.float32) / 255.0).numpy()
                                 for i in range(0, val.n_images, 512)])
        history["val_accuracy"] = [float(((logits > 0) == (val.labels > 0)).mean())]
    return model, history


def extract_features(model, images, batch_size: int = 512) -> np.ndarray:
    """Pooled CNN features, float32 (n, C), of an AttributeClassifier, DualEncoder or ImageEncoder.

    These are the activations before the projection head (not normalised).
    """
    if isinstance(model, DualEncoder):
        net = model.image_encoder
    elif isinstance(model, (AttributeClassifier, ImageEncoder)):
        net = model
    else:
        raise ValueError(f"model: expected an AttributeClassifier, DualEncoder or ImageEncoder, "
                         f"got {type(model).__name__}")
    batch_size = check_int(batch_size, "batch_size")
    arr = check_images(images, "images")
    out = [net.features(tf.constant(arr[i:i + batch_size].astype(np.float32) / 255.0)).numpy()
           for i in range(0, len(arr), batch_size)]
    return np.concatenate(out).astype(np.float32, copy=False)
