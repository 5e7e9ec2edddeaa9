"""The two towers of the Keras dual encoder: a small CNN for images, an RNN (or bag of words) for text.

Same architecture as :mod:`mmcourse.torch.encoders` (so the two tracks can be compared): CNN
16-32-64 with BatchNorm, ReLU, max-pooling, two coordinate channels and global average pooling;
GRU-128 over 64-d word embeddings. Images are channels-last (n, H, W, 3), TensorFlow's native
layout on the CPU. ``TOWERS`` is the registry of one encoder class per modality
(:func:`register_tower`); :class:`JointEncoder` holds any subset of towers and L2-normalises
their outputs so that a dot product is a cosine similarity in one shared space;
:class:`DualEncoder` is its image + text case.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from .._towers import TowerSet, check_modality_name
from .._validation import check_choice, check_images, check_int

RNN_KINDS = ("gru", "lstm", "bow")
POOLINGS = ("last", "mean", "max")


def torch_like_init():
    """U(±1/√fan_in), PyTorch's default for Conv2d/Linear weights (Keras defaults to Glorot).

    Used for parity with :mod:`mmcourse.torch`: same architecture, same initial scale.
    """
    return keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")


def torch_like_dense(units: int, fan_in: int, name: str, activation=None):
    """A Dense layer initialised like ``torch.nn.Linear`` (weights and bias U(±1/√fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.layers.Dense(units, activation=activation, name=name,
                              kernel_initializer=torch_like_init(),
                              bias_initializer=keras.initializers.RandomUniform(-bound, bound))


def torch_like_rnn(kind: str, units: int, return_sequences: bool):
    """A GRU / LSTM initialised like PyTorch's (every weight and bias U(±1/√units))."""
    init = keras.initializers.RandomUniform(-1.0 / math.sqrt(units), 1.0 / math.sqrt(units))
    cls = keras.layers.GRU if kind == "gru" else keras.layers.LSTM
    extra = {} if kind == "gru" else dict(unit_forget_bias=False)
    return cls(units, return_sequences=return_sequences, name=kind, kernel_initializer=init,
               recurrent_initializer=init, bias_initializer=init, **extra)


def images_to_tensor(images, name: str = "images") -> tf.Tensor:
    """uint8 images (n, H, W, 3) (greyscale converted) → float32 tensor (n, H, W, 3) in [0, 1]."""
    arr = check_images(images, name)
    return tf.convert_to_tensor(arr.astype(np.float32) / 255.0)


def coordinate_grid(x: tf.Tensor) -> tf.Tensor:
    """Append x and y coordinate channels in [-1, 1] to images (n, H, W, C) → (n, H, W, C + 2).

    Global average pooling forgets *where* a feature fired; these two channels let the CNN
    encode position, which "left of" / "above" captions need.
    """
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    ys = tf.linspace(-1.0, 1.0, h)
    xs = tf.linspace(-1.0, 1.0, w)
    gx, gy = tf.meshgrid(xs, ys)  # (h, w) each: x varies along the width
    grid = tf.cast(tf.stack([gx, gy], axis=-1), x.dtype)[None]
    return tf.concat([x, tf.tile(grid, [n, 1, 1, 1])], axis=-1)


def masked_mean(seq: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean over the real (mask True) time steps: seq (n, L, d), mask (n, L) bool → (n, d).

    A plain ``reduce_mean`` would average the padding in too, so the same caption padded to a
    different length would get a different vector.
    """
    m = tf.cast(mask, seq.dtype)[..., None]
    return tf.reduce_sum(seq * m, axis=1) / tf.maximum(tf.reduce_sum(m, axis=1), 1.0)


def masked_max(seq: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Max over the real time steps: seq (n, L, d), mask (n, L) bool → (n, d)."""
    neg = tf.fill(tf.shape(seq), tf.constant(-1e9, seq.dtype))
    return tf.reduce_max(tf.where(mask[..., None], seq, neg), axis=1)


class ImageEncoder(keras.Model):
    """Small CNN: [conv3×3 → 2×2 max-pool → BatchNorm → ReLU] per block, global average pooling,
    a two-layer projection head (the same design as ``mmcourse.torch.ImageEncoder``).

    ``call(x)`` with x float (n, H, W, 3) in [0, 1] → (n, embed_dim), not normalised;
    ``features(x)`` → (n, channels[-1]), the pooled CNN features. Any image size works.
    Parameters with the defaults (channels 16-32-64, head 256, embed_dim 128): about 64 k.
    """

    def __init__(self, embed_dim: int = 128, channels=(16, 32, 64), head_dim: int = 256,
                 coord_channels: bool = True, **kwargs):
        super().__init__(**kwargs)
        embed_dim = check_int(embed_dim, "embed_dim")
        head_dim = check_int(head_dim, "head_dim")
        channels = (channels,) if isinstance(channels, int) else tuple(channels)
        if not channels:
            raise ValueError("channels: expected a non-empty sequence of ints, got an empty one")
        for c in channels:
            check_int(c, "channels")
        self.config = dict(embed_dim=embed_dim, channels=list(channels), head_dim=head_dim,
                           coord_channels=bool(coord_channels))
        self.coord_channels = bool(coord_channels)
        self.blocks = []
        for i, c in enumerate(channels):
            self.blocks += [keras.layers.Conv2D(c, 3, padding="same", use_bias=False, name=f"conv{i}",
                                                kernel_initializer=torch_like_init()),
                            keras.layers.MaxPooling2D(2, padding="same"),
                            keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"bn{i}"),
                            keras.layers.ReLU()]
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head1 = torch_like_dense(head_dim, channels[-1], "head1", activation="relu")
        self.head2 = torch_like_dense(embed_dim, head_dim, "head2")
        self.feature_dim = channels[-1]
        self.embed_dim = embed_dim

    def features(self, x, training=False):
        """Pooled CNN features (n, channels[-1]) of float images (n, H, W, 3) in [0, 1]."""
        if len(x.shape) != 4 or x.shape[-1] != 3:
            raise ValueError(f"x: expected float images (n, H, W, 3), got shape {tuple(x.shape)}")
        h = x - 0.5
        if self.coord_channels:
            h = coordinate_grid(h)
        for layer in self.blocks:
            h = layer(h, training=training) if isinstance(layer, keras.layers.BatchNormalization) \
                else layer(h)
        return self.pool(h)

    def call(self, x, training=False):
        return self.head2(self.head1(self.features(x, training=training)))


class TextEncoder(keras.Model):
    """Word embeddings → GRU / LSTM (or bag of words) → pooling → projection.

    Padding never changes an embedding: token id 0 is padding, the embedding layer has
    ``mask_zero=True`` and the mask is also passed explicitly to the RNN (which then carries its
    state unchanged through padded steps) and to the masked mean / max pools.
    ``pooling="last"`` (the RNN's final state) keeps word order; "bow" ignores it by construction.

    ``call(ids)`` with ids int (n, L) right-padded with 0, at least one real token per row →
    (n, embed_dim), not normalised. Parameters with vocab_size=V and the defaults (word_dim 64,
    hidden 128, embed_dim 128): GRU ≈ 64·V + 91 k; LSTM ≈ 64·V + 116 k; bow ≈ 64·V + 25 k.
    """

    def __init__(self, vocab_size: int, rnn: str = "gru", embed_dim: int = 128, word_dim: int = 64,
                 hidden_dim: int = 128, pooling: str = "last", **kwargs):
        super().__init__(**kwargs)
        vocab_size = check_int(vocab_size, "vocab_size", minimum=2)
        check_choice(rnn, "rnn", RNN_KINDS)
        check_choice(pooling, "pooling", POOLINGS)
        embed_dim = check_int(embed_dim, "embed_dim")
        word_dim = check_int(word_dim, "word_dim")
        hidden_dim = check_int(hidden_dim, "hidden_dim")
        if rnn == "bow" and pooling == "last":
            pooling = "mean"
        self.config = dict(vocab_size=vocab_size, rnn=rnn, embed_dim=embed_dim, word_dim=word_dim,
                           hidden_dim=hidden_dim, pooling=pooling)
        self.rnn_kind, self.pooling, self.embed_dim = rnn, pooling, embed_dim
        self.embedding = keras.layers.Embedding(
            vocab_size, word_dim, mask_zero=True, name="embedding",
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0))  # as torch
        seqs = pooling != "last"
        self.rnn = None if rnn == "bow" else torch_like_rnn(rnn, hidden_dim, seqs)
        width = 2 * embed_dim if rnn == "bow" else embed_dim
        self.head1 = torch_like_dense(width, word_dim if rnn == "bow" else hidden_dim, "head1",
                                      activation="relu")
        self.head2 = torch_like_dense(embed_dim, width, "head2")

    def call(self, ids, training=False):
        ids = tf.convert_to_tensor(ids)
        if len(ids.shape) != 2:
            raise ValueError(f"ids: expected an int tensor (n, L), got shape {tuple(ids.shape)}")
        mask = tf.not_equal(ids, 0)
        x = self.embedding(ids)
        if self.rnn is None:
            seq = x
        else:
            out = self.rnn(x, mask=mask, training=training)
            if self.pooling == "last":
                return self.head2(self.head1(out))
            seq = out
        pooled = masked_max(seq, mask) if self.pooling == "max" else masked_mean(seq, mask)
        return self.head2(self.head1(pooled))


#: one encoder class per modality: modality → ``keras.Model`` class (see :func:`register_tower`)
TOWERS: dict = {"image": ImageEncoder, "text": TextEncoder}


def register_tower(modality, cls) -> None:
    """Register ``cls`` (a ``keras.layers.Layer`` subclass) as the encoder of ``modality``."""
    modality = check_modality_name(modality)
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise ValueError(f"cls: expected a keras.layers.Layer subclass, got {cls!r}")
    TOWERS[modality] = cls


class JointEncoder(TowerSet, keras.Model):
    """Any subset of towers (one per modality) projecting into one L2-normalised space.

    ``towers``: {modality: encoder layer}, each kept as attribute ``<modality>_encoder`` (in this
    order) and mapping its inputs to (n, embed_dim). A learnable ``logit_scale`` (log of
    1 / temperature, CLIP style, clamped to [0, log 100]) serves InfoNCE.
    ``encode(modality, *inputs, training=False)`` → unit-norm embeddings (n, d);
    ``model.towers`` / ``model.modalities`` list the towers; ``add_tower(modality, tower)`` adds one.
    """

    MAX_LOGIT_SCALE = math.log(100.0)

    def __init__(self, towers: dict, embed_dim: int, temperature: float = 0.07, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(temperature, (int, float)) and 0 < temperature < 10):
            raise ValueError(f"temperature: expected a float in (0, 10), got {temperature!r}")
        self._embed_dim = check_int(embed_dim, "embed_dim")
        if not isinstance(towers, dict):
            raise ValueError(f"towers: expected a dict {{modality: encoder}}, got {type(towers).__name__}")
        for modality, tower in towers.items():
            self.add_tower(modality, tower)
        self.logit_scale = self.add_weight(
            name="logit_scale", shape=(), trainable=True,
            initializer=keras.initializers.Constant(math.log(1.0 / float(temperature))))

    def _tower_items(self):
        return list(vars(self).items())

    def _is_tower(self, obj) -> bool:
        return isinstance(obj, keras.layers.Layer)

    @property
    def embed_dim(self) -> int:
        return self._embed_dim

    @property
    def temperature(self) -> float:
        """The current InfoNCE temperature, 1 / exp(logit_scale) after clamping."""
        return float(1.0 / tf.exp(self.clamped_logit_scale()))

    def clamped_logit_scale(self) -> tf.Tensor:
        return tf.clip_by_value(tf.convert_to_tensor(self.logit_scale), 0.0, self.MAX_LOGIT_SCALE)

    def encode(self, modality: str, *inputs, training=False) -> tf.Tensor:
        """The ``modality`` tower's inputs (e.g. float images (n, H, W, 3); ids (m, L)) →
        unit-norm embeddings (n, d)."""
        return tf.math.l2_normalize(self.tower(modality)(*inputs, training=training), axis=-1,
                                    epsilon=1e-12)


class DualEncoder(JointEncoder):
    """An image tower and a text tower projecting into one L2-normalised space.

    Holds the :class:`mmcourse.text.Vocabulary` used to encode captions and a learnable
    ``logit_scale`` (log of 1 / temperature, CLIP style, clamped to [0, log 100]) for InfoNCE.
    ``call((images, ids))`` → (image_emb (n, d), text_emb (m, d)), both unit-norm.
    With the defaults (d = 128, GRU, a vocabulary of ~50 words) about 160 k parameters.
    """

    def __init__(self, vocab, rnn: str = "gru", embed_dim: int = 128, channels=(16, 32, 64),
                 head_dim: int = 256, word_dim: int = 64, hidden_dim: int = 128,
                 pooling: str = "last", temperature: float = 0.07, **kwargs):
        if not hasattr(vocab, "encode") or not hasattr(vocab, "to_dict"):
            raise ValueError(f"vocab: expected an mmcourse.text.Vocabulary, got {type(vocab).__name__}")
        if not (isinstance(temperature, (int, float)) and 0 < temperature < 10):
            raise ValueError(f"temperature: expected a float in (0, 10), got {temperature!r}")
        image_encoder = TOWERS["image"](embed_dim, channels, head_dim, name="image_encoder")
        text_encoder = TOWERS["text"](len(vocab), rnn, embed_dim, word_dim, hidden_dim, pooling,
                                      name="text_encoder")
        super().__init__({"image": image_encoder, "text": text_encoder}, embed_dim, temperature,
                         **kwargs)
        self.vocab = vocab
        self.config = dict(rnn=rnn, embed_dim=embed_dim, channels=list(channels), head_dim=head_dim,
                           word_dim=word_dim, hidden_dim=hidden_dim, pooling=pooling,
                           temperature=float(temperature))

    def encode_images(self, x, training=False) -> tf.Tensor:
        """Float images (n, H, W, 3) in [0, 1] → unit-norm embeddings (n, d)."""
        return tf.math.l2_normalize(self.image_encoder(x, training=training), axis=-1, epsilon=1e-12)

    def encode_texts(self, ids, training=False) -> tf.Tensor:
        """Padded token ids (m, L) → unit-norm embeddings (m, d)."""
        return tf.math.l2_normalize(self.text_encoder(ids, training=training), axis=-1, epsilon=1e-12)

    def tokenize(self, texts, name: str = "texts") -> np.ndarray:
        """Strings → padded ids int32 (m, L); unknown words map to <unk>.

        An empty caption (no tokens) raises ValueError: it has no meaning to embed.
        """
        from ..text import pad_sequences

        seqs = [self.vocab.encode(t) for t in texts]
        for i, s in enumerate(seqs):
            if len(s) == 0:
                raise ValueError(f"{name}: expected non-empty captions, got {texts[i]!r} at "
                                 f"position {i} (no tokens)")
        ids, _ = pad_sequences(seqs)
        return np.asarray(ids, dtype=np.int32)

    def build_weights(self, image_size=(32, 32)) -> "DualEncoder":
        """Create every weight by running one dummy batch (needed before ``set_weights``)."""
        h, w = image_size
        self.encode_images(tf.zeros((1, h, w, 3)))
        self.encode_texts(tf.ones((1, 2), tf.int32))
        return self

    def call(self, inputs, training=False):
        images, ids = inputs
        return self.encode_images(images, training), self.encode_texts(ids, training)


def count_parameters(model) -> int:
    """Number of trainable parameters of a built Keras model or layer."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
