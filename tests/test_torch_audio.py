"""The PyTorch audio tower: features, AudioEncoder masking, SpeechModel, embed_audio, binding."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mmcourse.torch import audio as A  # noqa: E402
from mmcourse.torch.encoders import DualEncoder  # noqa: E402

SR = 16000
WORDS = ("a", "red", "blue", "circle", "square", "left", "of")


def _tone_speech(text: str, rng, sample_rate: int = SR) -> np.ndarray:
    """A stand-in for speech: each word a short two-tone chirp of its own, with noise."""
    out = []
    for w in text.split():
        k = WORDS.index(w) if w in WORDS else len(WORDS)
        t = np.arange(int(0.12 * sample_rate)) / sample_rate
        f0 = 200 + 150 * k
        out += [np.sin(2 * np.pi * (f0 * t + 400 * t ** 2)) * np.hanning(len(t)),
                np.zeros(int(0.03 * sample_rate))]
    x = np.concatenate(out)
    return (0.5 * x + 0.01 * rng.standard_normal(len(x))).astype(np.float32)


class _TinySpeechData:
    """A minimal dataset with an 'audio' modality (the interface bind_audio_tower uses)."""

    sample_rate = SR

    def __init__(self, n_images: int = 24, seed: int = 0):
        rng = np.random.default_rng(seed)
        colours, shapes = ("red", "blue"), ("circle", "square")
        self.images = rng.integers(0, 256, (n_images, 16, 16, 3), dtype=np.uint8)
        caps, cap_img = [], []
        for i in range(n_images):
            c, s = colours[i % 2], shapes[(i // 2) % 2]
            for text in (f"a {c} {s}", f"{c} {s}", f"a {s}"):
                caps.append(text)
                cap_img.append(i)
        self.captions, self.caption_image = caps, np.array(cap_img)
        self.split = np.array(["train"] * (n_images - 4) + ["test"] * 4)
        self._audio = [_tone_speech(t, np.random.default_rng(j)) for j, t in enumerate(caps)]

    def get(self, modality):
        if modality != "audio":
            raise ValueError(f"modality: expected 'audio', got {modality!r}")
        return self._audio


@pytest.fixture(scope="module")
def dual():
    from mmcourse.text import Vocabulary

    torch.manual_seed(0)
    vocab = Vocabulary.build(["a red blue circle square left of"])
    return DualEncoder(vocab, embed_dim=16, channels=(4, 8), head_dim=16, word_dim=8,
                       hidden_dim=16).eval()


@pytest.fixture(scope="module")
def speech(dual):
    return A.SpeechModel.from_dual_encoder(dual, seed=0, channels=(8, 16, 16), hidden_dim=16).eval()


def _clip(seconds: float, seed: int = 0, sample_rate: int = SR) -> np.ndarray:
    words = " ".join(WORDS[(seed + i) % len(WORDS)] for i in range(int(seconds / 0.15) + 1))
    return _tone_speech(words, np.random.default_rng(seed), sample_rate)[: int(seconds * sample_rate)]


# ----------------------------------------------------------------------------- features
def test_features_shape_and_normalisation():
    f = A.audio_features([_clip(1.0), _clip(2.0, 1)])
    assert [x.shape[1] for x in f] == [40, 40]
    # 25 ms windows every 10 ms, pooled by 2 → about 50 frames per second
    assert abs(len(f[0]) - 48) <= 2 and abs(len(f[1]) - 98) <= 2
    assert f[0].dtype == np.float32
    np.testing.assert_allclose(f[1].mean(axis=0), 0, atol=1e-4)


def test_resampling_matches_native_rate():
    x16 = _clip(1.0)
    from scipy.signal import resample_poly

    x8 = resample_poly(x16, 1, 2).astype(np.float32)
    x441 = resample_poly(x16, 441, 160).astype(np.float32)
    f16, f8, f441 = A.audio_features([x16]), A.audio_features([x8], 8000), A.audio_features([x441], 44100)
    assert abs(len(f441[0]) - len(f16[0])) <= 1 and abs(len(f8[0]) - len(f16[0])) <= 1
    n = min(len(f16[0]), len(f441[0]))
    # 44.1 kHz keeps the whole band: nearly the same features after resampling
    assert np.corrcoef(f16[0][:n].ravel(), f441[0][:n].ravel())[0, 1] > 0.95


def test_int16_pcm_is_converted():
    x = _clip(0.5)
    pcm = np.round(x * 32767).astype(np.int16)
    np.testing.assert_allclose(A.audio_features([pcm])[0], A.audio_features([x])[0], atol=2e-2)


@pytest.mark.parametrize("bad, match", [
    ([], "waveforms: expected at least one clip"),
    ([np.zeros(0, np.float32)], r"waveforms\[0\]: expected a non-empty"),
    ([np.zeros(8000, np.float32)], r"waveforms\[0\].*all zero"),
    ([np.array([0.1, np.nan] * 4000, np.float32)], r"waveforms\[0\].*finite"),
    ([np.array([0.1, np.inf] * 4000, np.float32)], r"waveforms\[0\].*finite"),
    ([np.ones((8000, 2), np.float32)], r"waveforms\[0\].*stereo.*mix it down"),
    ([np.ones(8000, np.uint8)], r"waveforms\[0\].*int16 / int32"),
    ([np.full(61 * SR, 0.1, np.float32)], r"waveforms\[0\].*at most 60 s"),
    ([np.full(100, 0.1, np.float32)], r"waveforms\[0\].*at least 25 ms"),
    (np.full(8000, 0.1, np.float32), "waveforms: expected a list"),
    ("speech", "waveforms: expected a list"),
])
def test_bad_waveforms(bad, match):
    with pytest.raises(ValueError, match=match):
        A.check_waveforms(bad)


@pytest.mark.parametrize("rate", [0, -16000, 16000.5, float("nan"), True, "16k"])
def test_bad_sample_rate(rate):
    with pytest.raises(ValueError, match="sample_rate"):
        A.check_waveforms([_clip(0.5)], rate)


def test_second_clip_is_named():
    with pytest.raises(ValueError, match=r"waveforms\[1\]"):
        A.check_waveforms([_clip(0.5), np.zeros(4000, np.float32)])


# ----------------------------------------------------------------------------- the encoder
@pytest.mark.parametrize("rnn", [True, False])
@pytest.mark.parametrize("training", [False, True])
def test_padding_never_changes_an_embedding(rnn, training):
    torch.manual_seed(0)
    enc = A.AudioEncoder(channels=(8, 16, 16), hidden_dim=16, embed_dim=12, rnn=rnn).train(training)
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((n, 40)).astype(np.float32) for n in (1, 3, 17, 50, 101)]
    x, lengths = A.pad_features(feats)
    out = enc(x, lengths)
    assert out.shape == (5, 12)
    padded = torch.cat([x, 7.0 * torch.randn(5, 40, 40)], dim=1)
    assert (enc(padded, lengths) - out).abs().max() < 1e-5
    if not training:  # each item alone (no batch statistics in eval mode)
        alone = torch.cat([enc(*A.pad_features([f])) for f in feats])
        assert (alone - out).abs().max() < 1e-5


def test_encoder_bad_input():
    enc = A.AudioEncoder(channels=(8,), hidden_dim=8, embed_dim=8)
    with pytest.raises(ValueError, match="x: expected"):
        enc(torch.zeros(2, 10, 13), torch.tensor([10, 10]))
    with pytest.raises(ValueError, match="lengths"):
        enc(torch.zeros(2, 10, 40), torch.tensor([11, 3]))
    with pytest.raises(ValueError, match="channels"):
        A.AudioEncoder(channels=())


def test_default_parameter_count():
    from mmcourse.torch import count_parameters

    assert count_parameters(A.AudioEncoder()) == 268_288


# ----------------------------------------------------------------------------- SpeechModel, embed_audio
def test_speech_model_keeps_the_dual_encoder(dual, speech):
    from mmcourse.torch import embed_images, embed_texts

    imgs = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(embed_images(speech, imgs), embed_images(dual, imgs))
    np.testing.assert_array_equal(embed_texts(speech, ["a red circle"]), embed_texts(dual, ["a red circle"]))
    assert speech.modalities == ("image", "text", "audio")


def test_embed_audio_shapes_norms_and_order(speech):
    clips = [_clip(s, i) for i, s in enumerate((0.2, 3.0, 1.0, 20.0))]
    e = A.embed_audio(speech, clips)
    assert e.shape == (4, speech.embed_dim) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    # batching sorts by length internally; rows come back in input order
    for i, c in enumerate(clips):
        np.testing.assert_allclose(A.embed_audio(speech, [c])[0], e[i], atol=1e-5)


def test_embed_audio_resamples(speech):
    from scipy.signal import resample_poly

    x = _clip(1.5)
    e16 = A.embed_audio(speech, [x])
    e48 = A.embed_audio(speech, [resample_poly(x, 3, 1).astype(np.float32)], sample_rate=48000)
    assert float((e16 @ e48.T)[0, 0]) > 0.98


def test_embed_audio_bad_input(speech, dual):
    with pytest.raises(ValueError, match="model: expected a mmcourse.torch.audio.SpeechModel"):
        A.embed_audio(dual, [_clip(0.5)])
    with pytest.raises(ValueError, match="sample_rate"):
        A.embed_audio(speech, [_clip(0.5)], sample_rate=0)
    with pytest.raises(ValueError, match="waveforms: expected at least one clip"):
        A.embed_audio(speech, [])


def test_save_and_load(speech, tmp_path):
    path = A.save_speech_model(speech, tmp_path / "s.pt")
    back = A.load_speech_model_file(path)
    clips = [_clip(1.0)]
    np.testing.assert_allclose(A.embed_audio(back, clips), A.embed_audio(speech, clips), atol=1e-6)
    with pytest.raises(ValueError, match="path"):
        A.load_speech_model_file(tmp_path / "missing.pt")


# ----------------------------------------------------------------------------- binding
TINY = dict(batch_size=16, n_utterances=60, bank_size=4, progress=False,
            audio=dict(channels=(8, 16, 16), hidden_dim=16), lr=1e-2)


@pytest.mark.slow
def test_bind_lowers_the_loss_and_freezes_the_other_towers(dual):
    from mmcourse.torch import embed_texts

    model, hist = A.bind_audio_tower(dual, _TinySpeechData(), steps=40, seed=0, **TINY)
    assert isinstance(model, A.SpeechModel) and len(hist["loss"]) == 40
    assert np.mean(hist["loss"][-8:]) < np.mean(hist["loss"][:8]) - 0.1
    np.testing.assert_array_equal(embed_texts(model, ["a red circle"]), embed_texts(dual, ["a red circle"]))
    assert hist["feature_bytes"] > 0 and set(hist["seconds"]) >= {"features", "train"}


def test_bind_is_deterministic_for_a_seed(dual):
    data = _TinySpeechData(n_images=12)
    model, hist = A.bind_audio_tower(dual, data, steps=3, seed=0, **TINY)
    again, hist2 = A.bind_audio_tower(dual, data, steps=3, seed=0, **TINY)
    assert hist2["loss"] == hist["loss"]
    clips = data.get("audio")[:3]
    np.testing.assert_array_equal(A.embed_audio(again, clips), A.embed_audio(model, clips))
    other, _ = A.bind_audio_tower(dual, data, steps=3, seed=1, **TINY)
    assert not np.allclose(A.embed_audio(other, clips), A.embed_audio(model, clips))


@pytest.mark.parametrize("target", ["image", "both"])
def test_bind_other_targets(dual, target):
    data = _TinySpeechData(n_images=12)
    model, hist = A.bind_audio_tower(dual, data, steps=3, batch_size=8, n_utterances=20, target=target,
                                     progress=False, audio=dict(channels=(8,), hidden_dim=8))
    assert len(hist["loss"]) == 3 and np.isfinite(hist["loss"]).all()


def test_bind_ranking_distillation_adds_a_term(dual):
    """distill > 0 adds the KL term: the same seed gives a larger first loss and another model."""
    data = _TinySpeechData(n_images=12)
    kw = dict(steps=3, batch_size=8, n_utterances=20, progress=False, seed=0,
              audio=dict(channels=(8,), hidden_dim=8))
    plain, h0 = A.bind_audio_tower(dual, data, **kw)
    ranked, h1 = A.bind_audio_tower(dual, data, distill=4.0, distill_bank=8, **kw)
    assert np.isfinite(h1["loss"]).all() and h1["loss"][0] > h0["loss"][0]
    assert not torch.equal(plain.audio_encoder.proj.weight, ranked.audio_encoder.proj.weight)


@pytest.mark.parametrize("kw, match", [
    (dict(steps=0), "steps"), (dict(batch_size=1), "batch_size"), (dict(target="video"), "target"),
    (dict(lr=-1.0), "lr"), (dict(n_utterances=1), "n_utterances"), (dict(distill=-1.0), "distill"),
    (dict(distill_temperature=0.0), "distill_temperature"), (dict(distill_bank=0), "distill_bank"),
])
def test_bind_bad_arguments(dual, kw, match):
    with pytest.raises(ValueError, match=match):
        A.bind_audio_tower(dual, _TinySpeechData(n_images=8), progress=False, **kw)


def test_bind_needs_audio_and_a_dual_encoder(dual):
    with pytest.raises(ValueError, match="model"):
        A.bind_audio_tower("model", _TinySpeechData(n_images=8), progress=False)

    class NoAudio(_TinySpeechData):
        def get(self, modality):
            raise ValueError("modality: no 'audio'")

    with pytest.raises(ValueError, match="dataset: expected a dataset with an 'audio' modality"):
        A.bind_audio_tower(dual, NoAudio(n_images=8), progress=False, steps=1)


def test_speech_model_path_changes_with_parameters(tmp_path):
    a = A.speech_model_path(tmp_path)
    assert a == A.speech_model_path(tmp_path) and a.parent == tmp_path / "models"
    assert A.speech_model_path(tmp_path, steps=10) != a


def test_generic_embed_dispatches_to_audio(speech):
    from mmcourse.torch.embed import embed

    clips = [_clip(0.8), _clip(1.2, 1)]
    np.testing.assert_array_equal(embed(speech, "audio", clips), A.embed_audio(speech, clips))
    assert "audio" in speech.modalities
