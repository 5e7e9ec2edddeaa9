"""Checkers for notebook 01k (CNN image features in Keras): Conv2D output shape, a coordinate-channel
layer, a small CNN encoder, cosine top-k in TensorFlow. References: Keras' own
``compute_output_shape``, ``mmcourse.keras.encoders.coordinate_grid`` and ``mmcourse.similarity``.
TensorFlow is imported inside the checkers only (never torch)."""
from __future__ import annotations

import numpy as np

from ..check import expect_close, expect_equal, fail, register


def _keras():
    import keras  # lazy: checker modules stay import-light and never load torch

    return keras


@register("nb01k-conv-shape", why="Keras' 'valid' and 'same' padding decide every layer's output size.")
def check_conv_shape(conv_output_shape):
    keras = _keras()
    cases = [((32, 32, 3), 16, 3, 1, "same"), ((32, 32, 3), 16, 3, 1, "valid"),
             ((33, 31, 3), 8, 3, 2, "same"), ((33, 31, 3), 8, 3, 2, "valid"),
             ((7, 9, 1), 4, 5, 3, "same"), ((28, 28, 16), 32, 1, 1, "valid"),
             ((10, 12, 5), 2, 4, 4, "valid")]
    for shape, filters, k, s, padding in cases:
        layer = keras.layers.Conv2D(filters, k, strides=s, padding=padding)
        expected = tuple(layer.compute_output_shape((None, *shape))[1:])
        got = conv_output_shape(shape, filters, k, strides=s, padding=padding)
        got = tuple(int(v) for v in got) if isinstance(got, (tuple, list)) else got
        expect_equal(got, expected, f"input {shape}, {filters} filters, kernel {k}, strides {s}, "
                     f"padding={padding!r}",
                     "'valid': (n - k) // s + 1; 'same': ceil(n / s) = (n + s - 1) // s; "
                     "the last axis becomes the number of filters")


@register("nb01k-addcoords", twins=("mmcourse.keras.encoders:coordinate_grid",),
          why="Pooling forgets where features fired; coordinate channels "
          "let the CNN keep positions, which 'left of' / 'above' captions need.")
def check_add_coords(AddCoords):
    keras = _keras()
    import tensorflow as tf

    from ...keras.encoders import coordinate_grid

    layer = AddCoords()
    if not isinstance(layer, keras.layers.Layer):
        fail("AddCoords()", "a keras.layers.Layer subclass", type(layer).__name__,
             "class AddCoords(keras.layers.Layer): ... with a call(self, x) method")
    rng = np.random.default_rng(0)
    for shape in [(1, 2, 3, 1), (2, 5, 5, 3), (3, 4, 7, 2)]:
        x = tf.constant(rng.normal(size=shape).astype(np.float32))
        expect_close(np.asarray(layer(x)), coordinate_grid(x).numpy(), f"an input of shape {shape}",
                     "append 2 channels: x = linspace(-1, 1, W) varying along the width, then "
                     "y = linspace(-1, 1, H) varying along the height", atol=1e-5)
    model = keras.Sequential([keras.Input((None, None, 3)), AddCoords(),
                              keras.layers.Conv2D(4, 3, padding="same")])
    out = model(tf.zeros((2, 6, 8, 3)))
    expect_equal(tuple(out.shape), (2, 6, 8, 4), "inside a Sequential model with unknown image size",
                 "use tf.shape(x) (dynamic) rather than x.shape (static, may be None)")


def _reference_params(embed_dim: int) -> int:
    """Conv kernels (no bias) + BatchNorm (4 per channel, 2 trainable) + the Dense head."""
    return (3 * 16 + 16 * 32 + 32 * 64) * 9 + 4 * (16 + 32 + 64) + 64 * embed_dim + embed_dim


@register("nb01k-cnn", twins=("mmcourse.keras.encoders:ImageEncoder.__init__",),
          why="Conv blocks + global average pooling give a small encoder that works "
          "for any image size and does not overfit like a flattened head.")
def check_cnn(build_cnn):
    keras = _keras()
    import tensorflow as tf

    for embed_dim in (32, 10):
        model = build_cnn(embed_dim)
        if not isinstance(model, keras.Model):
            fail(f"build_cnn({embed_dim})", "a keras.Model", type(model).__name__)
        for size in (32, 48):
            out = model(tf.zeros((2, size, size, 3)), training=False)
            expect_equal(tuple(out.shape), (2, embed_dim), f"build_cnn({embed_dim}) on {size} px images",
                         "end with GlobalAveragePooling2D and Dense(embed_dim); a Flatten head "
                         "only works for one image size")
        convs = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        expect_equal(convs, [16, 32, 64], f"build_cnn({embed_dim}): Conv2D filters",
                     "three Conv2D layers with 16, 32 and 64 filters")
        if not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
            fail(f"build_cnn({embed_dim})", "BatchNormalization after each Conv2D", "no BatchNormalization")
        expect_equal(int(model.count_params()), _reference_params(embed_dim),
                     f"build_cnn({embed_dim}).count_params()",
                     "Conv2D(kernel 3, padding='same', use_bias=False) → BatchNormalization → ReLU → "
                     "MaxPooling2D(2), three times, then GlobalAveragePooling2D and Dense(embed_dim)")


@register("nb01k-topk", twins=("mmcourse.similarity:top_k", "mmcourse.similarity:cosine_similarity", "mmcourse.search:search_text_to_image", "mmcourse.search:search_image_to_image",),
          why="Search is a similarity matrix and a top-k: the same two lines in "
          "every framework.")
def check_topk(cosine_top_k):
    from ...similarity import cosine_similarity, top_k

    rng = np.random.default_rng(3)
    cases = [("3 queries, 10 items, k=4", rng.normal(size=(3, 5)), rng.normal(size=(10, 5)), 4),
             ("k equal to the number of items", rng.normal(size=(2, 3)), rng.normal(size=(6, 3)), 6),
             ("items of very different lengths (cosine ignores length)",
              rng.normal(size=(2, 4)), rng.normal(size=(8, 4)) * rng.uniform(0.1, 50, size=(8, 1)), 3),
             ("duplicate items (ties keep the lower index first)", np.eye(2),
              np.array([[1.0, 0], [0, 1], [1.0, 0], [0, 2.0]]), 2)]
    for case, q, items, k in cases:
        exp_idx, exp_val = top_k(cosine_similarity(q, items), k)
        got = cosine_top_k(q.astype(np.float32), items.astype(np.float32), k)
        if not (isinstance(got, tuple) and len(got) == 2):
            fail(case, "a tuple (indices, values)", type(got).__name__)
        expect_equal(np.asarray(got[0]).astype(np.int64), exp_idx.astype(np.int64), case + " (indices)",
                     "normalise both sides with tf.math.l2_normalize(axis=1), multiply, tf.math.top_k")
        expect_close(np.asarray(got[1]), exp_val, case + " (values)", rtol=1e-4, atol=1e-5)
