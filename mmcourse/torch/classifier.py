"""A CNN trained to predict an image's shape–colour labels, and feature extraction (notebook 01).

Its pooled CNN features make better image→image search keys than raw pixels: images sharing
labels end up close even when their objects sit in different places.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .._validation import check_int
from .device import get_device
from .encoders import DualEncoder, ImageEncoder, images_to_tensor


class AttributeClassifier(nn.Module):
    """:class:`ImageEncoder` whose head outputs one logit per label (multi-label, sigmoid).

    ``forward(x)``: float images (n, 3, H, W) in [0, 1] → logits (n, n_labels);
    ``features(x)`` → pooled CNN features (n, channels[-1]).
    """

    def __init__(self, n_labels: int, channels=(16, 32, 64), head_dim: int = 256,
                 label_names=None):
        super().__init__()
        n_labels = check_int(n_labels, "n_labels")
        if label_names is not None and len(label_names) != n_labels:
            raise ValueError(f"label_names: expected {n_labels} names, got {len(label_names)}")
        self.config = dict(n_labels=n_labels, channels=list(channels), head_dim=head_dim,
                           label_names=None if label_names is None else list(label_names))
        self.encoder = ImageEncoder(n_labels, channels, head_dim)
        self.label_names = self.config["label_names"]

    def saved_config(self) -> dict:
        """What rebuilds this model (``mmcourse.torch.save_model`` adds the weights)."""
        return dict(config=dict(self.config))

    @classmethod
    def from_saved(cls, payload: dict):
        return cls(**payload["config"])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


def train_attribute_classifier(dataset, steps: int = 300, batch_size: int = 128, lr: float = 3e-3,
                               seed: int = 0, device=None, progress: bool = True, **model_kw):
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
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr: expected a positive float, got {lr!r}")
    n_train = int((dataset.split == "train").sum())
    if n_train < 2:
        raise ValueError(f"dataset: expected at least 2 images in the 'train' split, got {n_train}")
    train = dataset.subset("train")
    dev = get_device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = AttributeClassifier(dataset.labels.shape[1], label_names=dataset.label_names,
                                **model_kw).to(dev)
    model.to(memory_format=torch.channels_last)
    x_all = images_to_tensor(train.images).to(dev)
    y_all = torch.as_tensor(train.labels, dtype=torch.float32, device=dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    history = {"step": [], "loss": [], "seconds": []}
    batch_size = min(batch_size, train.n_images)
    start = time.perf_counter()
    model.train()
    for step in tqdm(range(1, steps + 1), disable=not progress, desc="attributes", leave=False):
        idx = torch.from_numpy(rng.choice(train.n_images, batch_size, replace=False)).to(dev)
        loss = F.binary_cross_entropy_with_logits(model(x_all[idx]), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        history["step"].append(step)
        history["loss"].append(float(loss.detach()))
        history["seconds"].append(time.perf_counter() - start)
    model.eval()
    if (dataset.split == "val").any():
        val = dataset.subset("val")
        with torch.no_grad():
            pred = torch.cat([model(images_to_tensor(val.images[i:i + 512]).to(dev)).cpu()
                              for i in range(0, val.n_images, 512)]) > 0
        history["val_accuracy"] = [float((pred.numpy() == (val.labels > 0)).mean())]
    return model, history


@torch.no_grad()
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
    x = images_to_tensor(images)
    dev = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        out = [net.features(x[i:i + batch_size].to(dev)).float().cpu()
               for i in range(0, len(x), batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(out).numpy().astype(np.float32, copy=False)


def _register():  # save_model / load_model handle it
    from .persist import register_model_kind

    register_model_kind(AttributeClassifier)


_register()
