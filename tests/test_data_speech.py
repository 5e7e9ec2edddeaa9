"""Spoken captions (mmcourse.data.speech): the shipped espeak-ng phrase bank, the lazy sequence,
determinism, held-out voices, the "audio" modality and its errors. Timing is measured by
data/speech/measure_speech.py, never tested here."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mmcourse
from mmcourse.data import CaptionDataset, make_shapes
from mmcourse.data import speech
from mmcourse.data.shapes_text import PREFIXES, RELATION_WORDS, SHAPE_WORDS, SIZE_WORDS
from mmcourse.data.shapes_vocab import COLOURS

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (only regenerating the "
                                         "material and whole-sentence synthesis need it)")


@pytest.fixture(scope="module")
def ds():
    return make_shapes(60, seed=3, cache=False, split_sizes=(40, 10, 10)).with_modality("audio")


@pytest.fixture(scope="module")
def audio(ds):
    return ds.get("audio")


def _hash(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()


# ------------------------------------------------------------------ the shipped material
def test_material_file_is_small():
    assert speech.MATERIAL_PATH.is_file()
    assert speech.MATERIAL_PATH.stat().st_size < 25e6


def test_material_covers_the_whole_caption_grammar():
    mat = speech.load_material()
    assert set(t for _, t in speech.phrase_inventory()) <= set(mat.units)
    grammar_words = ({w for ws in SHAPE_WORDS.values() for w in ws} | set(COLOURS)
                     | {w for ws in SIZE_WORDS.values() for w in ws}
                     | {w for ps in RELATION_WORDS.values() for p in ps for w in p.split()}
                     | {w for p in PREFIXES for w in p.split()} | {"a", "an", "and", "shape", "object"})
    assert grammar_words <= speech.speakable_words()
    assert set(mat.voices) == set(speech.SHIPPED_VOICES)
    assert mat.audio.dtype == np.float32 and mat.meta["sample_rate"] == 16000
    assert (mat.lengths > 0.05 * 16000).all()  # every unit holds real speech


def test_material_covers_every_word_of_the_default_captions():
    default = mmcourse.load_dataset("shapes", progress=False)
    assert speech.missing_words(default.captions) == []


def test_segmentation_uses_phrases_with_coarticulation():
    units = speech.segment("a photo of a small red circle to the left of a big blue box")
    assert units == ("a photo of", "a small", "red circle", "to the left of", "a big", "blue box")
    assert speech.segment("a red star, a cross and an orange object") == (
        "a red star", ",", "a cross", "and", "an orange object")
    assert speech.segment("Red  circle.") == ("red circle",)


def test_mulaw_round_trip_is_close():
    x = np.linspace(-1, 1, 2001)
    err = np.abs(speech.mulaw_decode(speech.mulaw_encode(x)) - x)
    assert (err <= 0.023 * np.abs(x) + 2e-4).all()  # ~2 % relative error: 8-bit companding


# ------------------------------------------------------------------ the lazy sequence
def test_attach_renders_nothing(monkeypatch):
    calls = []
    monkeypatch.setattr(speech, "assemble", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(speech, "load_material", lambda *a, **k: calls.append("load"))
    small = make_shapes(20, seed=5, cache=False, split_sizes=(10, 5, 5))
    seq = small.with_modality("audio").get("audio")
    sub = seq.take([3, 1])[0:1]
    assert len(seq) == small.n_captions and len(sub) == 1
    assert seq.voice_of(0) in speech.SHIPPED_VOICES
    assert calls == []


def test_items_are_16khz_mono_float32(ds, audio):
    assert ds.sample_rate == 16000 and audio.sample_rate == 16000
    assert "audio" in ds.modalities and len(audio) == ds.n_captions
    for j in (0, 7, len(audio) - 1, -1):
        x = audio[j]
        assert x.dtype == np.float32 and x.ndim == 1
        assert np.isfinite(x).all() and 0 < np.abs(x).max() <= 1.0
        assert 0.5 < len(x) / 16000 < 10


def test_rendering_is_deterministic(audio):
    assert _hash(audio[5]) == _hash(audio[5])
    again = speech.SpokenCaptions(audio._texts, audio._splits, seed=audio.seed)
    assert np.array_equal(again[5], audio[5])
    other_seed = speech.SpokenCaptions(audio._texts, audio._splits, seed=audio.seed + 1)
    assert not np.array_equal(other_seed[5], audio[5])
    plain = speech.SpokenCaptions(audio._texts, audio._splits, augment=False)
    assert not np.array_equal(plain[5], audio[5])


def test_rendering_is_deterministic_across_processes(audio):
    code = ("import hashlib, numpy as np; from mmcourse.data import make_shapes; "
            "a = make_shapes(60, seed=3, cache=False, split_sizes=(40, 10, 10))"
            ".with_modality('audio').get('audio'); "
            "print(' '.join(hashlib.sha256(np.ascontiguousarray(a[j]).tobytes()).hexdigest() "
            "for j in (2, 250)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [_hash(audio[2]), _hash(audio[250])]


def test_take_slicing_and_iteration(audio):
    part = audio[2:6]
    assert isinstance(part, speech.SpokenCaptions) and len(part) == 4
    assert np.array_equal(part[1], audio[3])
    picked = audio.take(np.array([9, 0]))
    assert np.array_equal(picked[0], audio[9]) and picked.voice_of(1) == audio.voice_of(0)
    assert picked.text_of(0) == audio.text_of(9)
    assert np.array_equal(audio[::50].take([1])[0], audio[50])
    waves = list(audio[:3])
    assert len(waves) == 3 and np.array_equal(waves[2], audio[2])
    assert len(audio.take([])) == 0


def test_subset_keeps_each_caption_sound(ds, audio):
    test = ds.subset("test")
    sub = test.get("audio")
    assert len(sub) == test.n_captions
    j = int(np.flatnonzero(ds.split[ds.caption_image] == "test")[3])
    assert sub.text_of(3) == ds.captions[j]
    assert np.array_equal(sub[3], audio[j])


def test_bad_indices_are_refused(audio):
    with pytest.raises(IndexError, match="index"):
        audio[len(audio)]
    with pytest.raises(ValueError, match="index"):
        audio[1.5]
    with pytest.raises(ValueError, match="indices"):
        audio.take([[1, 2]])
    with pytest.raises(ValueError, match="splits"):
        speech.SpokenCaptions(["a red circle"], ["dev"])
    with pytest.raises(ValueError, match="seed"):
        speech.SpokenCaptions(["a red circle"], ["train"], seed=-1)


# ------------------------------------------------------------------ voices
def test_voices_are_disjoint_between_splits(ds, audio):
    train, val, test = map(set, (speech.TRAIN_VOICES, speech.VAL_VOICES, speech.TEST_VOICES))
    held = set(speech.HELD_OUT_VOICES)
    assert len(train) >= 8 and test and val and held
    assert not (train & test) and not (train & val) and not (val & test)
    assert not held & set(speech.load_material().voices)
    espeak = {v.name: v.espeak.split("+")[-1] for v in speech.VOICES}
    assert not {espeak[v] for v in train} & {espeak[v] for v in test | val | held}
    split = ds.split[ds.caption_image]
    used = audio.voices()
    assert set(used[split == "train"]) <= train and set(used[split == "test"]) <= test
    assert set(used[split == "val"]) <= val
    assert len(set(used[split == "train"])) >= 4  # training captions spread over the voices
    speeds = {speech.VOICE_BY_NAME[v].speed for v in train}
    pitches = {speech.VOICE_BY_NAME[v].pitch for v in train}
    assert len(speeds) >= 6 and len(pitches) >= 6


# ------------------------------------------------------------------ errors and espeak-ng
def test_unspeakable_captions_name_modalities_and_words():
    images = np.zeros((2, 8, 8, 3), np.uint8)
    coco = CaptionDataset(images, ["a zebra grazing", "a red circle"], [0, 1], ["train", "test"],
                          name="coco")
    with pytest.raises(ValueError, match=r"modalities.*zebra.*grazing|modalities.*grazing.*zebra"):
        speech.attach_speech(coco)
    with pytest.raises(ValueError, match="modalities") as info:
        from mmcourse.data import attach_modalities
        attach_modalities(coco, ("audio",))
    assert "zebra" in str(info.value)


def test_synthesize_sentence_without_espeak_says_how_to_install(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        speech.synthesize_sentence("a red circle", speech.HELD_OUT_VOICES[0])
    with pytest.raises(ValueError, match="voice"):
        speech._voice(3)


@needs_espeak
def test_synthesize_sentence_with_a_held_out_voice():
    x = speech.synthesize_sentence("a small red circle above a blue box", speech.HELD_OUT_VOICES[0])
    assert x.dtype == np.float32 and x.ndim == 1 and 1.0 < len(x) / 16000 < 6
    assert abs(float(np.abs(x).max()) - 0.7) < 1e-3


@needs_espeak
def test_regenerating_units_matches_the_shipped_material():
    mat = speech.load_material()
    for voice, text in (("us-m1", "a red circle"), ("gb-f3", "to the left of")):
        fresh = speech.mulaw_encode(speech.espeak_render(text, voice))
        shipped = speech.mulaw_encode(mat.unit(voice, text))
        assert fresh.shape == shipped.shape
        assert np.abs(fresh.astype(int) - shipped.astype(int)).max() <= 1
