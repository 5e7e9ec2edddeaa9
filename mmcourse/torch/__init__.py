"""The PyTorch track: one encoder per modality, contrastive losses, training, embedding, caching.

Typical use::

    from mmcourse.torch import load_default_model, embed_images, embed_texts
    model = load_default_model("shapes")          # trained once (~1 min), then cached
    img = embed_images(model, test.images)        # (n, d) float32, unit norm
    txt = embed_texts(model, ["a red circle"])    # (1, d)
    scores = txt @ img.T                          # cosine similarities

This is the only part of ``mmcourse`` that imports torch.
"""
from .._frameworks import prepare_torch_import

prepare_torch_import()
import torch  # noqa: E402,F401  (after prepare_torch_import, on purpose)

from .backbones import ResNetImageEncoder, load_resnet18, resnet18_weights_path  # noqa: E402
from .classifier import AttributeClassifier, extract_features, train_attribute_classifier  # noqa: E402
from .device import get_device  # noqa: E402
from .embed import embed, embed_images, embed_texts, make_text_encoder_fn, register_embedder  # noqa: E402
from .encoders import (TOWERS, DualEncoder, ImageEncoder, JointEncoder, TextEncoder,  # noqa: E402
                       count_parameters, images_to_tensor, register_tower)
from .losses import info_nce_loss, twin_loss, vse_hinge_loss  # noqa: E402
from .persist import load_model, save_model  # noqa: E402
from .pretrained import default_model_path, load_default_model  # noqa: E402
from .train import DEFAULT_STEPS, register_inputs, train_dual_encoder  # noqa: E402

__all__ = [
    "ImageEncoder", "TextEncoder", "DualEncoder", "JointEncoder", "TOWERS", "register_tower",
    "embed", "register_embedder", "ResNetImageEncoder", "AttributeClassifier",
    "info_nce_loss", "twin_loss", "vse_hinge_loss", "train_dual_encoder", "train_attribute_classifier",
    "embed_images", "embed_texts", "extract_features", "make_text_encoder_fn",
    "save_model", "load_model", "load_default_model", "default_model_path",
    "load_resnet18", "resnet18_weights_path", "get_device", "count_parameters",
    "images_to_tensor", "DEFAULT_STEPS", "register_inputs",
]

#: names of the audio tower's module, imported on first use (``mmcourse.torch.embed_audio``)
_AUDIO_NAMES = ("embed_audio", "AudioEncoder", "SpeechModel", "load_speech_model")


#: names of the video tower's module, imported on first use (``mmcourse.torch.embed_videos``)
_VIDEO_NAMES = ("embed_videos", "VideoEncoder", "VideoModel", "train_video_model", "load_video_model")


def __getattr__(name):
    if name in _AUDIO_NAMES:
        from . import audio

        return getattr(audio, name)
    if name in _VIDEO_NAMES:
        from . import video

        return getattr(video, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
