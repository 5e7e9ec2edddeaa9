"""Tests for mmcourse.search_session (no widgets) and the generic mmcourse.search.search path:
the mode table derived from 2 and 3 modalities, the generic search against the historical
aliases (same ids and scores), caches, and failures that come back as messages."""
import io
import wave

import numpy as np
import pytest

from browser_helpers import demo_dataset, demo_image_features, demo_text_encoder
from mmcourse import search as S
from mmcourse.data.modalities import Modality
from mmcourse.hashing import pack_bits
from mmcourse.search_session import SearchSession

SR = 16000


def fake_waveform(j: int) -> np.ndarray:
    """A 0.1 s 'spoken caption' whose first sample carries the caption index."""
    wav = 0.1 * np.sin(np.linspace(0, 40 * np.pi, SR // 10)).astype(np.float32)
    wav[0] = j / 1000.0
    return wav


@pytest.fixture(scope="module")
def ds():
    return demo_dataset(40, seed=2)


@pytest.fixture(scope="module")
def engine(ds):
    return demo_image_features(ds, seed=2), demo_text_encoder(ds)


@pytest.fixture(scope="module")
def ds3(ds):
    """The same dataset with a fake 'audio' modality: spoken caption j says caption j."""
    audio = Modality("audio", [fake_waveform(j) for j in range(ds.n_captions)], ds.caption_image,
                     "description", np.arange(ds.n_captions), {"sample_rate": SR})
    return ds.with_modality(audio)


@pytest.fixture(scope="module")
def audio_encoder(ds, engine):
    """Recognises the caption index from the waveform, then embeds that caption's text."""
    _, enc = engine
    return lambda waves: enc([ds.captions[int(round(float(w[0]) * 1000))] for w in waves])


# ------------------------------------------------------------------ the mode table
def test_mode_table_with_two_modalities(ds, engine):
    feats, enc = engine
    s = SearchSession(ds, {"image": feats}, {"text": enc})
    assert list(s.modes) == ["text → image", "image → image", "image → text", "text → text",
                             "image + text → image"]
    assert [m.short for m in s.modes.values()] == ["t2i", "i2i", "i2t", "t2t", "composed"]
    assert s.mode("i2t").query_kind == "index" and s.mode("t2i").query_kind == "value"
    assert s.mode("composed").modifier == "text" and s.mode("composed").typed == "text"
    assert s.default_mode().short == "t2i" and s.metrics == ("cosine", "dot", "euclidean")
    with pytest.raises(ValueError, match="direction"):
        s.mode("sideways")


def test_mode_table_with_three_modalities(ds3, engine, audio_encoder):
    feats, enc = engine
    s = SearchSession(ds3, {"image": feats}, {"text": enc, "audio": audio_encoder})
    assert s.in_play == ("image", "text", "audio")
    assert list(s.modes)[:3] == ["text → image", "audio → image", "image → image"]
    shorts = {m.short for m in s.modes.values()}
    assert {"a2i", "i2a", "a2t", "t2a", "a2a", "composed"} <= shorts and len(s.modes) == 10
    assert s.mode("a2i").query_kind == "index"
    assert s.default_index_mode("audio").name == "audio → image"
    # no audio embeddings and no audio encoder: the audio modality is not in play
    s2 = SearchSession(ds3, {"image": feats}, {"text": enc})
    assert "audio" not in s2.in_play and not any("audio" in name for name in s2.modes)


def test_mode_names_are_derived_not_listed(ds):
    """A modality the code never heard of gets modes named after it."""
    rng = np.random.default_rng(0)
    sketch = Modality("sketch", list(range(ds.n_images)), np.arange(ds.n_images), "scene")
    ds_s = ds.with_modality(sketch)
    emb = {"image": rng.standard_normal((ds.n_images, 4)), "sketch": rng.standard_normal((ds.n_images, 4))}
    s = SearchSession(ds_s, emb)
    assert list(s.modes) == ["sketch → image", "image → image", "image → sketch", "sketch → sketch"]
    assert s.mode("s2i").query_modality == "sketch"
    res = s.run("s2i", index=3, k=4)
    assert res.ok and res.target == "image" and "images for sketch #3" in res.message


def test_session_validation(ds, engine):
    feats, enc = engine
    with pytest.raises(ValueError, match=r"embeddings\['image'\]"):
        SearchSession(ds, {"image": feats[:3]})
    with pytest.raises(ValueError, match=r"encoders\['text'\]"):
        SearchSession(ds, {"image": feats}, {"text": "nope"})
    with pytest.raises(ValueError, match="embeddings: expected modalities"):
        SearchSession(ds, {"smell": feats})
    with pytest.raises(ValueError, match=r"codes\['image'\]: expected packed uint8"):
        SearchSession(ds, {"image": feats}, codes={"image": np.zeros((ds.n_images, 16), dtype=np.int64)})
    s = SearchSession(ds, {"image": feats}, {"text": enc})
    with pytest.raises(ValueError, match="index"):
        s.run("i2i")
    with pytest.raises(ValueError, match="metric"):
        s.run("t2i", "red", metric="hamming")


# ------------------------------------------------------------------ generic search == aliases
def same(a, b):
    assert a.ok and b.ok and a.target == b.target and a.message == b.message
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    if a.relevance is None:
        assert b.relevance is None
    else:
        np.testing.assert_array_equal(a.relevance, b.relevance)
    assert a.metrics == b.metrics


def test_generic_search_matches_the_aliases(ds, engine):
    feats, enc = engine
    caps = enc(ds.captions)
    kw = dict(dataset=ds, k=6)
    same(S.search("a red circle", "text", "image", feats, encode=enc, **kw),
         S.search_text_to_image("a red circle", enc, feats, ds, k=6))
    same(S.search(4, "image", "image", feats, **kw), S.search_image_to_image(4, feats, ds, k=6))
    same(S.search(4, "image", "text", caps, query_embeddings=feats, **kw),
         S.search_image_to_text(4, feats, caps, ds, k=6))
    same(S.search("a blue square", "text", "text", caps, encode=enc, **kw),
         S.search_text_to_text("a blue square", enc, caps, ds, k=6))
    same(S.search_composed(2, "red", "image", "text", feats, encode=enc, **kw),
         S.composed_query(2, "red", enc, feats, ds, k=6))
    codes = pack_bits(np.random.default_rng(0).integers(0, 2, (ds.n_images, 16)))
    same(S.search(1, "image", "image", None, codes=codes, metric="hamming", **kw),
         S.search_image_to_image(1, feats, ds, k=6, metric="hamming", image_codes=codes))


def test_session_modes_match_the_aliases(ds, engine):
    feats, enc = engine
    caps = enc(ds.captions)
    s = SearchSession(ds, {"image": feats, "text": caps}, {"text": enc}, vocabulary=enc.vocab)
    same(s.run("t2i", "green star", k=5), S.search_text_to_image("green star", enc, feats, ds, k=5,
                                                                  vocabulary=enc.vocab))
    same(s.run("i2t", index=7, k=5), S.search_image_to_text(7, feats, caps, ds, k=5))
    same(s.run("composed", "blue", index=3, k=5, weight=0.25),
         S.composed_query(3, "blue", enc, feats, ds, k=5, weight=0.25, vocabulary=enc.vocab))


def test_speech_to_image_uses_the_dataset_relevance(ds3, engine, audio_encoder):
    feats, enc = engine
    s = SearchSession(ds3, {"image": feats}, {"text": enc, "audio": audio_encoder})
    j = 11
    res = s.run("audio → image", index=j, k=6)
    assert res.ok and res.query == f"spoken caption #{j}"
    same_text = S.search_text_to_image(ds3.captions[j], enc, feats, ds3, k=6)
    np.testing.assert_array_equal(res.ids, same_text.ids)  # the fake recogniser is perfect
    np.testing.assert_allclose(res.relevance, ds3.relevance("audio", "image", [j])[0][res.ids])
    assert ("audio", j) in s._query_vectors  # encoded once, cached
    res = s.run("i2a", index=0, k=3)  # image → spoken captions: encodes all items once
    assert res.ok and res.target == "audio" and s.embeddings["audio"].shape[0] == ds3.n_captions


def test_encoder_failures_come_back_as_messages(ds3, engine):
    feats, enc = engine

    def broken(waves):
        raise RuntimeError("microphone unplugged")

    s = SearchSession(ds3, {"image": feats}, {"text": None, "audio": broken})
    res = s.run("a2i", index=0)
    assert not res.ok and "audio encoder raised RuntimeError: microphone unplugged" in res.message
    res = s.run("t2i", "red circle")
    assert not res.ok and "No text encoder" in res.message
    res = s.run("i2t", index=0)
    assert not res.ok and "cannot be searched" in res.message
    for typed in ("", "   ", "zzzz qqq", "!!"):
        assert not SearchSession(ds3, {"image": feats}, {"text": enc}).run("t2i", typed).ok


def test_lazy_caches_and_hamming(ds, engine):
    feats, enc = engine
    told = []
    codes = pack_bits(np.random.default_rng(1).integers(0, 2, (ds.n_images, 16)))
    proj = np.random.default_rng(2).standard_normal((feats.shape[1], 16))
    hasher = lambda texts: pack_bits(enc(texts) @ proj > 0)  # noqa: E731
    s = SearchSession(ds, {"image": feats}, {"text": enc}, codes={"image": codes},
                      code_encoders={"text": hasher}, on_status=told.append)
    assert "hamming" in s.metrics
    s.run("i2t", index=0)
    assert any("Encoding" in t and "captions" in t for t in told)
    assert any("relevance once" in t for t in told)
    res = s.run("t2t", "red circle", metric="hamming", k=4)  # captions hashed once with the hasher
    assert res.ok and s.codes["text"].shape == (ds.n_captions, 2)
    res = s.run("t2i", "red", metric="hamming", k=4)
    expected = S.search_text_to_image("red", enc, feats, ds, k=4, metric="hamming", image_codes=codes,
                                      text_codes_fn=hasher)
    same(res, expected)


def test_index_relevance_unknown_without_labels():
    from mmcourse.data.dataset import CaptionDataset

    rng = np.random.default_rng(0)
    tiny = CaptionDataset(images=rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8),
                          captions=["a", "b", "c", "d"], caption_image=np.arange(4),
                          split=np.array(["test"] * 4))
    assert S.index_relevance(tiny, "image", "image", 0) is None
    np.testing.assert_array_equal(S.index_relevance(tiny, "image", "text", 2), [0, 0, 1, 0])


def test_generic_search_validates_its_arguments(ds, engine):
    feats, enc = engine
    with pytest.raises(ValueError, match="query_modality"):
        S.search("red", "smell", "image", feats, dataset=ds)
    with pytest.raises(ValueError, match="item_embeddings"):
        S.search("red", "text", "image", feats[:2], dataset=ds, encode=enc)
    with pytest.raises(ValueError, match="query"):
        S.search(10_000, "image", "image", feats, dataset=ds)
    with pytest.raises(ValueError, match="relevance"):
        S.search(0, "image", "image", feats, dataset=ds, relevance=np.ones(3))


def test_noun_table():
    assert S.noun("text") == "caption" and S.noun("image", plural=True) == "images"
    assert S.noun("smell") == "smell" and S.noun("smell", True) == "smell items"


# ------------------------------------------------------------------ the explorer with audio
def test_wav_bytes_round_trip():
    from mmcourse.widgets import wav_bytes

    wav = np.array([0.0, 0.5, -0.5, 1.0, -2.0], dtype=np.float32)
    with wave.open(io.BytesIO(wav_bytes(wav, 8000))) as r:
        assert (r.getnchannels(), r.getsampwidth(), r.getframerate(), r.getnframes()) == (1, 2, 8000, 5)
        pcm = np.frombuffer(r.readframes(5), dtype="<i2")
    np.testing.assert_array_equal(pcm, [0, 16384, -16384, 32767, -32767])
    for bad, match in [(np.zeros((2, 3)), "waveform"), (np.array([np.nan]), "finite"),
                       (np.zeros(0), "waveform")]:
        with pytest.raises(ValueError, match=match):
            wav_bytes(bad, 8000)
    with pytest.raises(ValueError, match="sample_rate"):
        wav_bytes(wav, 0)


def test_explorer_picks_hears_and_searches_a_spoken_caption(ds3, engine, audio_encoder):
    from mmcourse.widgets import SearchExplorer

    feats, enc = engine
    ex = SearchExplorer(ds3, feats, enc, encoders={"audio": audio_encoder}, k=5)
    assert "audio → image" in ex.direction.options and ex.mode == "t2i"
    ex.direction.value = "audio → image"
    panel = ex.query_panels["audio"]
    assert panel.layout.display == "" and ex.query_panel.layout.display == "none"
    assert ex.text.layout.display == "none"
    ex.pickers["audio"].value = 9  # the learner picks spoken test caption #9
    assert ex.result.ok and ex.result.query == "spoken caption #9"
    player = ex.previews["audio"].widget
    with wave.open(io.BytesIO(player.value)) as r:
        assert r.getframerate() == SR and r.getnframes() == SR // 10
    assert ds3.captions[9] in ex.query_labels["audio"].value.replace("&#x27;", "'")
    assert len([c for c in ex._cells if c["box"].layout.display != "none"]) == 5
    ex.random_buttons["audio"].click()
    assert ex.result.ok and ex.mode == "a2i"
    ex.set_direction("i2a")  # spoken captions as results: rows, clickable
    rows = [r for r in ex._rows if r["box"].layout.display != "none"]
    assert ex.result.target == "audio" and len(rows) == 5 and "spoken caption" in rows[0]["label"].value
    j = rows[0]["index"]
    rows[0]["button"].click()
    assert ex.mode == "a2i" and ex.query_indices["audio"] == j


def test_explorer_audio_encoder_failure_is_a_status_line(ds3, engine):
    from mmcourse.widgets import SearchExplorer

    feats, enc = engine

    def broken(waves):
        raise OSError("no sound card")

    ex = SearchExplorer(ds3, feats, enc, encoders={"audio": broken}, k=4, direction="a2i")
    ex.search_button.click()
    assert not ex.result.ok and "audio encoder raised OSError: no sound card" in ex.status.value
    ex.pickers["audio"].value = 3  # picking another one does not raise either
    assert "no sound card" in ex.status.value
