"""The towers of the joint model: a small CNN for images, an RNN (or bag of words) for text.

Each maps its input to a ``(batch, embed_dim)`` vector. ``TOWERS`` is the registry of one encoder
class per modality (a modality's own module adds its class with :func:`register_tower`);
:class:`JointEncoder` holds any subset of towers and L2-normalises their outputs so that a dot
product is a cosine similarity in one shared space; :class:`DualEncoder` is its image + text case.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from .._towers import TowerSet, check_modality_name
from .._validation import check_choice, check_images, check_int

RNN_KINDS = ("gru", "lstm", "bow")
POOLINGS = ("last", "mean", "max")


def images_to_tensor(images, name: str = "images") -> torch.Tensor:
    """uint8 images (n, H, W, 3) (greyscale converted) → float tensor (n, 3, H, W) in [0, 1].

    The result uses the ``channels_last`` memory format, ~1.4× faster convolutions on CPU.
    """
    arr = check_images(images, name)
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float().div_(255.0)
    return t.contiguous(memory_format=torch.channels_last)


class ImageEncoder(nn.Module):
    """Small CNN: [conv3×3 → 2×2 max-pool → BatchNorm → ReLU] per block, global average pooling,
    a two-layer projection head.

    Pooling before BatchNorm and ReLU (the classic order is conv → BN → ReLU → pool) runs the
    normalisation on a 4× smaller map: the image tower's training step is ~1.6× faster on CPU, so
    more steps fit the course's time budget (and it measured better on the shapes dataset).

    Two coordinate channels (x, y in [-1, 1]) are appended to the RGB input so that pooled
    features still know *where* things are (needed for "left of" / "above" captions).
    Works for any image size (pooling stops shrinking at 1×1).

    Shapes: ``forward(x)`` with x float (n, 3, H, W) in [0, 1] → (n, embed_dim), not normalised;
    ``features(x)`` → (n, channels[-1]), the pooled CNN features.
    Parameters with the defaults (channels 16-32-64, head 256, embed_dim 128): 73,520.
    """

    def __init__(self, embed_dim: int = 128, channels=(16, 32, 64), head_dim: int = 256,
                 coord_channels: bool = True):
        super().__init__()
        embed_dim = check_int(embed_dim, "embed_dim")
        head_dim = check_int(head_dim, "head_dim")
        channels = tuple(channels) if not isinstance(channels, int) else (channels,)
        if not channels:
            raise ValueError("channels: expected a non-empty sequence of ints, got an empty one")
        for c in channels:
            check_int(c, "channels")
        self.config = dict(embed_dim=embed_dim, channels=list(channels), head_dim=head_dim,
                           coord_channels=bool(coord_channels))
        self.coord_channels = bool(coord_channels)
        blocks, c_in = [], 3 + (2 if coord_channels else 0)
        for c_out in channels:
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                       nn.MaxPool2d(2, ceil_mode=True), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.cnn = nn.Sequential(*blocks)
        self.feature_dim = c_in
        self.head = nn.Sequential(nn.Linear(c_in, head_dim), nn.ReLU(inplace=True),
                                  nn.Linear(head_dim, embed_dim))
        self.embed_dim = embed_dim

    def _with_coords(self, x: torch.Tensor) -> torch.Tensor:
        if not self.coord_channels:
            return x
        n, _, h, w = x.shape
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"))  # (2, h, w): x then y
        out = torch.cat([x, grid.unsqueeze(0).expand(n, -1, -1, -1)], dim=1)
        return out.contiguous(memory_format=torch.channels_last)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled CNN features (n, channels[-1]) of float images (n, 3, H, W) in [0, 1]."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x: expected a float tensor (n, 3, H, W), got shape {tuple(x.shape)}")
        h = self.cnn(self._with_coords(x - 0.5))
        return h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TextEncoder(nn.Module):
    """Word embeddings → recurrent layer (GRU / LSTM) or bag of words → pooling → projection.

    Padding never changes an embedding: RNNs run on packed sequences (each caption stops at its
    own length), and the mean / max pools mask the padded positions. ``pooling="last"`` (the
    RNN's final hidden state) keeps word order; "bow" ignores it by construction.

    Shapes: ``forward(ids, lengths)`` with ids int64 (n, L) padded with 0 and lengths int64 (n,)
    ≥ 1 → (n, embed_dim), not normalised. Parameters with vocab_size=V and the defaults
    (word_dim 64, hidden 128, embed_dim 128): GRU 64·V + 107,520; LSTM 64·V + 132,352;
    bow 64·V + 49,536.
    """

    def __init__(self, vocab_size: int, rnn: str = "gru", embed_dim: int = 128, word_dim: int = 64,
                 hidden_dim: int = 128, pooling: str = "last"):
        super().__init__()
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
        self.embedding = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        if rnn == "gru":
            self.rnn = nn.GRU(word_dim, hidden_dim, batch_first=True)
        elif rnn == "lstm":
            self.rnn = nn.LSTM(word_dim, hidden_dim, batch_first=True)
        else:
            self.rnn = None
        out_dim = word_dim if rnn == "bow" else hidden_dim
        self.head = nn.Sequential(nn.Linear(out_dim, 2 * embed_dim if rnn == "bow" else embed_dim),
                                  nn.ReLU(inplace=True),
                                  nn.Linear(2 * embed_dim if rnn == "bow" else embed_dim, embed_dim))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2:
            raise ValueError(f"ids: expected an int tensor (n, L), got shape {tuple(ids.shape)}")
        lengths = torch.as_tensor(lengths).to(torch.int64).cpu()
        if lengths.shape != (ids.shape[0],):
            raise ValueError(f"lengths: expected shape ({ids.shape[0]},), got {tuple(lengths.shape)}")
        if len(lengths) and (lengths.min() < 1 or lengths.max() > ids.shape[1]):
            raise ValueError(f"lengths: expected values in [1, {ids.shape[1]}], got range "
                             f"[{int(lengths.min())}, {int(lengths.max())}]")
        ids = ids[:, : int(lengths.max())]  # extra padding columns never matter
        x = self.embedding(ids)  # (n, L, word_dim)
        mask = (torch.arange(ids.shape[1], device=ids.device)[None, :]
                < lengths.to(ids.device)[:, None])  # (n, L) True on real tokens
        if self.rnn is None:
            seq = x
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed)
            if self.pooling == "last":
                h = state[0] if isinstance(state, tuple) else state  # (1, n, hidden)
                return self.head(h[-1])
            seq, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                            total_length=ids.shape[1])
        if self.pooling == "max":
            pooled = seq.masked_fill(~mask[..., None], float("-inf")).amax(dim=1)
        else:
            m = mask[..., None].to(seq.dtype)
            pooled = (seq * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
        return self.head(pooled)


#: one encoder class per modality: modality → ``nn.Module`` class (see :func:`register_tower`)
TOWERS: dict = {"image": ImageEncoder, "text": TextEncoder}


def register_tower(modality, cls) -> None:
    """Register ``cls`` (an ``nn.Module`` subclass) as the encoder of ``modality`` in ``TOWERS``."""
    modality = check_modality_name(modality)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"cls: expected a torch.nn.Module subclass, got {cls!r}")
    TOWERS[modality] = cls


class JointEncoder(TowerSet, nn.Module):
    """Any subset of towers (one per modality) projecting into one L2-normalised space.

    ``towers``: {modality: encoder module}, each kept as attribute ``<modality>_encoder`` (in this
    order) and mapping its inputs to (n, embed_dim). A learnable ``logit_scale`` (log of
    1 / temperature, CLIP style, clamped to [0, log 100]) serves InfoNCE.
    ``encode(modality, *inputs)`` → unit-norm embeddings (n, d); ``model.towers`` /
    ``model.modalities`` list the towers; ``add_tower(modality, tower)`` adds one.
    """

    MAX_LOGIT_SCALE = math.log(100.0)

    def __init__(self, towers: dict, embed_dim: int, temperature: float = 0.07):
        super().__init__()
        if not (isinstance(temperature, (int, float)) and 0 < temperature < 10):
            raise ValueError(f"temperature: expected a float in (0, 10), got {temperature!r}")
        self._embed_dim = check_int(embed_dim, "embed_dim")
        if not isinstance(towers, dict):
            raise ValueError(f"towers: expected a dict {{modality: encoder}}, got {type(towers).__name__}")
        for modality, tower in towers.items():
            self.add_tower(modality, tower)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / float(temperature))))

    def _tower_items(self):
        return self.named_children()

    def _is_tower(self, obj) -> bool:
        return isinstance(obj, nn.Module)

    @property
    def embed_dim(self) -> int:
        return self._embed_dim

    @property
    def temperature(self) -> float:
        """The current InfoNCE temperature, 1 / exp(logit_scale) after clamping."""
        return float(1.0 / self.clamped_logit_scale().detach().exp())

    def clamped_logit_scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(0.0, self.MAX_LOGIT_SCALE)

    def encode(self, modality: str, *inputs) -> torch.Tensor:
        """The ``modality`` tower's inputs (e.g. images (n, 3, H, W); ids (m, L) and lengths
        (m,)) → unit-norm embeddings (n, d)."""
        return F.normalize(self.tower(modality)(*inputs), dim=-1)


class DualEncoder(JointEncoder):
    """An image tower and a text tower projecting into one L2-normalised space.

    Holds the :class:`mmcourse.text.Vocabulary` used to encode captions, and a learnable
    ``logit_scale`` (log of 1 / temperature, CLIP style, clamped to [0, log 100]) for InfoNCE.
    ``forward(images, ids, lengths)`` → (image_emb (n, d), text_emb (m, d)), both unit-norm.
    With the defaults (d = 128, GRU, vocabulary of ~50 words) about 185 k parameters.

    ``backbone="resnet18"`` uses torchvision's ResNet-18 with the ImageNet weights from the local
    ``torch.hub`` cache (``backbone_weights="auto"``; "none" = random init; or a state-dict path);
    when they are missing a warning says how to get them and the small CNN is used instead.
    """

    def __init__(self, vocab, rnn: str = "gru", embed_dim: int = 128, channels=(16, 32, 64),
                 head_dim: int = 256, word_dim: int = 64, hidden_dim: int = 128,
                 pooling: str = "last", temperature: float = 0.07, backbone: str = "cnn",
                 backbone_weights="auto"):
        if not hasattr(vocab, "encode") or not hasattr(vocab, "to_dict"):
            raise ValueError(f"vocab: expected an mmcourse.text.Vocabulary, got {type(vocab).__name__}")
        if not (isinstance(temperature, (int, float)) and 0 < temperature < 10):
            raise ValueError(f"temperature: expected a float in (0, 10), got {temperature!r}")
        check_choice(backbone, "backbone", ("cnn", "resnet18"))
        net = None
        if backbone == "resnet18":
            from .backbones import load_resnet18

            net = load_resnet18(backbone_weights)
            backbone = "resnet18" if net is not None else "cnn"
        if net is not None:
            from .backbones import ResNetImageEncoder

            image_encoder = ResNetImageEncoder(net, embed_dim=embed_dim, head_dim=head_dim)
        else:
            image_encoder = TOWERS["image"](embed_dim, channels, head_dim)
        text_encoder = TOWERS["text"](len(vocab), rnn, embed_dim, word_dim, hidden_dim, pooling)
        super().__init__({"image": image_encoder, "text": text_encoder}, embed_dim, temperature)
        self.vocab = vocab
        self.config = dict(rnn=rnn, embed_dim=embed_dim, channels=list(channels),
                           head_dim=head_dim, word_dim=word_dim, hidden_dim=hidden_dim,
                           pooling=pooling, temperature=float(temperature), backbone=backbone)

    def encode_images(self, x: torch.Tensor) -> torch.Tensor:
        """Float images (n, 3, H, W) in [0, 1] → unit-norm embeddings (n, d)."""
        return F.normalize(self.image_encoder(x), dim=-1)

    def encode_texts(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Padded token ids (m, L) and lengths (m,) → unit-norm embeddings (m, d)."""
        return F.normalize(self.text_encoder(ids, lengths), dim=-1)

    def tokenize(self, texts, name: str = "texts") -> tuple[torch.Tensor, torch.Tensor]:
        """Strings → (ids int64 (m, L), lengths int64 (m,)); unknown words map to <unk>.

        An empty caption (no tokens) raises ValueError: it has no meaning to embed.
        """
        from ..text import pad_sequences

        seqs = [self.vocab.encode(t) for t in texts]
        for i, s in enumerate(seqs):
            if len(s) == 0:
                raise ValueError(f"{name}: expected non-empty captions, got {texts[i]!r} at "
                                 f"position {i} (no tokens)")
        ids, lengths = pad_sequences(seqs)
        return torch.as_tensor(np.asarray(ids), dtype=torch.int64), \
            torch.as_tensor(np.asarray(lengths), dtype=torch.int64)

    def forward(self, images: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor):
        return self.encode_images(images), self.encode_texts(ids, lengths)

    def saved_config(self) -> dict:
        """What rebuilds this model (plain values; ``mmcourse.torch.save_model`` adds the weights)."""
        return dict(config=dict(self.config), vocab=self.vocab.to_dict())

    @classmethod
    def from_saved(cls, payload: dict, **extra):
        """A fresh model of the saved configuration (weights not loaded yet)."""
        from ..text import Vocabulary

        config = dict(payload["config"])
        if config.get("backbone") == "resnet18":
            config["backbone_weights"] = "none"  # the weights come from the state dict
        return cls(Vocabulary.from_dict(payload["vocab"]), **extra, **config)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
