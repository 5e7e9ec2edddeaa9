"""The TensorFlow/Keras track: the same towers, losses, training, embedding and caching as ``mmcourse.torch``.

Typical use::

    from mmcourse.keras import load_default_model, embed_images, embed_texts
    model = load_default_model("shapes")          # trained once (~1 min), then cached
    img = embed_images(model, test.images)        # (n, d) float32, unit norm
    txt = embed_texts(model, ["a red circle"])    # (1, d)
    scores = txt @ img.T                          # cosine similarities

This is the only part of ``mmcourse`` that imports TensorFlow; it never imports torch.
"""
import os

from .._frameworks import prepare_tensorflow_import

prepare_tensorflow_import()
# oneDNN kernels, which TensorFlow turns on by itself only on some Intel CPUs: on a 2-core AMD
# EPYC with AVX2 they halve the image tower's training step (63 -> 34 ms, forward and backward of
# a batch of 128) and bring the Keras default's training time level with PyTorch's; results stay
# deterministic for a seed. Read by TensorFlow at import only, so a learner who imports tensorflow
# before mmcourse.keras (or sets TF_ENABLE_ONEDNN_OPTS=0) trains with its plain kernels instead.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
import tensorflow  # noqa: E402,F401  (after prepare_tensorflow_import, on purpose)

from .classifier import AttributeClassifier, extract_features, train_attribute_classifier  # noqa: E402
from .embed import embed, embed_images, embed_texts, make_text_encoder_fn, register_embedder  # noqa: E402
from .encoders import (TOWERS, DualEncoder, ImageEncoder, JointEncoder, TextEncoder,  # noqa: E402
                       count_parameters, images_to_tensor, masked_mean, register_tower)
from .losses import info_nce_loss, twin_loss, vse_hinge_loss  # noqa: E402
from .persist import clone_model, load_model, save_model  # noqa: E402
from .pretrained import (default_model_path, load_default_model, load_pretrained_backbone,  # noqa: E402
                         pretrained_features)
from .train import DEFAULT_STEPS, train_dual_encoder  # noqa: E402

__all__ = [
    "ImageEncoder", "TextEncoder", "DualEncoder", "JointEncoder", "TOWERS", "register_tower",
    "embed", "register_embedder", "AttributeClassifier",
    "info_nce_loss", "twin_loss", "vse_hinge_loss", "train_dual_encoder", "train_attribute_classifier",
    "embed_images", "embed_texts", "extract_features", "make_text_encoder_fn",
    "save_model", "load_model", "clone_model", "load_default_model", "default_model_path",
    "load_pretrained_backbone", "pretrained_features", "count_parameters", "images_to_tensor",
    "masked_mean", "DEFAULT_STEPS",
]
