"""The audio tower: spoken captions → the joint image–text space (ImageBind-style binding).

Pipeline: waveform (16 kHz mono float) → 40-bin log-mel (25 ms Hamming windows, 10 ms hop,
pre-emphasis), pooled to 20 ms frames, per-utterance mean/variance normalisation →
:class:`AudioEncoder` (three stride-2 Conv1d layers with masked BatchNorm, a GRU, masked mean+max
pooling, a linear projection) → an L2-normalised vector in the images' space.

:func:`bind_audio_tower` trains only the audio tower, with InfoNCE against the *frozen* text tower's
embeddings of the spoken captions (identical caption strings count as positives), so the image and
text towers — and every embedding already computed with them — stay exactly as they were.

Typical use::

    from mmcourse.torch.audio import load_speech_model, embed_audio
    from mmcourse.torch import embed_images
    model = load_speech_model()                      # trained once (≈ 1–2 min), then cached
    a = embed_audio(model, [wave], sample_rate=16000)  # (1, d) float32, unit norm
    scores = a @ embed_images(model, images).T

Input policy of :func:`embed_audio` (and :func:`audio_features`), the same as ``mmcourse.audio``:
int16 / int32 PCM is **converted** to float in [-1, 1] (divided by 32768 / 2**31); stereo is
**refused** (the channel axis is ambiguous) with a ValueError saying how to mix down.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .._validation import check_choice, check_int, describe
from .encoders import DualEncoder

#: the sample rate the features are computed at; other rates are resampled to it
SAMPLE_RATE = 16000
#: longest accepted clip, in seconds
MAX_SECONDS = 60.0
#: shortest accepted clip, in seconds (one 25 ms analysis window)
MIN_SECONDS = 0.025
#: feature parameters (log-mel, then ``pool`` consecutive 10 ms frames averaged → 20 ms frames)
FEATURES = dict(n_mels=40, frame_ms=25.0, hop_ms=10.0, pre_emphasis=0.97, pool=2)


# ----------------------------------------------------------------------------- input checks
def _check_sample_rate(sample_rate, name: str = "sample_rate") -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(sample_rate)) or float(sample_rate) != int(sample_rate) \
            or int(sample_rate) <= 0:
        raise ValueError(f"{name}: expected a positive integer number of samples per second "
                         f"(e.g. 16000), got {sample_rate!r}")
    return int(sample_rate)


def _check_waveform(x, name: str, sample_rate: int) -> np.ndarray:
    """One clip → float32 1-D array at ``sample_rate`` (validated, not yet resampled)."""
    from ..audio import check_waveform

    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    arr = check_waveform(x, sample_rate, name, allow_silence=False, max_seconds=MAX_SECONDS)
    if arr.size < MIN_SECONDS * sample_rate:
        raise ValueError(f"{name}: expected a clip of at least {MIN_SECONDS * 1000:g} ms, got "
                         f"{arr.size / sample_rate * 1000:.1f} ms ({arr.size} samples at {sample_rate} Hz)")
    return arr.astype(np.float32, copy=False)


def _resample(x: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == SAMPLE_RATE:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(SAMPLE_RATE, sample_rate)
    return resample_poly(x, SAMPLE_RATE // g, sample_rate // g).astype(np.float32)


def check_waveforms(waveforms, sample_rate=SAMPLE_RATE, name: str = "waveforms") -> list[np.ndarray]:
    """Validate a list of 1-D float clips and resample them to 16 kHz: list of float32 arrays.

    Refused with a ValueError naming ``name`` (and the clip's position): an empty list, a bare
    array (wrap one clip in a list), an empty or all-zero clip, NaN/inf, stereo, integer PCM other
    than int16 / int32 (those are converted to [-1, 1]), a clip shorter than 25 ms or longer
    than 60 s; ``sample_rate`` <= 0.
    """
    sample_rate = _check_sample_rate(sample_rate)
    if isinstance(waveforms, np.ndarray) or torch.is_tensor(waveforms):
        raise ValueError(f"{name}: expected a list of 1-D float arrays (one per clip), got a single "
                         f"array of shape {tuple(waveforms.shape)}; wrap one clip as [clip]")
    if isinstance(waveforms, (str, bytes)) or not hasattr(waveforms, "__len__") \
            or not hasattr(waveforms, "__getitem__"):
        raise ValueError(f"{name}: expected a list of 1-D float arrays, got {describe(waveforms)}")
    if len(waveforms) == 0:
        raise ValueError(f"{name}: expected at least one clip, got an empty list")
    return [_resample(_check_waveform(waveforms[i], f"{name}[{i}]", sample_rate), sample_rate)
            for i in range(len(waveforms))]


# ----------------------------------------------------------------------------- features
def _pool_normalise(m: np.ndarray) -> np.ndarray:
    pool = FEATURES["pool"]
    n = max(len(m) // pool, 1)
    if len(m) >= pool:
        m = m[: n * pool].reshape(n, pool, -1).mean(axis=1)
    m = m - m.mean(axis=0, keepdims=True)
    return (m / np.maximum(m.std(axis=0, keepdims=True), 1e-3)).astype(np.float32)


def features_from_checked(clips, chunk: int = 256) -> list[np.ndarray]:
    """Validated 16 kHz float clips → list of float32 (n_frames, 40): ``mmcourse.audio`` log-mel
    (dB), pooled to 20 ms frames, normalised per utterance (zero mean, unit variance per bin)."""
    from ..audio import log_mel_batch

    p = FEATURES
    out = []
    for i in range(0, len(clips), chunk):
        mels = log_mel_batch(clips[i:i + chunk], SAMPLE_RATE, n_mels=p["n_mels"],
                             frame_ms=p["frame_ms"], hop_ms=p["hop_ms"],
                             pre_emphasis=p["pre_emphasis"])
        out += [_pool_normalise(m) for m in mels]
    return out


def audio_features(waveforms, sample_rate=SAMPLE_RATE) -> list[np.ndarray]:
    """Clips (list of 1-D float arrays, any rate) → list of float32 (n_frames, 40) features,
    one 20 ms frame per row (time first)."""
    return features_from_checked(check_waveforms(waveforms, sample_rate))


def pad_features(features) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (T_i, n_mels) arrays → (x float (n, max T, n_mels) zero-padded, lengths int64 (n,))."""
    lengths = torch.as_tensor([len(f) for f in features], dtype=torch.int64)
    x = torch.zeros(len(features), int(lengths.max()), features[0].shape[1])
    for i, f in enumerate(features):
        x[i, : len(f)] = torch.as_tensor(f)
    return x, lengths


# ----------------------------------------------------------------------------- the encoder
class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over (n, C, T) whose training statistics use only the unpadded frames.

    Padding therefore never changes another item's output, in training or in eval mode.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # mask (n, 1, T) float
        if not self.training:
            return super().forward(x)
        count = mask.sum().clamp_min(1.0)
        mean = (x * mask).sum(dim=(0, 2)) / count
        var = (((x - mean[None, :, None]) ** 2) * mask).sum(dim=(0, 2)) / count
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean)
            self.running_var.mul_(1 - m).add_(m * var * count / (count - 1).clamp_min(1.0))
            self.num_batches_tracked += 1
        y = (x - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        return y * self.weight[None, :, None] + self.bias[None, :, None]


class AudioEncoder(nn.Module):
    """Conv-over-time (DAVEnet-style, scaled to CPU) + GRU + masked mean/max pooling → (n, d).

    Each Conv1d (kernel 5, stride 2) halves the frame rate (20 → 160 ms per frame after three);
    after every layer the frames beyond an item's own length are zeroed, BatchNorm statistics skip
    them, the GRU runs on packed sequences and the pools mask them: padding a batch changes no
    item's embedding. Shapes: ``forward(x, lengths)`` with x float (n, T, n_mels) and lengths
    int64 (n,) in [1, T] → (n, embed_dim), not normalised. With the defaults (40 mels, channels
    64-128-128, GRU 128, d 128): 268,288 parameters.
    """

    def __init__(self, n_mels: int = 40, embed_dim: int = 128, channels=(64, 128, 128),
                 kernel_size: int = 5, hidden_dim: int = 128, rnn: bool = True):
        super().__init__()
        n_mels = check_int(n_mels, "n_mels")
        embed_dim = check_int(embed_dim, "embed_dim")
        kernel_size = check_int(kernel_size, "kernel_size")
        hidden_dim = check_int(hidden_dim, "hidden_dim")
        channels = [check_int(c, "channels") for c in channels]
        if not channels:
            raise ValueError("channels: expected a non-empty sequence of ints, got an empty one")
        self.config = dict(n_mels=n_mels, embed_dim=embed_dim, channels=channels,
                           kernel_size=kernel_size, hidden_dim=hidden_dim, rnn=bool(rnn))
        self.kernel_size, self.embed_dim = kernel_size, embed_dim
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        c_in = n_mels
        for c in channels:
            self.convs.append(nn.Conv1d(c_in, c, kernel_size, stride=2, padding=kernel_size // 2,
                                        bias=False))
            self.norms.append(MaskedBatchNorm1d(c))
            c_in = c
        self.rnn = nn.GRU(c_in, hidden_dim, batch_first=True) if rnn else None
        out = hidden_dim if rnn else c_in
        self.proj = nn.Linear(2 * out, embed_dim)

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames left after the strided convolutions, for input lengths (n,)."""
        k, p = self.kernel_size, self.kernel_size // 2
        for _ in self.convs:
            lengths = torch.div(lengths + 2 * p - k, 2, rounding_mode="floor") + 1
        return lengths.clamp_min(1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.config["n_mels"]:
            raise ValueError(f"x: expected a float tensor (n, T, {self.config['n_mels']}), got shape "
                             f"{tuple(x.shape)}")
        lengths = torch.as_tensor(lengths).to(torch.int64).cpu()
        if lengths.shape != (x.shape[0],) or (len(lengths) and (lengths.min() < 1
                                                                 or lengths.max() > x.shape[1])):
            raise ValueError(f"lengths: expected {x.shape[0]} values in [1, {x.shape[1]}], got "
                             f"{lengths.tolist()[:8]}")
        x = x[:, : int(lengths.max())].transpose(1, 2)  # (n, n_mels, T)
        k, p = self.kernel_size, self.kernel_size // 2
        lens = lengths
        mask = (torch.arange(x.shape[2])[None, :] < lens[:, None]).to(x.dtype)[:, None, :].to(x.device)
        x = x * mask
        for conv, norm in zip(self.convs, self.norms):
            lens = (torch.div(lens + 2 * p - k, 2, rounding_mode="floor") + 1).clamp_min(1)
            x = conv(x)
            mask = (torch.arange(x.shape[2])[None, :] < lens[:, None]).to(x.dtype)[:, None, :]
            mask = mask.to(x.device)
            x = F.relu(norm(x, mask)) * mask
        seq = x.transpose(1, 2)  # (n, T', C)
        if self.rnn is not None:
            packed = pack_padded_sequence(seq, lens, batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            seq, _ = pad_packed_sequence(out, batch_first=True, total_length=seq.shape[1])
        m = mask.transpose(1, 2)  # (n, T', 1)
        mean = (seq * m).sum(dim=1) / m.sum(dim=1)
        mx = seq.masked_fill(m == 0, float("-inf")).amax(dim=1)
        return self.proj(torch.cat([mean, mx], dim=1))


class SpeechModel(DualEncoder):
    """A :class:`DualEncoder` (image and text towers) with an audio tower in the same space.

    ``embed_images`` / ``embed_texts`` work on it unchanged; :func:`embed_audio` uses
    ``audio_encoder``. Build one from a trained dual encoder with :meth:`from_dual_encoder`.
    """

    def __init__(self, vocab, audio: dict | None = None, **config):
        super().__init__(vocab, **config)
        self.audio_config = dict(audio or {})
        self.audio_config.setdefault("embed_dim", self.config["embed_dim"])
        self.audio_encoder = AudioEncoder(**self.audio_config)
        #: log(1 / temperature) of the audio–text InfoNCE (learned while binding)
        self.audio_logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @classmethod
    def from_dual_encoder(cls, dual: DualEncoder, seed: int = 0, **audio) -> "SpeechModel":
        """A SpeechModel holding a copy of ``dual``'s towers and a fresh (seeded) audio tower."""
        if not isinstance(dual, DualEncoder):
            raise ValueError(f"model: expected a mmcourse.torch.DualEncoder, got {type(dual).__name__}")
        config = dict(dual.config)
        if config.get("backbone") == "resnet18":
            config["backbone_weights"] = "none"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls(dual.vocab, audio=audio, **config)
        own = model.state_dict()
        own.update({k: v.detach().clone() for k, v in dual.state_dict().items()})
        model.load_state_dict(own)
        return model.to(next(dual.parameters()).device)

    def encode_audio(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Padded features (n, T, n_mels) and lengths (n,) → unit-norm embeddings (n, d)."""
        return F.normalize(self.audio_encoder(x, lengths), dim=-1)

    def saved_config(self) -> dict:
        return dict(super().saved_config(), audio=dict(self.audio_config))

    @classmethod
    def from_saved(cls, payload: dict):
        return super().from_saved(payload, audio=payload["audio"])


# ----------------------------------------------------------------------------- embedding
def _batches_by_length(lengths: np.ndarray, batch_size: int):
    order = np.argsort(lengths, kind="stable")
    for i in range(0, len(order), batch_size):
        yield order[i:i + batch_size]


@torch.no_grad()
def embed_features(model: SpeechModel, features, batch_size: int = 256) -> np.ndarray:
    """Precomputed features (list of (T_i, 40) arrays) → float32 (n, d) unit rows, in input order."""
    if not isinstance(model, SpeechModel):
        raise ValueError(f"model: expected a mmcourse.torch.audio.SpeechModel (with an audio tower), "
                         f"got {type(model).__name__}")
    batch_size = check_int(batch_size, "batch_size")
    dev = next(model.parameters()).device
    out = np.zeros((len(features), model.embed_dim), np.float32)
    was_training = model.training
    model.eval()
    try:
        for idx in _batches_by_length(np.array([len(f) for f in features]), batch_size):
            x, lengths = pad_features([features[i] for i in idx])
            out[idx] = model.encode_audio(x.to(dev), lengths).float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def embed_audio(model: SpeechModel, waveforms, sample_rate=SAMPLE_RATE, batch_size: int = 256) -> np.ndarray:
    """Spoken clips (list of 1-D float arrays, 0.2–20 s recommended, ≤ 60 s) → float32 (n, d)
    unit-norm rows in the images' space. Other sample rates are resampled to 16 kHz
    (``scipy.signal.resample_poly``); int16 / int32 PCM is converted, stereo refused."""
    if not isinstance(model, SpeechModel):
        raise ValueError(f"model: expected a mmcourse.torch.audio.SpeechModel (with an audio tower), "
                         f"got {type(model).__name__}")
    return embed_features(model, audio_features(waveforms, sample_rate), batch_size)


# ----------------------------------------------------------------------------- training inputs
def _audio_inputs(model, modality, dev):
    """Spoken items (lazy waveforms) → take(idx) = (padded features (b, T, 40), lengths (b,)) for
    the course's training loop; each item is rendered and featurised once, on first use."""
    rate = _check_sample_rate(modality.info.get("sample_rate", SAMPLE_RATE), "dataset.sample_rate")
    done: dict = {}

    def take(idx):
        wanted = [int(j) for j in idx.tolist()]
        missing = [j for j in dict.fromkeys(wanted) if j not in done]
        if missing:
            clips = [_resample(_check_waveform(modality.items[j], f"audio[{j}]", rate), rate)
                     for j in missing]
            done.update(zip(missing, features_from_checked(clips)))
        x, lengths = pad_features([done[j] for j in wanted])
        return x.to(dev), lengths

    return take


# ----------------------------------------------------------------------------- binding
def _split_indices(dataset, split: str) -> np.ndarray:
    return np.flatnonzero(np.asarray(dataset.split)[np.asarray(dataset.caption_image)] == split)


def _audio_of(dataset):
    if not hasattr(dataset, "get"):
        raise ValueError(f"dataset: expected a dataset with spoken captions (load it with "
                         f"mmcourse.load_dataset('shapes', modalities=('image', 'text', 'audio'))), "
                         f"got {type(dataset).__name__}")
    try:
        audio = dataset.get("audio")
    except (KeyError, ValueError) as exc:
        raise ValueError(f"dataset: expected a dataset with an 'audio' modality (load it with "
                         f"modalities=('image', 'text', 'audio')), got one without ({exc})") from None
    rate = getattr(dataset, "sample_rate", SAMPLE_RATE)
    return audio, rate


def precompute_features(dataset, indices, progress: bool = False) -> list[np.ndarray]:
    """Render and featurise the spoken captions ``indices`` of ``dataset``: list of (T, 40)."""
    audio, rate = _audio_of(dataset)
    it = indices
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(indices, desc="audio features", leave=False)
    rate = _check_sample_rate(rate, "dataset.sample_rate")
    return features_from_checked([_resample(_check_waveform(audio[int(j)], f"audio[{int(j)}]", rate),
                                            rate) for j in it])


def _cosine_lr(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    p = (step - warmup) / max(steps - warmup, 1)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * p))


TARGETS = ("text", "image", "both")


def bind_audio_tower(model: DualEncoder, dataset, *, steps: int = 500, batch_size: int = 128,
                     n_utterances: int = 6000, lr: float = 3e-3, weight_decay: float = 1e-4,
                     target: str = "text", bank_size: int = 2048, seed: int = 0,
                     progress: bool = True, num_threads: int | None = None, features=None,
                     audio: dict | None = None, distill: float = 0.0, distill_bank: int = 1024,
                     distill_temperature: float = 0.05):
    """Train an audio tower into a frozen dual encoder's space; ``(SpeechModel, history)``.

    Only the audio tower (and its temperature) learns; the image and text towers are copied and
    frozen. Each step draws ``batch_size`` spoken captions from one length bucket (so padding is
    small) of ``n_utterances`` training captions chosen with ``seed``, and minimises a symmetric
    InfoNCE between their audio embeddings and the frozen embeddings of their captions
    (``target="text"``), of the captions' images (``"image"``), or the mean of both losses
    (``"both"``). Identical caption strings count as positives. ``bank_size`` extra distinct
    training captions enter the audio→text direction as negatives. Linear warm-up, cosine decay;
    deterministic for a seed and a step count on the CPU.

    ``distill`` > 0 adds, with that weight, a ranking distillation: over ``distill_bank`` frozen
    training-image embeddings, the KL divergence from the caption's text→image distribution
    (softmax at ``distill_temperature``) to the utterance's speech→image one, so the audio tower
    learns to rank images as its caption does, not only to sit next to it.

    ``features``: optional precomputed ``(indices, list of (T, 40) arrays)`` (skips rendering).
    ``history``: dict with per-step ``loss``, and ``seconds`` for features and training.
    """
    from .embed import embed_images, embed_texts

    if not isinstance(model, DualEncoder):
        raise ValueError(f"model: expected a trained mmcourse.torch.DualEncoder, got {describe(model)}")
    steps = check_int(steps, "steps")
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    n_utterances = check_int(n_utterances, "n_utterances", minimum=2)
    bank_size = check_int(bank_size, "bank_size", minimum=0)
    check_choice(target, "target", TARGETS)
    distill_bank = check_int(distill_bank, "distill_bank")
    for name, v in (("distill", distill), ("distill_temperature", distill_temperature)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or not math.isfinite(v):
            raise ValueError(f"{name}: expected a non-negative number, got {v!r}")
    if not distill_temperature > 0:
        raise ValueError(f"distill_temperature: expected a positive number, got {distill_temperature!r}")
    for name, v in (("lr", lr), ("weight_decay", weight_decay)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or not math.isfinite(v):
            raise ValueError(f"{name}: expected a non-negative number, got {v!r}")
    if num_threads is not None:
        torch.set_num_threads(check_int(num_threads, "num_threads"))
    rng = np.random.default_rng(seed)
    history = {"loss": [], "seconds": {}}

    t0 = time.perf_counter()
    if features is None:
        train_idx = _split_indices(dataset, "train")
        if len(train_idx) < 2:
            raise ValueError(f"dataset: expected at least 2 training captions, got {len(train_idx)}")
        idx = np.sort(rng.choice(train_idx, min(n_utterances, len(train_idx)), replace=False))
        feats = precompute_features(dataset, idx, progress=progress)
    else:
        idx, feats = np.asarray(features[0], dtype=np.int64), list(features[1])
        if len(idx) != len(feats) or len(idx) < 2:
            raise ValueError(f"features: expected (indices, features) of the same length >= 2, got "
                             f"{len(idx)} indices and {len(feats)} feature arrays")
    history["seconds"]["features"] = time.perf_counter() - t0
    history["feature_bytes"] = int(sum(f.nbytes for f in feats))

    speech = SpeechModel.from_dual_encoder(model, seed=seed, **(audio or {}))
    speech.train()
    for name, p in speech.named_parameters():
        p.requires_grad_(name.startswith("audio_"))
    speech.image_encoder.eval()
    speech.text_encoder.eval()
    dev = next(speech.parameters()).device

    # frozen targets: one text embedding per distinct caption string, one image embedding per image
    captions = [dataset.captions[int(j)] for j in idx]
    uniq, cap_id = np.unique(np.asarray(captions, dtype=object).astype(str), return_inverse=True)
    txt = torch.as_tensor(embed_texts(speech, list(uniq))).to(dev)
    img_of = np.asarray(dataset.caption_image)[idx]
    if target != "text" or distill:
        uimg, img_id = np.unique(img_of, return_inverse=True)
        imgs = torch.as_tensor(embed_images(speech, np.asarray(dataset.images)[uimg])).to(dev)
    history["seconds"]["targets"] = time.perf_counter() - t0 - history["seconds"]["features"]

    lengths = np.array([len(f) for f in feats])
    order = np.argsort(lengths, kind="stable")
    n_buckets = max(1, len(order) // (4 * batch_size))
    buckets = np.array_split(order, n_buckets)
    weights = np.array([len(b) for b in buckets], float)
    weights /= weights.sum()
    params = [p for p in speech.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warmup = max(1, steps // 30)
    t1 = time.perf_counter()
    bar = range(steps)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(bar, desc="binding audio", leave=False)
    for step in bar:
        b = buckets[rng.choice(len(buckets), p=weights)]
        rows = rng.choice(b, min(batch_size, len(b)), replace=False)
        x, lens = pad_features([feats[i] for i in rows])
        a = speech.encode_audio(x.to(dev), lens)
        scale = speech.audio_logit_scale.clamp(0.0, math.log(100.0)).exp()
        losses = []
        if target in ("text", "both"):
            ids = cap_id[rows]
            cols, inv = np.unique(ids, return_inverse=True)
            if bank_size:
                extra = rng.choice(len(uniq), min(bank_size, len(uniq)), replace=False)
                extra = extra[~np.isin(extra, cols)]
                cols_all = np.concatenate([cols, extra])
            else:
                cols_all = cols
            logits = scale * a @ txt[torch.as_tensor(cols_all)].T  # (B, U + bank)
            inv_t = torch.as_tensor(inv)
            l_a2t = F.cross_entropy(logits, inv_t)
            # text→audio over the batch's distinct captions: every utterance of the string is positive
            pos = (inv_t[None, :] == torch.arange(len(cols))[:, None]).float()  # (U, B)
            lt = logits[:, : len(cols)].T.log_softmax(dim=1)
            l_t2a = -((lt * pos).sum(1) / pos.sum(1)).mean()
            losses.append(0.5 * (l_a2t + l_t2a))
        if target in ("image", "both"):
            ids = img_id[rows]
            cols, inv = np.unique(ids, return_inverse=True)
            logits = scale * a @ imgs[torch.as_tensor(cols)].T
            inv_t = torch.as_tensor(inv)
            pos = (inv_t[None, :] == torch.arange(len(cols))[:, None]).float()
            lt = logits.T.log_softmax(dim=1)
            losses.append(0.5 * (F.cross_entropy(logits, inv_t)
                                 - ((lt * pos).sum(1) / pos.sum(1)).mean()))
        loss = sum(losses) / len(losses)
        if distill:
            bank = imgs[torch.as_tensor(rng.choice(len(imgs), min(distill_bank, len(imgs)), replace=False))]
            teacher = (txt[torch.as_tensor(cap_id[rows])] @ bank.T / distill_temperature).softmax(dim=1)
            student = (a @ bank.T / distill_temperature).log_softmax(dim=1)
            loss = loss + distill * F.kl_div(student, teacher, reduction="batchmean")
        for g in opt.param_groups:
            g["lr"] = lr * _cosine_lr(step, steps, warmup)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history["loss"].append(float(loss.detach()))
    history["seconds"]["train"] = time.perf_counter() - t1
    for p in speech.parameters():
        p.requires_grad_(True)
    speech.eval()
    return speech, history


# ----------------------------------------------------------------------------- saving and the cache
def save_speech_model(model: SpeechModel, path) -> Path:
    """Save a SpeechModel (config, audio config, weights, vocabulary) to one ``.pt`` file
    (``mmcourse.torch.save_model``)."""
    from .persist import save_model

    if not isinstance(model, SpeechModel):
        raise ValueError(f"model: expected a SpeechModel, got {type(model).__name__}")
    return save_model(model, path)


def load_speech_model_file(path, device=None) -> SpeechModel:
    """Load a file written by :func:`save_speech_model`, in eval mode."""
    from .persist import load_model

    return load_model(path, device=device, kind="SpeechModel")


#: parameters of the speech model's binding run (``bind_audio_tower`` arguments)
#: (sized for the 90 s budget on 2 quiet cores: ≈ 4 ms to render + featurise one utterance,
#: ≈ 0.13 s per step at batch 128 — the prototype's figures; re-measure with ``make bench``)
SPEECH_PARAMS = dict(steps=500, batch_size=128, n_utterances=6000, target="text", distill=1.0, seed=0)
SPEECH_KEY_VERSION = "1"
_MEMORY: dict = {}


def speech_model_path(cache_dir=None, dataset_kwargs=None, **overrides) -> Path:
    """Where the cached speech model for these parameters lives (it may not exist yet).

    The key hashes the binding parameters, the dataset keyword arguments, this module's source,
    the default model's own cache key (so a retrained image–text model rebinds) and torch's version.
    """
    from ..data.cache import cache_dir as default_cache_dir, cache_key
    from .pretrained import default_model_path

    params = dict(SPEECH_PARAMS, **overrides)
    base = default_model_path("shapes", "default").name
    srcs = sorted(Path(__file__).parent.glob("audio*.py"))
    pkg = Path(__file__).resolve().parents[1]
    srcs += [p for p in (pkg / "audio.py",) if p.is_file()]
    srcs += sorted((pkg / "data").glob("speech*.py"))
    key = cache_key(dict(bind=params, data=dataset_kwargs or {}, base=base, torch=torch.__version__),
                    SPEECH_KEY_VERSION, srcs)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "models" / f"shapes-speech-{key}.pt"


def load_speech_model(progress: bool = True, cache_dir=None, dataset_kwargs=None, **overrides) -> SpeechModel:
    """The course's speech model: the default shapes dual encoder with a bound audio tower.

    Trained once (the default model if needed, then ≈ 1–2 min of binding on 2 CPU cores, seeded)
    and cached next to the other models; later calls load in well under a second. ``overrides``
    are :func:`bind_audio_tower` arguments and change the key.
    """
    from .. import _model_cache, load_dataset
    from .pretrained import load_default_model

    def build(path):
        base = load_default_model("shapes", progress=progress)
        kw = dict(modalities=("image", "text", "audio"), **(dataset_kwargs or {}))
        data = load_dataset("shapes", **kw)
        model, _ = bind_audio_tower(base, data, progress=progress, **dict(SPEECH_PARAMS, **overrides))
        save_speech_model(model, path)
        return model

    path = speech_model_path(cache_dir, dataset_kwargs, **overrides)
    return _model_cache.cached(path, _MEMORY, load_speech_model_file, build)


def _register():  # ``embed(model, "audio", ...)`` and training inputs, once the registries exist
    try:
        from .embed import register_embedder
        from .train import register_inputs
    except ImportError:
        return
    from .persist import register_model_kind

    register_embedder("audio", lambda model, items, **kw: embed_audio(model, items, **kw))
    register_inputs("audio", _audio_inputs)
    register_model_kind(SpeechModel)


_register()
