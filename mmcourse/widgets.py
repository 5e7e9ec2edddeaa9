"""Interactive widgets: :class:`SearchExplorer` (query the engine) and :class:`DatasetBrowser`.

Both are thin ipywidgets shells: the explorer's state and its mode table live in
:class:`mmcourse.search_session.SearchSession`, every search is a pure function of
:mod:`mmcourse.search`, each modality is shown by the preview registered for it in
:data:`PREVIEWS` (image → thumbnail, text → label, audio → player, video → the clip animated
as a GIF in the query panel and a filmstrip of 4 frames in the results), and thumbnails come
from :class:`ThumbnailCache` (PNG bytes encoded once per item, kept in an LRU cache, upscaled
nearest-neighbour so 32 px scenes stay crisp). Results are drawn in a grid when the preview of
the current direction's *result* modality is a grid one (images, videos), else as a list. A
render only swaps the bytes of a fixed pool of image widgets; nothing re-encodes the gallery.
:class:`DatasetBrowser` plays each image's clip (GIF) when the dataset has a modality shown by
:class:`VideoPreview`.

Callbacks never raise: any problem (unknown words, an encoder that fails, NaN output, a
dimension mismatch) is written to the status line.
"""
from __future__ import annotations

import html
import io
from collections import OrderedDict
from typing import Callable

import numpy as np

from . import search as S
from ._validation import as_matrix, check_choice, check_images, check_int, describe
from .plots import _check_clip, evenly_spaced_frames, filmstrip

_SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
_GOOD, _BAD = "#2e7d32", "#c62828"


# ---------------------------------------------------------------- thumbnails
def encode_png(image: np.ndarray, scale: int = 1) -> bytes:
    """PNG bytes of one uint8 image (H, W, 3), upscaled ``scale``× with nearest neighbour."""
    from PIL import Image

    img = check_images(np.asarray(image)[None], "image")[0]
    scale = check_int(scale, "scale", minimum=1)
    pil = Image.fromarray(img)
    if scale > 1:
        pil = pil.resize((img.shape[1] * scale, img.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class ThumbnailCache:
    """PNG thumbnails of ``images`` (n, H, W, 3), each encoded once and kept in an LRU cache.

    ``size`` is the wanted display size in pixels (of the picture's longer side); the upscale
    factor is the integer that gets closest (at least 1). ``maxsize`` bounds memory (about
    2–10 KB per 96 px thumbnail).

    Any other items (e.g. clips (n, T, H, W, 3)) are shown through ``render``: item -> the
    picture, uint8 (h, w, 3) (e.g. a :func:`~mmcourse.plots.filmstrip`) or frames (T, h, w, 3);
    and ``encode``: (picture, scale) -> bytes (default :func:`encode_png`; :func:`animated_gif`
    for frames). Without ``render``, ``images`` must be images and are shown as they are.
    """

    def __init__(self, images, size: int = 96, maxsize: int = 4096, *, render: Callable | None = None,
                 encode: Callable | None = None):
        if render is not None and not callable(render):
            raise ValueError(f"render: expected a callable item -> picture or None, got {describe(render)}")
        if encode is not None and not callable(encode):
            raise ValueError(f"encode: expected a callable (picture, scale) -> bytes or None, "
                             f"got {describe(encode)}")
        if render is None:
            self.images = check_images(images, "images")
            shape = self.images.shape[1:3]
        else:
            if not hasattr(images, "__len__") or len(images) == 0:
                raise ValueError(f"images: expected a non-empty sequence of items, got {describe(images)}")
            self.images = images
            shape = np.shape(render(images[0]))[-3:-1]  # every item renders to the same size
        size = check_int(size, "size", minimum=8)
        self.maxsize = check_int(maxsize, "maxsize", minimum=1)
        self.render, self.encode = render, encode or encode_png
        self._shape = (int(shape[0]), int(shape[1]))
        self.scale = max(1, int(round(size / max(self._shape))))
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self.encoded = 0  # how many encodings were done (tests check the cache works)

    @property
    def pixels(self) -> tuple[int, int]:
        """Display size (height, width) of a thumbnail in pixels."""
        return self._shape[0] * self.scale, self._shape[1] * self.scale

    def __call__(self, index: int) -> bytes:
        index = check_int(index, "index", minimum=0, maximum=len(self.images) - 1)
        data = self._cache.get(index)
        if data is not None:
            self._cache.move_to_end(index)
            return data
        item = self.images[index]
        data = self.encode(item if self.render is None else self.render(item), self.scale)
        self.encoded += 1
        self._cache[index] = data
        if len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
        return data


def _widgets():
    import ipywidgets

    return ipywidgets


def _safe(owner, fn: Callable) -> Callable:
    """Wrap a widget callback so that any exception lands in ``owner``'s status line."""

    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # a widget must never show a traceback
            owner._set_status(f"Something went wrong: {type(exc).__name__}: {exc}", error=True)
            return None

    return wrapped


def _html_status(text: str, error: bool) -> str:
    colour = _BAD if error else "#333"
    return (f'<span class="mm-status-text" style="color:{colour}">'
            f'{"⚠ " if error else ""}{html.escape(text)}</span>')


# ---------------------------------------------------------------- audio
def wav_bytes(waveform, sample_rate: int) -> bytes:
    """WAV file bytes (16-bit PCM, mono) of a float waveform (n,) in [-1, 1] at ``sample_rate`` Hz.

    Written with the standard library's :mod:`wave`; values outside [-1, 1] are clipped.
    """
    import wave

    wav = np.asarray(waveform, dtype=np.float32)
    if wav.ndim != 1 or wav.size == 0:
        raise ValueError(f"waveform: expected a non-empty 1-D float array (mono samples), got {describe(wav)}")
    if not np.isfinite(wav).all():
        raise ValueError("waveform: expected finite samples, got NaN or inf")
    sample_rate = check_int(sample_rate, "sample_rate", minimum=1)
    pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buf.getvalue()


# ---------------------------------------------------------------- video
def animated_gif(clip, fps: float = 4, scale: int = 3) -> bytes:
    """Animated GIF bytes of a clip uint8 (T, H, W, 3): ``fps`` frames per second, looping
    forever, each frame upscaled ``scale``× with nearest neighbour (8 frames of 32 px at scale
    3: about 30 KB, a few ms). Written with PIL; the clip shares one 256-colour palette (fast
    octree, no dithering: colours within a few levels), and PIL merges identical consecutive
    frames (their durations add up).
    """
    from PIL import Image

    frames = _check_clip(clip, "clip")
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) \
            or not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps: expected a positive number of frames per second, got {describe(fps)}")
    scale = check_int(scale, "scale", minimum=1)
    t, h, w = frames.shape[:3]
    sheet = Image.fromarray(np.ascontiguousarray(frames.reshape(t * h, w, 3))).quantize(
        256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)  # one palette, all frames
    pils = [sheet.crop((0, i * h, w, (i + 1) * h)) for i in range(t)]
    if scale > 1:
        pils = [p.resize((w * scale, h * scale), Image.NEAREST) for p in pils]
    buf = io.BytesIO()
    pils[0].save(buf, format="GIF", save_all=True, append_images=pils[1:], loop=0,
                 duration=max(10, int(round(1000.0 / float(fps)))))  # GIF delays are in 10 ms steps
    return buf.getvalue()


def _fps(dataset, modality: str) -> float:
    """Frames per second of a clip modality: its ``info["fps"]``, else the dataset's, else 4."""
    rate = (dataset.modality(modality).info or {}).get("fps")
    if rate is None:
        rate = (getattr(dataset, "info", None) or {}).get("fps", 4)
    return float(rate)


# ---------------------------------------------------------------- item descriptions (any modality)
def _scene_of(dataset, modality: str, index: int) -> int:
    """The scene (image) index an item belongs to (``ds.modality(m).scene_index``)."""
    return int(np.asarray(dataset.modality(modality).scene_index)[index])


def _transcript(dataset, modality: str, index: int) -> str | None:
    """The text an item carries (a caption, what a spoken caption says); None for a scene."""
    items = S.dataset_items(dataset, modality)
    if S._is_typed(items):
        return items[index]
    info = dataset.modality(modality)
    if info.role == "description":
        return dataset.captions[int(np.asarray(info.content_index)[index])]
    return None


def _sample_rate(dataset, modality: str) -> int:
    """Samples per second of an audio modality: its ``info["sample_rate"]``, else ``ds.sample_rate``."""
    rate = (dataset.modality(modality).info or {}).get("sample_rate")
    return int(dataset.sample_rate if rate is None else rate)


# ---------------------------------------------------------------- previews, one per modality
class Preview:
    """How one modality's items are shown: in the query panel (``widget`` + ``show(index)``)
    and as a one-line description (``describe(index)``). ``grid``: results as thumbnails."""

    grid = False

    def __init__(self, explorer, modality: str):
        self.explorer, self.modality, self.dataset = explorer, modality, explorer.dataset
        self.widget = _widgets().HTML()

    def describe(self, index: int) -> str:
        text = _transcript(self.dataset, self.modality, index)
        return f"{S.noun(self.modality)} #{index}" if text is None else text

    def show(self, index: int) -> None:
        self.widget.value = f'<div style="font-size:12px">{html.escape(self.describe(index))}</div>'


class ImagePreview(Preview):
    """Thumbnails (PNG, LRU-cached); results in a clickable grid."""

    grid = True

    def __init__(self, explorer, modality: str):
        W = _widgets()
        self.explorer, self.modality, self.dataset = explorer, modality, explorer.dataset
        self.thumbs = ThumbnailCache(S.dataset_items(self.dataset, modality), size=explorer.thumb_size)
        h, w = self.thumbs.pixels
        self.widget = W.Image(format="png", layout=W.Layout(width=f"{w}px", height=f"{h}px"))

    def describe(self, index: int) -> str:
        caps = self.dataset.captions_of(index) if hasattr(self.dataset, "captions_of") else []
        return caps[0] if caps else f"{S.noun(self.modality)} #{index}"

    def show(self, index: int) -> None:
        self.widget.value = self.thumbs(index)


class VideoPreview(Preview):
    """A clip: animated (GIF, at the dataset's fps) in the query panel; results in a clickable
    grid of filmstrips of ``strip_frames`` evenly spaced frames (PNG, LRU-cached), each frame
    at about two thirds of the explorer's ``thumb_size``."""

    grid = True
    strip_frames = 4

    def __init__(self, explorer, modality: str):
        W = _widgets()
        self.explorer, self.modality, self.dataset = explorer, modality, explorer.dataset
        clips = S.dataset_items(self.dataset, modality)
        first = _check_clip(clips[0], f"{modality} items")
        self.frames = evenly_spaced_frames(len(first), self.strip_frames)
        self.fps = _fps(self.dataset, modality)
        k, frame = len(self.frames), max(first.shape[1:3])
        self.thumbs = ThumbnailCache(clips, size=max(8, (2 * explorer.thumb_size * k) // 3),
                                     render=lambda clip: filmstrip(clip, self.frames))
        self.scale = max(1, int(round(explorer.thumb_size / frame)))  # the GIF at thumbnail size
        h, w = first.shape[1] * self.scale, first.shape[2] * self.scale
        self.widget = W.Image(format="gif", layout=W.Layout(width=f"{w}px", height=f"{h}px"))

    def describe(self, index: int) -> str:
        scene = _scene_of(self.dataset, self.modality, index)
        caps = self.dataset.captions_of(scene) if hasattr(self.dataset, "captions_of") else []
        return caps[0] if caps else f"{S.noun(self.modality)} #{index}"

    def gif(self, index: int) -> bytes:
        """Animated GIF bytes of clip ``index`` at thumbnail size."""
        return animated_gif(S.dataset_items(self.dataset, self.modality)[index], self.fps, self.scale)

    def show(self, index: int) -> None:
        self.widget.value = self.gif(index)


class AudioPreview(Preview):
    """An audio player (WAV-encoded at the dataset's sample rate)."""

    def __init__(self, explorer, modality: str):
        self.explorer, self.modality, self.dataset = explorer, modality, explorer.dataset
        self.widget = _widgets().Audio(format="wav", autoplay=False, loop=False)
        self.sample_rate = _sample_rate(self.dataset, modality)

    def show(self, index: int) -> None:
        wav = S.dataset_items(self.dataset, self.modality)[index]
        self.widget.value = wav_bytes(wav, self.sample_rate)


# Which preview each modality gets, registered in one place; anything else is shown as text.
PREVIEWS: dict[str, type] = {"image": ImagePreview, "text": Preview, "audio": AudioPreview,
                             "video": VideoPreview}


def register_preview(modality: str, preview: type) -> None:
    """Show ``modality``'s items with ``preview`` (a :class:`Preview` subclass) in the explorer."""
    if not (isinstance(preview, type) and issubclass(preview, Preview)):
        raise ValueError(f"preview: expected a Preview subclass, got {describe(preview)}")
    PREVIEWS[str(modality)] = preview


# ---------------------------------------------------------------- SearchExplorer
class SearchExplorer:
    """Search a dataset with text, image, composed (and spoken, ...) queries; see what comes back.

    A thin ipywidgets view over a :class:`~mmcourse.search_session.SearchSession` (available as
    :attr:`session`): the directions are the session's mode table, derived from the modalities
    present.

    Parameters
    ----------
    dataset : CaptionDataset — the collection (its images are the gallery).
    image_embeddings : float (n_images, d) — one vector per dataset image (a model's image
        embeddings, CNN features, or raw pixels flattened for a first look).
    text_encoder : callable list[str] -> (n, d) array, or None. In the images' space for
        text → image and image → text (e.g. ``make_text_encoder_fn(model)``); any space for
        text → text (e.g. bag-of-words). None disables text queries with a message.
    image_codes, text_codes_fn : packed uint8 hash codes of the images (``pack_bits``, (n,
        bits/8)) and a callable hashing query texts to packed codes; they add "hamming".
    caption_embeddings : (n_captions, d) — precomputed; otherwise ``text_encoder`` encodes the
        captions on first use (for image → text and text → text).
    caption_codes : packed hash codes of the captions for Hamming image → text / text → text.
    embeddings, encoders, codes, code_encoders : {modality: ...} for any further modality, e.g.
        ``encoders={"audio": lambda waves: embed_audio(model, waves)}`` on a dataset with
        spoken captions adds "audio → image" (pick a spoken caption, hear it, search).
    k : number of results shown (top-k slider, up to ``max_k``).
    metric : "cosine" (default), "dot", "euclidean" or "hamming".
    direction : a mode name ("text → image") or short name ("t2i", "i2i", "i2t", "t2t",
        "composed", "a2i", ...); default: text → image when the encoder matches the images'
        dimension, else text → text when there is an encoder, else image → image.
    vocabulary : words the encoder knows (a Vocabulary or a set), used to flag unknown words;
        default ``text_encoder.vocab`` when it has one, else the dataset's caption words.
    thumb_size : thumbnail size in pixels; ncols : results per row.

    Notebook 00 (before any model): ``SearchExplorer(ds, pixels, bow_fn,
    caption_embeddings=bag_of_words(ds.captions, vocab))`` gives image → image on raw pixels
    and text → text on bag-of-words; text → image then explains that the spaces differ.

    Use it by displaying it (``explorer`` as the last line of a cell, or ``explorer.widget``),
    or drive it from code: :meth:`search_text`, :meth:`search_image`, :meth:`search_item`,
    :meth:`set_direction`, with the last :class:`~mmcourse.search.SearchResult` in :attr:`result`.
    """

    def __init__(self, dataset, image_embeddings, text_encoder: Callable | None = None, *,
                 image_codes=None, text_codes_fn: Callable | None = None, caption_embeddings=None,
                 caption_codes=None, k: int = 8, metric: str = "cosine", direction: str | None = None,
                 vocabulary=None, thumb_size: int = 96, ncols: int = 8, max_k: int = 32,
                 query: str = "", seed: int = 0, embeddings: dict | None = None,
                 encoders: dict | None = None, codes: dict | None = None,
                 code_encoders: dict | None = None):
        from .search_session import SearchSession

        if not hasattr(dataset, "images") or not hasattr(dataset, "captions"):
            raise ValueError(f"dataset: expected a CaptionDataset, got {describe(dataset)}")
        self.dataset = dataset
        image_embeddings = as_matrix(image_embeddings, "image_embeddings", dtype=np.float32)
        if len(image_embeddings) != dataset.n_images:
            raise ValueError(f"image_embeddings: expected {dataset.n_images} rows (one per image), "
                             f"got shape {image_embeddings.shape}")
        if text_encoder is not None and not callable(text_encoder):
            raise ValueError(f"text_encoder: expected a callable list[str] -> (n, d) array or None, "
                             f"got {describe(text_encoder)}")
        if text_codes_fn is not None and not callable(text_codes_fn):
            raise ValueError(f"text_codes_fn: expected a callable or None, got {describe(text_codes_fn)}")
        if image_codes is not None:
            image_codes = S.as_packed_codes(image_codes, "image_codes")
            if len(image_codes) != dataset.n_images:
                raise ValueError(f"image_codes: expected {dataset.n_images} rows, got {len(image_codes)}")
        if caption_embeddings is not None:
            caption_embeddings = as_matrix(caption_embeddings, "caption_embeddings", dtype=np.float32)
            if len(caption_embeddings) != dataset.n_captions:
                raise ValueError(f"caption_embeddings: expected {dataset.n_captions} rows "
                                 f"(one per caption), got shape {caption_embeddings.shape}")
        if caption_codes is not None:
            caption_codes = S.as_packed_codes(caption_codes, "caption_codes")
            if len(caption_codes) != dataset.n_captions:
                raise ValueError(f"caption_codes: expected {dataset.n_captions} rows, "
                                 f"got {len(caption_codes)}")
        self.text_encoder = text_encoder
        self.text_codes_fn = text_codes_fn
        self.max_k = check_int(max_k, "max_k", minimum=1)
        self.k = check_int(k, "k", minimum=1, maximum=self.max_k)
        if vocabulary is None:  # the encoder's own vocabulary if it exposes one, else the dataset's
            own = getattr(text_encoder, "vocab", None)
            vocabulary = own if isinstance(getattr(own, "stoi", None), dict) else S.dataset_vocabulary(dataset)
        self.vocabulary = vocabulary
        # the historical image/text keywords are the first entries of the per-modality tables
        legacy = lambda pairs: {m: v for m, v in pairs if v is not None}  # noqa: E731
        self.session = SearchSession(
            dataset,
            embeddings={**legacy([("image", image_embeddings), ("text", caption_embeddings)]),
                        **(embeddings or {})},
            encoders={"text": text_encoder, **(encoders or {})},
            codes={**legacy([("image", image_codes), ("text", caption_codes)]), **(codes or {})},
            code_encoders={**legacy([("text", text_codes_fn)]), **(code_encoders or {})},
            vocabulary=vocabulary, on_status=self._set_status_if_built)
        check_choice(metric, "metric", self.available_metrics)
        self.ncols = check_int(ncols, "ncols", minimum=1)
        self.thumb_size = check_int(thumb_size, "thumb_size", minimum=8)
        self._rng = np.random.default_rng(seed)
        index_modalities = [m for m in self.session.in_play if self.session.kinds[m] == "index"]
        self.query_indices = {m: int(self._rng.integers(self.session.n_items(m))) for m in index_modalities}
        self.result: S.SearchResult | None = None
        self.previews = {m: PREVIEWS.get(m, Preview)(self, m) for m in self.session.in_play}
        # modalities whose results are a grid of thumbnails; the grid shows the result modality
        # of the current direction (grid_modality), other results are a list
        self.grid_modalities = tuple(m for m in self.session.in_play if self.previews[m].grid)
        self.grid_modality = self.grid_modalities[0] if self.grid_modalities else None
        mode = self.session.mode(direction) if direction is not None else self.session.default_mode()
        self._build(metric, query)
        self.set_direction(mode.name, run=False)
        for m in self.query_indices:
            self._show_query(m)
        if query:
            self.search()
        else:
            self._set_status(self._welcome())

    # ------------------------------------------------------------ set-up helpers
    @property
    def thumbs(self) -> ThumbnailCache | None:
        """The thumbnail cache of the grid now shown (of :attr:`grid_modality`; None without one)."""
        return None if self.grid_modality is None else self.previews[self.grid_modality].thumbs

    @property
    def available_metrics(self) -> tuple[str, ...]:
        return self.session.metrics

    @property
    def image_embeddings(self) -> np.ndarray:
        return self.session.embeddings[self.session.primary]

    @property
    def caption_embeddings(self) -> np.ndarray | None:
        return self.session.embeddings.get("text")

    @property
    def image_codes(self):
        return self.session.codes.get(self.session.primary)

    @property
    def query_index(self) -> int:
        """The index of the query item of the primary modality (the query image)."""
        return self.query_indices[self.session.primary]

    @query_index.setter
    def query_index(self, value: int) -> None:
        self.query_indices[self.session.primary] = int(value)

    def _typed_modality(self) -> str | None:
        typed = [m for m in self.session.in_play if self.session.kinds[m] == "value"]
        return typed[0] if typed else None

    def _welcome(self) -> str:
        t, p = self._typed_modality(), self.session.primary
        if t is None:
            return f"Click 'search' for {p} → {p}, or click any result."
        if self.session.encoders.get(t) is None:
            return (f"No {t} encoder: {t} queries are disabled. Click 'search' for {p} → {p}, "
                    f"or pass {t}_encoder= to type queries.")
        examples = "', '".join(S.example_queries(self.dataset, 2))
        return f"Type a query (e.g. '{examples}') and press search, or click any result."

    def _set_status_if_built(self, text: str) -> None:
        if hasattr(self, "status"):
            self._set_status(text)

    # ------------------------------------------------------------ widgets
    def _build(self, metric: str, query: str) -> None:
        W = _widgets()
        self.direction = W.Dropdown(options=list(self.session.modes), description="direction",
                                    layout=W.Layout(width="300px"))
        self.metric = W.Dropdown(options=list(self.available_metrics), value=metric,
                                 description="similarity", layout=W.Layout(width="220px"))
        n_max = max(self.session.n_items(m) for m in self.session.in_play)
        self.k_slider = W.IntSlider(value=self.k, min=1, max=min(self.max_k, n_max),
                                    description="top-k", continuous_update=False,
                                    layout=W.Layout(width="280px"))
        self.text = W.Text(value=query, placeholder="a red circle to the left of a blue square",
                           description="query", continuous_update=False,
                           layout=W.Layout(width="460px"))
        self.search_button = W.Button(description="search", button_style="primary", icon="search",
                                      layout=W.Layout(width="110px"))
        self.weight_slider = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05,
                                           description=f"{self._typed_modality() or 'text'} weight",
                                           continuous_update=False, readout_format=".2f",
                                           layout=W.Layout(width="300px"))
        self.query_panels, self.query_labels, self.random_buttons, self.pickers = {}, {}, {}, {}
        for m in self.query_indices:
            self._make_query_panel(m)
        primary = self.session.primary
        self.query_image = self.previews[primary].widget if primary in self.query_panels else None
        self.query_label = self.query_labels.get(primary)
        self.random_button = self.random_buttons.get(primary)
        self.query_panel = self.query_panels.get(primary)
        self.status = W.HTML()
        self.metrics_line = W.HTML()
        for widget, cls in ((self.text, "mm-query"), (self.search_button, "mm-search"),
                            (self.k_slider, "mm-topk"), (self.status, "mm-status"),
                            (self.metrics_line, "mm-metrics"), (self.direction, "mm-direction"),
                            (self.metric, "mm-metric"), (self.weight_slider, "mm-weight")):
            widget.add_class(cls)
        if self.query_image is not None:
            self.query_image.add_class("mm-query-image")
            self.random_button.add_class("mm-random")
        self._cells = [self._make_cell(i) for i in range(self.max_k)] if self.thumbs is not None else []
        self._rows = [self._make_row(i) for i in range(self.max_k)]
        w = self.thumbs.pixels[1] if self.thumbs is not None else 96
        self._grid_width = self.ncols * (w + 16)  # ncols thumbnails of the first grid modality
        self.image_grid = W.GridBox([c["box"] for c in self._cells], layout=W.Layout(
            grid_template_columns=f"repeat({self.ncols}, {w + 16}px)", grid_gap="6px"))
        self.text_list = W.VBox([r["box"] for r in self._rows])
        self.image_grid.add_class("mm-results")
        self.text_list.add_class("mm-results")
        self.widget = W.VBox([
            W.HBox([self.direction, self.metric, self.k_slider]),
            W.HBox([self.text, self.search_button]),
            self.weight_slider, *self.query_panels.values(), self.status, self.metrics_line,
            self.image_grid, self.text_list,
        ])
        self.widget.add_class("mm-search-explorer")
        self.search_button.on_click(_safe(self, lambda _: self.search()))
        self.text.observe(_safe(self, self._on_text), names="value")
        self.k_slider.observe(_safe(self, self._on_k), names="value")
        self.metric.observe(_safe(self, lambda _: self.search()), names="value")
        self.weight_slider.observe(_safe(self, lambda _: self._rerun_if_composed()), names="value")
        self.direction.observe(_safe(self, self._on_direction), names="value")

    def _make_query_panel(self, m: str) -> None:
        W = _widgets()
        preview = self.previews[m]
        label = W.HTML()
        random_button = W.Button(description=f"random {S.noun(m)}", icon="random",
                                 layout=W.Layout(width="140px" if m == self.session.primary else "190px"))
        random_button.on_click(_safe(self, lambda _b, m=m: self._random_query(m)))
        parts = [preview.widget, label]
        if m != self.session.primary:  # pick any item by number (e.g. a spoken test caption)
            picker = W.BoundedIntText(value=self.query_indices[m], min=0, max=self.session.n_items(m) - 1,
                                      description="#", layout=W.Layout(width="150px"))
            picker.add_class(f"mm-pick-{m}")
            picker.observe(_safe(self, lambda change, m=m: self._on_pick(m, change)), names="value")
            self.pickers[m] = picker
            parts.append(picker)
        parts.append(random_button)
        panel = W.HBox(parts)
        panel.add_class(f"mm-query-{m}")
        self.query_panels[m], self.query_labels[m], self.random_buttons[m] = panel, label, random_button

    def _make_cell(self, slot: int) -> dict:
        W = _widgets()
        h, w = self.thumbs.pixels
        image = W.Image(format="png", layout=W.Layout(width=f"{w}px", height=f"{h}px",
                                                      border="3px solid transparent"))
        image.add_class("mm-result-image")
        label = W.HTML(layout=W.Layout(width=f"{w + 8}px"))
        # a transparent button laid over the thumbnail makes the image itself clickable
        button = W.Button(description="", tooltip=f"click: search with this {S.noun(self.grid_modality)}",
                          layout=W.Layout(width=f"{w + 6}px", height=f"{h + 6}px",
                                          margin=f"-{h + 8}px 0 2px 0", padding="0"))
        button.style.button_color = "transparent"
        button.add_class("mm-result-button")
        button.on_click(_safe(self, lambda _b, slot=slot: self._click_image(slot)))
        box = W.VBox([image, button, label], layout=W.Layout(display="none", align_items="center"))
        box.add_class("mm-result")
        return {"box": box, "image": image, "label": label, "button": button, "index": None}

    def _use_grid(self, m: str) -> None:
        """Show results of grid modality ``m``: size the pool of cells to its thumbnails (as
        many columns as fit in the width of ``ncols`` thumbnails of the first grid modality)."""
        if m == self.grid_modality:
            return
        self.grid_modality = m
        h, w = self.thumbs.pixels
        for cell in self._cells:
            cell["image"].layout.width, cell["image"].layout.height = f"{w}px", f"{h}px"
            cell["label"].layout.width = f"{w + 8}px"
            button = cell["button"]
            button.layout.width, button.layout.height = f"{w + 6}px", f"{h + 6}px"
            button.layout.margin = f"-{h + 8}px 0 2px 0"
            button.tooltip = f"click: search with this {S.noun(m)}"
        ncols = max(1, min(self.ncols, self._grid_width // (w + 16)))
        self.image_grid.layout.grid_template_columns = f"repeat({ncols}, {w + 16}px)"

    def _make_row(self, slot: int) -> dict:
        W = _widgets()
        label = W.HTML(layout=W.Layout(width="640px"))
        button = W.Button(description="query ▸", tooltip="search with this item",
                          layout=W.Layout(width="90px"))
        button.add_class("mm-result-button")
        button.on_click(_safe(self, lambda _b, slot=slot: self._click_caption(slot)))
        box = W.HBox([button, label], layout=W.Layout(display="none"))
        box.add_class("mm-result-text")
        return {"box": box, "label": label, "button": button, "index": None, "modality": None}

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------ public driving API
    @property
    def current_mode(self):
        """The current :class:`~mmcourse.search_session.Mode`."""
        return self.session.modes[self.direction.value]

    @property
    def mode(self) -> str:
        """The current direction's short name: "t2i", "i2i", "i2t", "t2t", "composed", "a2i", ..."""
        return self.current_mode.short

    def set_direction(self, direction: str, run: bool = True) -> None:
        """Switch direction (a mode name such as "text → image" or a short name such as "t2i")."""
        mode = self.session.mode(direction)
        self._suspend = True
        try:
            self.direction.value = mode.name
        finally:
            self._suspend = False
        self._layout_for_mode()
        if run:
            self.search()

    def search_text(self, text: str, direction: str | None = None) -> S.SearchResult:
        """Run a typed query (text → image by default mode rules) and render it."""
        if direction is not None:
            self.set_direction(direction, run=False)
        elif self.current_mode.typed is None:
            typed = self._typed_modality()
            if typed is None:
                raise ValueError("text: this dataset has no typed modality to query with")
            self.set_direction(self.session.default_value_mode(typed).name, run=False)
        self._suspend = True
        try:
            self.text.value = text
        finally:
            self._suspend = False
        return self.search()

    def search_item(self, modality: str, index: int, direction: str | None = None) -> S.SearchResult:
        """Use dataset item ``index`` of ``modality`` as the query (an image, a spoken caption);
        by default image → image for the primary modality and ``modality`` → image otherwise."""
        check_choice(modality, "modality", list(self.query_indices))
        index = check_int(index, "index", minimum=0, maximum=self.session.n_items(modality) - 1)
        self.query_indices[modality] = index
        if direction is not None:
            self.set_direction(direction, run=False)
        elif not (self.current_mode.query_kind == "index" and self.current_mode.query_modality == modality):
            self.set_direction(self.session.default_index_mode(modality).name, run=False)
        self._show_query(modality)
        return self.search()

    def search_image(self, index: int, direction: str | None = None) -> S.SearchResult:
        """Use dataset image ``index`` as the query (image → image unless told otherwise)."""
        return self.search_item(self.session.primary, index, direction)

    def search(self) -> S.SearchResult:
        """Run the current query with the current settings; render and return the result."""
        result = self._run()
        self.result = result
        self._render(result)
        return result

    def _run(self) -> S.SearchResult:
        mode = self.current_mode
        index = self.query_indices.get(mode.query_modality) if mode.query_kind == "index" else None
        return self.session.run(mode, self.text.value if mode.typed else None, index=index,
                                k=int(self.k_slider.value), metric=self.metric.value,
                                weight=float(self.weight_slider.value))

    # ------------------------------------------------------------ rendering
    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.value = _html_status(text, error)

    def _layout_for_mode(self) -> None:
        mode = self.current_mode
        typed = mode.typed
        self.text.disabled = typed is None or self.session.encoders.get(typed) is None
        self.search_button.disabled = False
        self.text.layout.display = "" if typed else "none"
        self.weight_slider.layout.display = "" if mode.composed else "none"
        for m, panel in self.query_panels.items():
            shown = mode.query_kind == "index" and m == mode.query_modality
            panel.layout.display = "" if shown else "none"
        on_grid = mode.item_modality in self.grid_modalities
        if on_grid:
            self._use_grid(mode.item_modality)
        self.image_grid.layout.display = "" if on_grid else "none"
        self.text_list.layout.display = "none" if on_grid else ""

    def _show_query(self, m: str) -> None:
        i = self.query_indices[m]
        self.previews[m].show(i)
        split = f" ({self.dataset.split[_scene_of(self.dataset, m, i)]})"
        if self.previews[m].grid and hasattr(self.dataset, "captions_of"):
            texts = self.dataset.captions_of(_scene_of(self.dataset, m, i))[:3]
        else:
            said = _transcript(self.dataset, m, i)
            texts = [f"“{said}”"] if said is not None else []
        caps = "<br>".join(html.escape(c) for c in texts)
        self.query_labels[m].value = (f'<div class="mm-query-label" style="font-size:12px;margin-left:8px">'
                                      f'<b>query {html.escape(S.noun(m))} #{i}</b>{split}<br>{caps}</div>')
        if m in self.pickers and self.pickers[m].value != i:
            self._suspend = True
            try:
                self.pickers[m].value = i
            finally:
                self._suspend = False

    def _show_query_image(self) -> None:
        self._show_query(self.session.primary)

    def _render(self, result: S.SearchResult) -> None:
        marks = result.relevant
        shown_grid = result.target in self.grid_modalities and result.ok
        if shown_grid:
            self._use_grid(result.target)
        for slot, cell in enumerate(self._cells):
            visible = shown_grid and slot < len(result.ids)
            cell["box"].layout.display = "" if visible else "none"
            cell["index"] = int(result.ids[slot]) if visible else None
            if visible:
                self._fill_cell(cell, result, slot, None if marks is None else bool(marks[slot]))
        shown_rows = result.target not in self.grid_modalities and result.ok
        for slot, row in enumerate(self._rows):
            visible = shown_rows and slot < len(result.ids)
            row["box"].layout.display = "" if visible else "none"
            row["index"] = int(result.ids[slot]) if visible else None
            row["modality"] = result.target if visible else None
            if visible:
                self._fill_row(row, result, slot, None if marks is None else bool(marks[slot]))
        # status last: once it changes in the browser, the results above are in place
        self.metrics_line.value = (f'<span class="mm-metrics-text"><b>{html.escape(result.metrics_line())}</b>'
                                   f'</span>' if result.ok and result.metrics else "")
        self._set_status(result.message, error=not result.ok)

    @staticmethod
    def _mark(box, image_or_none, mark: bool | None) -> str:
        for cls in ("mm-relevant", "mm-irrelevant"):
            box.remove_class(cls)
        if mark is None:
            if image_or_none is not None:
                image_or_none.layout.border = "3px solid transparent"
            return ""
        box.add_class("mm-relevant" if mark else "mm-irrelevant")
        if image_or_none is not None:
            image_or_none.layout.border = f"3px solid {_GOOD if mark else _BAD}"
        colour = _GOOD if mark else _BAD
        return f'<span class="mm-mark" style="color:{colour};font-weight:bold">{"✓" if mark else "✗"}</span> '

    def _fill_cell(self, cell: dict, result: S.SearchResult, slot: int, mark: bool | None) -> None:
        i = cell["index"]
        cell["image"].value = self.thumbs(i)
        sign = self._mark(cell["box"], cell["image"], mark)
        value = result.display_scores[slot]
        caption = html.escape(self.previews[self.grid_modality].describe(i))
        if caption == html.escape(f"{S.noun(self.grid_modality)} #{i}"):
            caption = ""
        cell["label"].value = (f'<div style="font-size:11px;line-height:1.2;text-align:center" '
                               f'title="{caption}">{sign}#{i} · {result.score_label} '
                               f'{value:.3g}</div>')

    def _fill_row(self, row: dict, result: S.SearchResult, slot: int, mark: bool | None) -> None:
        j, m = row["index"], result.target
        sign = self._mark(row["box"], None, mark)
        value = result.display_scores[slot]
        of = f" of {S.noun(self.session.primary)} #{_scene_of(self.dataset, m, j)}"
        text = self.previews[m].describe(j) if m in self.previews else f"{S.noun(m)} #{j}"
        row["label"].value = (f'<div style="font-size:13px">{sign}{html.escape(text)} '
                              f'<span style="color:#777">({html.escape(S.noun(m))} {j}{of} · '
                              f'{result.score_label} {value:.3g})</span></div>')

    # ------------------------------------------------------------ events
    _suspend = False

    def _rerun_if_composed(self) -> None:
        if not self._suspend and self.current_mode.composed:
            self.search()

    def _on_text(self, change) -> None:
        if not self._suspend and self.current_mode.typed and change["new"].strip():
            self.search()

    def _on_k(self, change) -> None:
        if not self._suspend and self.result is not None:
            self.search()

    def _on_pick(self, m: str, change) -> None:
        if not self._suspend:
            self.search_item(m, int(change["new"]))

    def _on_direction(self, change) -> None:
        self._layout_for_mode()
        if self._suspend:
            return
        typed = self.current_mode.typed
        if typed and not self.text.value.strip():
            enabled = self.session.encoders.get(typed) is not None
            self._set_status("Type a query and press search." if enabled
                             else f"No {typed} encoder: {typed} queries are disabled.", error=not enabled)
            return
        self.search()

    def _random_query(self, m: str | None = None) -> None:
        m = self.session.primary if m is None else m
        mode = self.current_mode
        keep = mode.query_kind == "index" and mode.query_modality == m
        self.search_item(m, int(self._rng.integers(self.session.n_items(m))),
                         direction=None if keep else self.session.default_index_mode(m).name)

    def _click_image(self, slot: int) -> None:
        index = self._cells[slot]["index"]
        if index is None:
            return
        m, mode = self.grid_modality, self.current_mode
        keep = mode.query_kind == "index" and mode.query_modality == m
        self.search_item(m, index, direction=None if keep else self.session.modes[f"{m} → {m}"].name)

    def _click_caption(self, slot: int) -> None:
        j, m = self._rows[slot]["index"], self._rows[slot]["modality"]
        if j is None:
            return
        if self.session.kinds[m] == "value":
            self.search_text(S.dataset_items(self.dataset, m)[j],
                             direction=self.session.default_value_mode(m).name)
        else:
            self.search_item(m, j, direction=self.session.default_index_mode(m).name)


# ---------------------------------------------------------------- DatasetBrowser
def _clip_modality(dataset) -> str | None:
    """The first modality of ``dataset`` shown by :class:`VideoPreview` with one clip per scene
    (role "scene"), or None."""
    if not (hasattr(dataset, "modalities") and callable(getattr(dataset, "modality", None))):
        return None
    for m in dataset.modalities:
        preview = PREVIEWS.get(m, Preview)
        if issubclass(preview, VideoPreview) and getattr(dataset.modality(m), "role", None) == "scene":
            return m
    return None


class DatasetBrowser:
    """Page through a dataset's images with their captions; filter by word, label or split.

    ``per_page`` cards per page, ``ncols`` cards per row (None: as many as the width allows),
    ``thumb_size`` in pixels, ``max_captions`` captions listed per image.

    Each card shows the image, its id, its split (coloured badge) and its captions. When the
    dataset has a clip per scene (a modality shown by :class:`VideoPreview`, e.g. "video"; see
    :attr:`clip_modality`), the card plays the image's clip instead (an animated GIF at the
    clip's fps, the same size as the still). Filters
    combine (all must hold); see :func:`mmcourse.search.filter_images`.
    Drive it from code with :meth:`filter` and :meth:`show_page`; :attr:`indices` holds the
    filtered image indices and :attr:`page` the current page (0-based).
    """

    def __init__(self, dataset, per_page: int = 12, ncols: int | None = None, thumb_size: int = 96,
                 max_captions: int = 5):
        if not hasattr(dataset, "images") or not hasattr(dataset, "captions"):
            raise ValueError(f"dataset: expected a CaptionDataset, got {describe(dataset)}")
        self.dataset = dataset
        self.per_page = check_int(per_page, "per_page", minimum=1)
        self.ncols = None if ncols is None else check_int(ncols, "ncols", minimum=1)
        self.max_captions = check_int(max_captions, "max_captions", minimum=0)
        self.thumbs = ThumbnailCache(dataset.images, size=thumb_size)
        self.clip_modality = _clip_modality(dataset)
        self.gifs: ThumbnailCache | None = None  # animated GIF bytes per clip, LRU-cached
        self._clip_of = np.full(dataset.n_images, -1, dtype=np.int64)  # image -> clip index, -1: none
        if self.clip_modality is not None:
            m = self.clip_modality
            fps = _fps(dataset, m)
            scenes = np.asarray(dataset.modality(m).scene_index, dtype=np.int64)
            self._clip_of[scenes[::-1]] = np.arange(len(scenes))[::-1]  # the first clip of each scene
            self.gifs = ThumbnailCache(S.dataset_items(dataset, m), size=thumb_size, maxsize=512,
                                       render=lambda clip: clip,
                                       encode=lambda clip, scale: animated_gif(clip, fps, scale))
        self.indices = np.arange(dataset.n_images, dtype=np.int64)
        self.page = 0
        self._by_image = dataset.image_captions()
        self._build()
        self.show_page(0)

    def _build(self) -> None:
        W = _widgets()
        self.word = W.Text(description="word", placeholder="e.g. circle", continuous_update=False,
                           layout=W.Layout(width="240px"))
        labels = list(self.dataset.label_names or []) if self.dataset.labels is not None else []
        self.label = W.Dropdown(options=["(any)"] + labels, description="label",
                                layout=W.Layout(width="240px"))
        splits = [s for s in ("train", "val", "test") if (self.dataset.split == s).any()]
        self.split = W.Dropdown(options=["all"] + splits, description="split",
                                layout=W.Layout(width="180px"))
        self.prev_button = W.Button(description="◀ prev", layout=W.Layout(width="90px"))
        self.next_button = W.Button(description="next ▶", layout=W.Layout(width="90px"))
        self.page_label = W.HTML()
        self.status = W.HTML()
        h, w = self.thumbs.pixels
        self._cards = []
        for _ in range(self.per_page):
            image = W.Image(format="png", layout=W.Layout(width=f"{w}px", height=f"{h}px"))
            text = W.HTML(layout=W.Layout(width="220px"))
            box = W.HBox([image, text], layout=W.Layout(display="none", border="1px solid #ddd",
                                                        padding="4px"))
            box.add_class("mm-card")
            self._cards.append({"box": box, "image": image, "text": text})
        columns = "auto-fill" if self.ncols is None else self.ncols  # auto-fill: as many as fit
        self.grid = W.GridBox([c["box"] for c in self._cards], layout=W.Layout(
            grid_template_columns=f"repeat({columns}, {w + 240}px)", grid_gap="6px"))
        self.widget = W.VBox([W.HBox([self.word, self.label, self.split]),
                              W.HBox([self.prev_button, self.next_button, self.page_label]),
                              self.status, self.grid])
        self.widget.add_class("mm-dataset-browser")
        for control in (self.word, self.label, self.split):
            control.observe(_safe(self, lambda _: self._apply_filters()), names="value")
        self.prev_button.on_click(_safe(self, lambda _: self.show_page(self.page - 1)))
        self.next_button.on_click(_safe(self, lambda _: self.show_page(self.page + 1)))

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.value = _html_status(text, error)

    @property
    def n_pages(self) -> int:
        return max(1, -(-len(self.indices) // self.per_page))

    def filter(self, word: str | None = None, label: str | None = None,
               split: str | None = None) -> np.ndarray:
        """Set the filters (None = no filter), go to page 0 and return the matching indices."""
        self._suspend = True
        try:
            self.word.value = word or ""
            self.label.value = label if label else "(any)"
            self.split.value = split if split else "all"
        except Exception as exc:  # traitlets raise TraitError for an unknown option
            raise ValueError(f"filter: expected a label among {list(self.label.options)[1:6]}... and "
                             f"a split among {list(self.split.options)}, got label={label!r}, "
                             f"split={split!r} ({exc})") from None
        finally:
            self._suspend = False
        self._apply_filters()
        return self.indices

    _suspend = False

    def _apply_filters(self) -> None:
        if self._suspend:
            return
        label = None if self.label.value == "(any)" else self.label.value
        split = None if self.split.value == "all" else self.split.value
        self.indices = S.filter_images(self.dataset, word=self.word.value.strip() or None,
                                       label=label, split=split)
        self.show_page(0)

    def show_page(self, page: int) -> None:
        """Show page ``page`` (clipped to the valid range) of the filtered images."""
        if isinstance(page, bool) or not isinstance(page, (int, np.integer)):
            raise ValueError(f"page: expected an integer, got {describe(page)}")
        self.page = int(min(max(int(page), 0), self.n_pages - 1))
        start = self.page * self.per_page
        shown = self.indices[start:start + self.per_page]
        for slot, card in enumerate(self._cards):
            if slot < len(shown):
                self._fill(card, int(shown[slot]))
                card["box"].layout.display = ""
            else:
                card["box"].layout.display = "none"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.n_pages - 1
        self.page_label.value = (f'<span class="mm-page">page {self.page + 1}/{self.n_pages} · '
                                 f'{len(self.indices)} of {self.dataset.n_images} images</span>')
        self._set_status("No image matches these filters." if len(self.indices) == 0 else "",
                         error=len(self.indices) == 0)

    def _fill(self, card: dict, i: int) -> None:
        ds = self.dataset
        clip = int(self._clip_of[i])
        card["image"].format = "png" if clip < 0 else "gif"
        card["image"].value = self.thumbs(i) if clip < 0 else self.gifs(clip)
        split = str(ds.split[i])
        badge = (f'<span style="background:{_SPLIT_COLOURS.get(split, "#777")};color:white;'
                 f'padding:0 4px;border-radius:3px">{split}</span>')
        caps = "".join(f"<li>{html.escape(ds.captions[j])}</li>"
                       for j in self._by_image[i][:self.max_captions])
        labels = ""
        if ds.labels is not None and ds.label_names is not None:
            names = [ds.label_names[c] for c in np.flatnonzero(ds.labels[i])]
            labels = f'<div style="color:#555">labels: {html.escape(", ".join(names))}</div>'
        card["text"].value = (f'<div style="font-size:11px;line-height:1.25"><b>#{i}</b> '
                              f'{html.escape(str(ds.image_ids[i]))} {badge}{labels}'
                              f'<ul style="margin:2px 0 0 14px;padding:0">{caps}</ul></div>')


__all__ = ["SearchExplorer", "DatasetBrowser", "ThumbnailCache", "encode_png", "wav_bytes", "animated_gif",
           "Preview", "ImagePreview", "AudioPreview", "VideoPreview", "PREVIEWS", "register_preview"]
