"""Tests for mmcourse.widgets without a browser: the widgets are driven through their Python
models (``Button.click()``, setting ``.value``), exactly what the front end does."""
import io

import numpy as np
import pytest
from PIL import Image

from browser_helpers import demo_dataset, demo_image_features, demo_text_encoder
from mmcourse.hashing import pack_bits
from mmcourse.widgets import (PREVIEWS, DatasetBrowser, SearchExplorer, ThumbnailCache, VideoPreview,
                              animated_gif, encode_png)


@pytest.fixture(scope="module")
def ds():
    return demo_dataset(72, seed=1)


@pytest.fixture(scope="module")
def engine(ds):
    return demo_image_features(ds, seed=1), demo_text_encoder(ds)


def visible(explorer):
    return [c for c in explorer._cells if c["box"].layout.display != "none"]


def visible_rows(explorer):
    return [r for r in explorer._rows if r["box"].layout.display != "none"]


def classes(cell):
    return set(cell["box"]._dom_classes)


# ------------------------------------------------------------------ thumbnails
def test_encode_png_upscales_with_nearest_neighbour():
    img = np.random.default_rng(0).integers(0, 255, (4, 5, 3), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(img, 3))))
    np.testing.assert_array_equal(decoded, np.repeat(np.repeat(img, 3, 0), 3, 1))
    with pytest.raises(ValueError, match="scale"):
        encode_png(img, 0)


def test_thumbnail_cache_encodes_once_and_evicts_lru():
    imgs = np.random.default_rng(0).integers(0, 255, (5, 8, 8, 3), dtype=np.uint8)
    cache = ThumbnailCache(imgs, size=32, maxsize=2)
    assert cache.scale == 4 and cache.pixels == (32, 32)
    first = cache(0)
    assert cache(0) is first and cache.encoded == 1
    cache(1)
    cache(0)  # 0 becomes most recent
    cache(2)  # evicts 1
    assert cache.encoded == 3
    cache(0)
    assert cache.encoded == 3
    cache(1)
    assert cache.encoded == 4
    with pytest.raises(ValueError, match="index"):
        cache(5)


# ------------------------------------------------------------------ SearchExplorer
def test_text_query_renders_k_marked_results(ds, engine):
    feats, enc = engine
    ex = SearchExplorer(ds, feats, enc, k=6)
    assert ex.mode == "t2i" and "Type a query" in ex.status.value
    assert ex.vocabulary is enc.vocab  # the encoder's own vocabulary flags unknown words
    res = ex.search_text("a red circle")
    cells = visible(ex)
    assert res.ok and len(cells) == 6
    assert [c["index"] for c in cells] == res.ids.tolist()
    for cell, mark in zip(cells, res.relevant):
        assert ("mm-relevant" if mark else "mm-irrelevant") in classes(cell)
        assert cell["image"].value == ex.thumbs(cell["index"])
    assert "AP" in ex.metrics_line.value and "NDCG@6" in ex.metrics_line.value
    assert "Top 6 images" in ex.status.value


def test_typing_in_the_box_and_pressing_search(ds, engine):
    ex = SearchExplorer(ds, *engine, k=4)
    ex.text.value = "blue square"  # Enter in the box (continuous_update=False)
    assert ex.result is not None and ex.result.query == "'blue square'"
    ex.text.value = "green star"
    ex.search_button.click()
    assert ex.result.query == "'green star'" and len(visible(ex)) == 4


def test_clicking_a_result_makes_it_the_image_query(ds, engine):
    ex = SearchExplorer(ds, *engine, k=5, query="red circle")
    target = ex._cells[2]["index"]
    ex._cells[2]["button"].click()
    assert ex.mode == "i2i" and ex.query_index == target
    assert ex.result.ok and target not in ex.result.ids
    assert ex.query_image.value == ex.thumbs(target)
    assert f"image #{target}" in ex.status.value


def test_top_k_slider_and_metric_rerun(ds, engine):
    ex = SearchExplorer(ds, *engine, k=8, query="a yellow triangle")
    ex.k_slider.value = 3
    assert len(visible(ex)) == 3 and len(ex.result.ids) == 3
    ex.k_slider.value = 12
    assert len(visible(ex)) == 12
    ex.metric.value = "euclidean"
    assert ex.result.metric == "euclidean" and "dist" in ex._cells[0]["label"].value


def test_image_to_text_and_caption_click(ds, engine):
    ex = SearchExplorer(ds, *engine, k=5)
    ex.search_image(3, direction="i2t")
    rows = visible_rows(ex)
    assert ex.result.target == "text" and len(rows) == 5 and not visible(ex)
    truth = ds.image_text_relevance([3], graded=True)[0]  # the widget caches the whole matrix
    np.testing.assert_allclose(ex.result.relevance, truth[ex.result.ids])
    assert "✓" in rows[0]["label"].value or "✗" in rows[0]["label"].value
    j = rows[0]["index"]
    rows[0]["button"].click()
    assert ex.mode == "t2i" and ex.text.value == ds.captions[j] and len(visible(ex)) == 5


def test_composed_direction_uses_the_weight_slider(ds, engine):
    ex = SearchExplorer(ds, *engine, k=5, query="red circle")
    ex.search_image(0, direction="composed")
    before = ex.result
    assert before.ok and "image #0 + 'red circle'" in before.query
    ex.weight_slider.value = 1.0
    assert ex.result.query.endswith("(text weight 1.00)")
    assert ex.weight_slider.layout.display == ""


def test_text_to_text_before_any_model(ds):
    """Notebook 00: raw pixels for images, bag-of-words for captions."""
    from mmcourse.text import Vocabulary, bag_of_words

    vocab = Vocabulary.build(ds.captions)
    bow = lambda texts: bag_of_words(texts, vocab)  # noqa: E731
    pixels = ds.images.reshape(ds.n_images, -1).astype(np.float32) / 255.0
    ex = SearchExplorer(ds, pixels, bow, caption_embeddings=bow(ds.captions), k=4)
    assert ex.mode == "t2t"  # the spaces differ, so text → text is the default
    res = ex.search_text("a red circle")
    assert res.ok and res.target == "text" and len(visible_rows(ex)) == 4
    ex.search_image(1)
    assert ex.mode == "i2i" and ex.result.ok and len(visible(ex)) == 4
    ex.set_direction("t2i")
    assert not ex.result.ok and "not in one joint space" in ex.status.value


def test_no_text_encoder_disables_text_queries(ds, engine):
    feats, _ = engine
    ex = SearchExplorer(ds, feats, None, k=4)
    assert ex.mode == "i2i" and "text queries are disabled" in ex.status.value
    ex.search_button.click()
    assert ex.result.ok and len(visible(ex)) == 4
    ex.direction.value = "text → image"
    assert "disabled" in ex.status.value and ex.text.disabled


@pytest.mark.parametrize("encoder, message", [
    (lambda t: 1 / 0, "raised ZeroDivisionError"),
    (lambda t: np.full((len(t), 13), np.nan), "NaN"),
])
def test_failing_encoders_give_status_messages(ds, engine, encoder, message):
    feats, _ = engine
    ex = SearchExplorer(ds, feats, encoder, k=4, direction="t2i")
    ex.text.value = "red circle"
    assert not ex.result.ok and message in ex.status.value and not visible(ex)
    ex.text.value = "zzzz qqq"
    assert "None of the words" in ex.status.value
    ex.text.value = "red circle"
    ex.direction.value = "image → text"  # needs the captions encoded: fails politely too
    assert not ex.result.ok and message in ex.status.value


def test_callbacks_never_raise(ds, engine, monkeypatch):
    ex = SearchExplorer(ds, *engine, k=4)

    def boom():
        raise RuntimeError("kaput")

    monkeypatch.setattr(ex, "_run", boom)
    ex.search_button.click()  # must not raise
    assert "Something went wrong: RuntimeError: kaput" in ex.status.value


def test_hamming_appears_with_codes(ds, engine):
    feats, enc = engine
    rng = np.random.default_rng(0)
    assert "hamming" not in SearchExplorer(ds, feats, enc).metric.options
    codes = rng.integers(0, 2, (ds.n_images, 16))
    with pytest.raises(ValueError, match="image_codes: expected packed uint8.*pack_bits"):
        SearchExplorer(ds, feats, enc, image_codes=codes)  # unpacked bits are never guessed
    ex = SearchExplorer(ds, feats, enc, image_codes=pack_bits(codes), metric="hamming",
                        direction="i2i", k=4)
    res = ex.search_image(5)
    dist = (codes != codes[5]).sum(1).astype(float)
    dist[5] = np.inf
    np.testing.assert_array_equal(res.ids, np.argsort(dist, kind="stable")[:4])
    ex.set_direction("t2i")
    ex.text.value = "red"
    assert not ex.result.ok and "text_codes_fn" in ex.status.value


def test_rendering_reuses_cached_thumbnails(ds, engine):
    ex = SearchExplorer(ds, *engine, k=8)
    ex.search_text("red circle")
    after_first = ex.thumbs.encoded
    for _ in range(3):
        ex.search_text("red circle")
        ex.k_slider.value = 4
        ex.k_slider.value = 8
    assert ex.thumbs.encoded == after_first


def test_displays_itself(ds, engine):
    ex = SearchExplorer(ds, *engine)
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    assert callable(ex._ipython_display_)


def test_constructor_validation(ds, engine):
    feats, enc = engine
    with pytest.raises(ValueError, match="image_embeddings"):
        SearchExplorer(ds, feats[:3], enc)
    with pytest.raises(ValueError, match="text_encoder"):
        SearchExplorer(ds, feats, "not callable")
    with pytest.raises(ValueError, match="dataset"):
        SearchExplorer([1, 2], feats, enc)
    with pytest.raises(ValueError, match="metric"):
        SearchExplorer(ds, feats, enc, metric="hamming")
    with pytest.raises(ValueError, match="k"):
        SearchExplorer(ds, feats, enc, k=0)
    with pytest.raises(ValueError, match="caption_embeddings"):
        SearchExplorer(ds, feats, enc, caption_embeddings=np.ones((2, 3)))
    with pytest.raises(ValueError, match="direction"):
        SearchExplorer(ds, feats, enc, direction="sideways")


# ------------------------------------------------------------------ DatasetBrowser
def test_browser_pages_and_filters(ds):
    b = DatasetBrowser(ds, per_page=10)
    assert b.n_pages == 8 and "page 1/8" in b.page_label.value and b.prev_button.disabled
    b.next_button.click()
    assert b.page == 1 and "page 2/8" in b.page_label.value
    shown = [c for c in b._cards if c["box"].layout.display != "none"]
    assert len(shown) == 10 and "#10" in shown[0]["text"].value
    b.show_page(99)
    assert b.page == 7 and b.next_button.disabled
    idx = b.filter(word="red", split="train")
    assert b.page == 0 and len(idx) and all(ds.split[i] == "train" for i in idx)
    assert all(any("red" in c for c in ds.captions_of(i)) for i in idx)
    first = [c for c in b._cards if c["box"].layout.display != "none"][0]
    assert "train" in first["text"].value and ds.captions_of(idx[0])[0] in first["text"].value.replace("&#x27;", "'")
    b.label.value = ds.label_names[0]
    assert all(ds.labels[i, 0] for i in b.indices)
    b.filter(word="zebra")
    assert len(b.indices) == 0 and "No image matches" in b.status.value
    b.filter()
    assert len(b.indices) == ds.n_images


def test_browser_validation(ds):
    with pytest.raises(ValueError, match="per_page"):
        DatasetBrowser(ds, per_page=0)
    b = DatasetBrowser(ds)
    with pytest.raises(ValueError, match="label"):
        b.filter(label="purple unicorn")
    with pytest.raises(ValueError, match="page"):
        b.show_page("2")
    assert "application/vnd.jupyter.widget-view+json" in b._repr_mimebundle_()


# ------------------------------------------------------------------ video
def decode_gif(data):
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF"
    frames = []
    for t in range(gif.n_frames):
        gif.seek(t)
        frames.append(np.asarray(gif.convert("RGB")))
    return gif, np.stack(frames)


def unit_rows(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def vds():
    import mmcourse

    return mmcourse.load_dataset("moving_shapes", n_train=0, n_val=0, n_test=40, progress=False)


@pytest.fixture(scope="module")
def vengine(vds):
    """Random unit embeddings in one 16-d space for images and videos, and a text encoder."""
    rng = np.random.default_rng(0)
    images, videos = unit_rows(rng, vds.n_images, 16), unit_rows(rng, vds.count("video"), 16)
    return images, videos, lambda texts: unit_rows(rng, len(texts), 16)


def video_explorer(vds, vengine, **kw):
    images, videos, enc = vengine
    return SearchExplorer(vds, images, enc, embeddings={"video": videos}, **kw)


def test_animated_gif_decodes_to_every_frame():
    clip = np.zeros((6, 5, 7, 3), dtype=np.uint8)
    for t in range(6):  # a bright square moving right over two colours
        clip[t, :, :, 0] = 40
        clip[t, 1:4, t:t + 2] = (250, 200, 10)
    gif, frames = decode_gif(animated_gif(clip, fps=5, scale=3))
    assert frames.shape == (6, 15, 21, 3)
    assert gif.info["loop"] == 0 and gif.info["duration"] == 200  # forever, 1000 ms / 5 fps
    np.testing.assert_array_equal(frames, np.repeat(np.repeat(clip, 3, 1), 3, 2))  # few colours: exact
    _, once = decode_gif(animated_gif(clip, scale=1))
    assert once.shape == (6, 5, 7, 3)
    with pytest.raises(ValueError, match="fps"):
        animated_gif(clip, fps=0)
    with pytest.raises(ValueError, match="scale"):
        animated_gif(clip, scale=0)
    with pytest.raises(ValueError, match="clip"):
        animated_gif(clip[0])


def test_animated_gif_of_a_dataset_clip(vds):
    clip = vds.get("video")[0]
    _, frames = decode_gif(animated_gif(clip, fps=vds.info["fps"]))
    assert frames.shape == (len(clip), 96, 96, 3)
    assert np.abs(frames[:, ::3, ::3].astype(int) - clip).mean() < 8  # a 256-colour palette


def test_thumbnail_cache_renders_filmstrips():
    from mmcourse.plots import filmstrip

    clips = np.random.default_rng(0).integers(0, 255, (3, 8, 4, 5, 3), dtype=np.uint8)
    cache = ThumbnailCache(clips, size=46, render=lambda c: filmstrip(c, [0, 7]))
    assert cache.scale == 4 and cache.pixels == (16, 44)  # the strip (4, 11) upscaled 4x
    decoded = np.asarray(Image.open(io.BytesIO(cache(2))))
    np.testing.assert_array_equal(decoded[::4, ::4], filmstrip(clips[2], [0, 7]))
    assert cache(2) is cache(2) and cache.encoded == 1
    with pytest.raises(ValueError, match="render"):
        ThumbnailCache(clips, render="filmstrip")


def test_video_preview_is_registered():
    assert PREVIEWS["video"] is VideoPreview and VideoPreview.grid


def test_explorer_offers_video_directions(vds, vengine):
    ex = video_explorer(vds, vengine, k=6)
    assert {"text → video", "video → text", "video → video", "video → image"} <= set(ex.direction.options)
    assert ex.mode == "t2i" and ex.grid_modality == "image"
    assert isinstance(ex.previews["video"], VideoPreview)
    assert ex.previews["video"].widget.format == "gif"


def test_text_to_video_results_are_filmstrips(vds, vengine):
    ex = video_explorer(vds, vengine, k=6)
    res = ex.search_text("a red circle moves left", direction="text → video")
    assert ex.mode == "t2v" and res.ok and res.target == "video" and "videos" in ex.status.value
    assert res.relevant is not None and len(res.ids) == 6 and res.ids.max() < vds.count("video")
    cells = visible(ex)
    assert [c["index"] for c in cells] == res.ids.tolist() and not visible_rows(ex)
    assert ex.grid_modality == "video" and ex.thumbs is ex.previews["video"].thumbs
    preview = ex.previews["video"]
    h, w = ex.thumbs.pixels
    for cell in cells:
        assert cell["image"].value == ex.thumbs(cell["index"])
        assert cell["image"].layout.width == f"{w}px"
        strip = np.asarray(Image.open(io.BytesIO(cell["image"].value)))
        assert strip.shape == (h, w, 3) and w > 3 * h  # four frames side by side
    from mmcourse.plots import filmstrip

    clip = vds.get("video")[res.ids[0]]
    decoded = np.asarray(Image.open(io.BytesIO(cells[0]["image"].value)))
    np.testing.assert_array_equal(decoded[::ex.thumbs.scale, ::ex.thumbs.scale],
                                  filmstrip(clip, preview.frames))
    assert len(preview.frames) == 4 and "search with this video" in cells[0]["button"].tooltip
    # back to text → image: image thumbnails again, in the old layout
    res = ex.search_text("a red circle", direction="t2i")
    assert res.target == "image" and ex.grid_modality == "image"
    cell = visible(ex)[0]
    assert cell["image"].value == ex.previews["image"].thumbs(cell["index"])
    assert np.asarray(Image.open(io.BytesIO(cell["image"].value))).shape == (96, 96, 3)
    assert cell["image"].layout.width == "96px"
    assert ex.image_grid.layout.grid_template_columns == "repeat(8, 112px)"


def test_clicking_a_filmstrip_plays_that_clip(vds, vengine):
    ex = video_explorer(vds, vengine, k=5)
    ex.search_text("a star rises", direction="text → video")
    target = ex._cells[1]["index"]
    ex._cells[1]["button"].click()
    assert ex.mode == "v2v" and ex.result.ok and target not in ex.result.ids
    assert ex.query_indices["video"] == target
    assert ex.query_panels["video"].layout.display == ""
    _, frames = decode_gif(ex.previews["video"].widget.value)
    assert frames.shape == (vds.info["frames"], 96, 96, 3)
    assert vds.captions_of(target)[0] in ex.query_labels["video"].value.replace("&#x27;", "'")


def test_video_to_text_lists_captions(vds, vengine):
    ex = video_explorer(vds, vengine, k=4)
    res = ex.search_item("video", 2, direction="video → text")
    assert res.ok and res.target == "text" and len(visible_rows(ex)) == 4 and not visible(ex)
    assert ex.mode == "v2t" and "video #2" in ex.status.value
    ex.search_item("video", 7, direction="video → image")
    assert ex.result.ok and ex.grid_modality == "image" and len(visible(ex)) == 4


def test_bad_typed_video_query_goes_to_the_status(vds, vengine):
    images, videos, _ = vengine
    ex = video_explorer(vds, vengine, k=4, direction="text → video")
    ex.text.value = "zzzz qqq"  # no known word
    assert not ex.result.ok and "None of the words" in ex.status.value and not visible(ex)
    broken = SearchExplorer(vds, images, lambda t: 1 / 0, embeddings={"video": videos},
                            direction="text → video")
    broken.text.value = "a red circle moves left"
    assert not broken.result.ok and "ZeroDivisionError" in broken.status.value
    wrong_dim = SearchExplorer(vds, images, lambda t: np.ones((len(t), 5)), embeddings={"video": videos},
                               direction="t2v")
    wrong_dim.text.value = "a red circle"
    assert not wrong_dim.result.ok and "not in one joint space" in wrong_dim.status.value
    wrong_dim.text.value = "   "
    wrong_dim.search_button.click()  # an empty query: a message, no traceback
    assert "Type a query first" in wrong_dim.status.value


def test_browser_plays_clips(vds):
    b = DatasetBrowser(vds, per_page=4)
    assert b.clip_modality == "video"
    card = b._cards[0]
    assert card["image"].format == "gif"
    _, frames = decode_gif(card["image"].value)
    assert frames.shape == (vds.info["frames"], 96, 96, 3)
    assert np.abs(frames[0, ::3, ::3].astype(int) - vds.images[0]).mean() < 8  # starts at the still
    b.next_button.click()
    assert b.gifs.encoded == 8 and b._cards[0]["image"].value == b.gifs(4)
    b.show_page(0)
    assert b.gifs.encoded == 8  # cached


def test_browser_without_clips_shows_stills(ds):
    b = DatasetBrowser(ds, per_page=2)
    assert b.clip_modality is None and b.gifs is None
    assert b._cards[0]["image"].format == "png" and b._cards[0]["image"].value == b.thumbs(0)
