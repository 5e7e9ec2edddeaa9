"""Interactive widgets: :class:`SearchExplorer` (query the engine) and :class:`DatasetBrowser`.

Both are thin ipywidgets shells: every search is a pure function of :mod:`mmcourse.search`,
and thumbnails come from :class:`ThumbnailCache` (PNG bytes encoded once per image, kept in an
LRU cache, upscaled nearest-neighbour so 32 px scenes stay crisp). A render only swaps the
bytes of a fixed pool of image widgets; nothing re-encodes the gallery.

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

DIRECTIONS = {
    "text → image": "t2i",
    "image → image": "i2i",
    "image → text": "i2t",
    "text → text": "t2t",
    "image + text → image": "composed",
}
_TEXT_QUERY = ("t2i", "t2t", "composed")
_IMAGE_QUERY = ("i2i", "i2t", "composed")
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

    ``size`` is the wanted display size in pixels; the upscale factor is the integer that gets
    closest (at least 1). ``maxsize`` bounds memory (about 2–10 KB per 96 px thumbnail).
    """

    def __init__(self, images, size: int = 96, maxsize: int = 4096):
        self.images = check_images(images, "images")
        size = check_int(size, "size", minimum=8)
        self.maxsize = check_int(maxsize, "maxsize", minimum=1)
        self.scale = max(1, int(round(size / max(self.images.shape[1:3]))))
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self.encoded = 0  # how many PNG encodings were done (tests check the cache works)

    @property
    def pixels(self) -> tuple[int, int]:
        """Display size (height, width) of a thumbnail in pixels."""
        return self.images.shape[1] * self.scale, self.images.shape[2] * self.scale

    def __call__(self, index: int) -> bytes:
        index = check_int(index, "index", minimum=0, maximum=len(self.images) - 1)
        data = self._cache.get(index)
        if data is not None:
            self._cache.move_to_end(index)
            return data
        data = encode_png(self.images[index], self.scale)
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


# ---------------------------------------------------------------- SearchExplorer
class SearchExplorer:
    """Search a dataset with text, image and composed queries, and see what comes back.

    Parameters
    ----------
    dataset : CaptionDataset — the collection (its images are the gallery).
    image_embeddings : float (n_images, d) — one vector per dataset image (a model's image
        embeddings, CNN features, or raw pixels flattened for a first look).
    text_encoder : callable list[str] -> (n, d) array, or None. In the images' space for
        text → image and image → text (e.g. ``make_text_encoder_fn(model)``); any space for
        text → text (e.g. bag-of-words). None disables text queries with a message.
    image_codes, text_codes_fn : hash codes of the images ({0,1}, (n, bits), or packed) and a
        callable hashing query texts; they add "hamming" to the similarity choices.
    caption_embeddings : (n_captions, d) — precomputed; otherwise ``text_encoder`` encodes the
        captions on first use (for image → text and text → text).
    caption_codes : hash codes of the captions for Hamming image → text / text → text.
    k : number of results shown (top-k slider, up to ``max_k``).
    metric : "cosine" (default), "dot", "euclidean" or "hamming".
    direction : one of :data:`DIRECTIONS` (keys or short names "t2i", "i2i", "i2t", "t2t",
        "composed"); default: text → image when the encoder matches the images' dimension,
        else text → text when there is an encoder, else image → image.
    vocabulary : words the encoder knows (a Vocabulary or a set), used to flag unknown words;
        default ``text_encoder.vocab`` when it has one, else the dataset's caption words.
    thumb_size : thumbnail size in pixels; ncols : results per row.

    Notebook 00 (before any model): ``SearchExplorer(ds, pixels, bow_fn,
    caption_embeddings=bag_of_words(ds.captions, vocab))`` gives image → image on raw pixels
    and text → text on bag-of-words; text → image then explains that the spaces differ.

    Use it by displaying it (``explorer`` as the last line of a cell, or ``explorer.widget``),
    or drive it from code: :meth:`search_text`, :meth:`search_image`, :meth:`set_direction`,
    with the last :class:`~mmcourse.search.SearchResult` in :attr:`result`.
    """

    def __init__(self, dataset, image_embeddings, text_encoder: Callable | None = None, *,
                 image_codes=None, text_codes_fn: Callable | None = None, caption_embeddings=None,
                 caption_codes=None, k: int = 8, metric: str = "cosine", direction: str | None = None,
                 vocabulary=None, thumb_size: int = 96, ncols: int = 8, max_k: int = 32,
                 query: str = "", seed: int = 0):
        if not hasattr(dataset, "images") or not hasattr(dataset, "captions"):
            raise ValueError(f"dataset: expected a CaptionDataset, got {describe(dataset)}")
        self.dataset = dataset
        self.image_embeddings = as_matrix(image_embeddings, "image_embeddings", dtype=np.float32)
        if len(self.image_embeddings) != dataset.n_images:
            raise ValueError(f"image_embeddings: expected {dataset.n_images} rows (one per image), "
                             f"got shape {self.image_embeddings.shape}")
        if text_encoder is not None and not callable(text_encoder):
            raise ValueError(f"text_encoder: expected a callable list[str] -> (n, d) array or None, "
                             f"got {describe(text_encoder)}")
        if text_codes_fn is not None and not callable(text_codes_fn):
            raise ValueError(f"text_codes_fn: expected a callable or None, got {describe(text_codes_fn)}")
        self.text_encoder = text_encoder
        self.text_codes_fn = text_codes_fn
        self.image_codes = None
        if image_codes is not None:
            self.image_codes = S.as_packed_codes(image_codes, "image_codes")
            if len(self.image_codes) != dataset.n_images:
                raise ValueError(f"image_codes: expected {dataset.n_images} rows, got {len(self.image_codes)}")
        self.caption_embeddings = None
        if caption_embeddings is not None:
            self.caption_embeddings = as_matrix(caption_embeddings, "caption_embeddings", dtype=np.float32)
            if len(self.caption_embeddings) != dataset.n_captions:
                raise ValueError(f"caption_embeddings: expected {dataset.n_captions} rows "
                                 f"(one per caption), got shape {self.caption_embeddings.shape}")
        self.caption_codes = None
        if caption_codes is not None:
            self.caption_codes = S.as_packed_codes(caption_codes, "caption_codes")
            if len(self.caption_codes) != dataset.n_captions:
                raise ValueError(f"caption_codes: expected {dataset.n_captions} rows, "
                                 f"got {len(self.caption_codes)}")
        self.max_k = check_int(max_k, "max_k", minimum=1)
        self.k = check_int(k, "k", minimum=1, maximum=self.max_k)
        metrics = self.available_metrics
        check_choice(metric, "metric", metrics)
        if vocabulary is None:  # the encoder's own vocabulary if it exposes one, else the dataset's
            own = getattr(text_encoder, "vocab", None)
            vocabulary = own if isinstance(getattr(own, "stoi", None), dict) else S.dataset_vocabulary(dataset)
        self.vocabulary = vocabulary
        self.ncols = check_int(ncols, "ncols", minimum=1)
        self.thumbs = ThumbnailCache(dataset.images, size=thumb_size)
        self._rng = np.random.default_rng(seed)
        self.query_index = int(self._rng.integers(dataset.n_images))
        self.result: S.SearchResult | None = None
        self._text_dim = self._probe_text_dim()
        if direction is None:
            direction = self._default_direction()
        self._build(metric, query)
        self.set_direction(direction, run=False)
        self._show_query_image()
        if query:
            self.search()
        else:
            self._set_status(self._welcome())

    # ------------------------------------------------------------ set-up helpers
    @property
    def available_metrics(self) -> tuple[str, ...]:
        has_codes = self.image_codes is not None or self.caption_codes is not None
        return ("cosine", "dot", "euclidean") + (("hamming",) if has_codes else ())

    def _probe_text_dim(self) -> int | None:
        if self.text_encoder is None:
            return None
        try:
            return S.encode_texts(self.text_encoder, [self.dataset.captions[0]]).shape[1]
        except S.QueryError:
            return None

    def _default_direction(self) -> str:
        if self._text_dim is not None and self._text_dim == self.image_embeddings.shape[1]:
            return "t2i"
        if self.text_encoder is not None:
            return "t2t"
        return "i2i"

    def _welcome(self) -> str:
        if self.text_encoder is None:
            return ("No text encoder: text queries are disabled. Click 'search' for image → image, "
                    "or pass text_encoder= to type queries.")
        examples = "', '".join(S.example_queries(self.dataset, 2))
        return f"Type a query (e.g. '{examples}') and press search, or click any result."

    # ------------------------------------------------------------ widgets
    def _build(self, metric: str, query: str) -> None:
        W = _widgets()
        self.direction = W.Dropdown(options=list(DIRECTIONS), description="direction",
                                    layout=W.Layout(width="300px"))
        self.metric = W.Dropdown(options=list(self.available_metrics), value=metric,
                                 description="similarity", layout=W.Layout(width="220px"))
        self.k_slider = W.IntSlider(value=self.k, min=1, max=min(self.max_k, self.dataset.n_images),
                                    description="top-k", continuous_update=False,
                                    layout=W.Layout(width="280px"))
        self.text = W.Text(value=query, placeholder="a red circle to the left of a blue square",
                           description="query", continuous_update=False,
                           layout=W.Layout(width="460px"))
        self.search_button = W.Button(description="search", button_style="primary", icon="search",
                                      layout=W.Layout(width="110px"))
        self.random_button = W.Button(description="random image", icon="random",
                                      layout=W.Layout(width="140px"))
        self.weight_slider = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05,
                                           description="text weight", continuous_update=False,
                                           readout_format=".2f", layout=W.Layout(width="300px"))
        h, w = self.thumbs.pixels
        self.query_image = W.Image(format="png", layout=W.Layout(width=f"{w}px", height=f"{h}px"))
        self.query_label = W.HTML()
        self.query_panel = W.HBox([self.query_image, self.query_label, self.random_button])
        self.status = W.HTML()
        self.metrics_line = W.HTML()
        for widget, cls in ((self.text, "mm-query"), (self.search_button, "mm-search"),
                            (self.k_slider, "mm-topk"), (self.status, "mm-status"),
                            (self.metrics_line, "mm-metrics"), (self.direction, "mm-direction"),
                            (self.metric, "mm-metric"), (self.weight_slider, "mm-weight"),
                            (self.query_image, "mm-query-image"), (self.random_button, "mm-random")):
            widget.add_class(cls)
        self._cells = [self._make_cell(i) for i in range(self.max_k)]
        self._rows = [self._make_row(i) for i in range(self.max_k)]
        self.image_grid = W.GridBox([c["box"] for c in self._cells], layout=W.Layout(
            grid_template_columns=f"repeat({self.ncols}, {w + 16}px)", grid_gap="6px"))
        self.text_list = W.VBox([r["box"] for r in self._rows])
        self.image_grid.add_class("mm-results")
        self.text_list.add_class("mm-results")
        self.widget = W.VBox([
            W.HBox([self.direction, self.metric, self.k_slider]),
            W.HBox([self.text, self.search_button]),
            self.weight_slider, self.query_panel, self.status, self.metrics_line,
            self.image_grid, self.text_list,
        ])
        self.widget.add_class("mm-search-explorer")
        self.search_button.on_click(_safe(self, lambda _: self.search()))
        self.random_button.on_click(_safe(self, lambda _: self._random_query()))
        self.text.observe(_safe(self, self._on_text), names="value")
        self.k_slider.observe(_safe(self, self._on_k), names="value")
        self.metric.observe(_safe(self, lambda _: self.search()), names="value")
        self.weight_slider.observe(_safe(self, lambda _: self._rerun_if({"composed"})), names="value")
        self.direction.observe(_safe(self, self._on_direction), names="value")

    def _make_cell(self, slot: int) -> dict:
        W = _widgets()
        h, w = self.thumbs.pixels
        image = W.Image(format="png", layout=W.Layout(width=f"{w}px", height=f"{h}px",
                                                      border="3px solid transparent"))
        image.add_class("mm-result-image")
        label = W.HTML(layout=W.Layout(width=f"{w + 8}px"))
        # a transparent button laid over the thumbnail makes the image itself clickable
        button = W.Button(description="", tooltip="click: search with this image",
                          layout=W.Layout(width=f"{w + 6}px", height=f"{h + 6}px",
                                          margin=f"-{h + 8}px 0 2px 0", padding="0"))
        button.style.button_color = "transparent"
        button.add_class("mm-result-button")
        button.on_click(_safe(self, lambda _b, slot=slot: self._click_image(slot)))
        box = W.VBox([image, button, label], layout=W.Layout(display="none", align_items="center"))
        box.add_class("mm-result")
        return {"box": box, "image": image, "label": label, "button": button, "index": None}

    def _make_row(self, slot: int) -> dict:
        W = _widgets()
        label = W.HTML(layout=W.Layout(width="640px"))
        button = W.Button(description="query ▸", tooltip="search images with this caption",
                          layout=W.Layout(width="90px"))
        button.add_class("mm-result-button")
        button.on_click(_safe(self, lambda _b, slot=slot: self._click_caption(slot)))
        box = W.HBox([button, label], layout=W.Layout(display="none"))
        box.add_class("mm-result-text")
        return {"box": box, "label": label, "button": button, "index": None}

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------ public driving API
    @property
    def mode(self) -> str:
        """The current direction's short name: "t2i", "i2i", "i2t", "t2t" or "composed"."""
        return DIRECTIONS[self.direction.value]

    def set_direction(self, direction: str, run: bool = True) -> None:
        """Switch direction (a :data:`DIRECTIONS` key or short name)."""
        short = {v: k for k, v in DIRECTIONS.items()}
        if direction in short:
            direction = short[direction]
        check_choice(direction, "direction", list(DIRECTIONS) + list(short))
        self._suspend = True
        try:
            self.direction.value = direction
        finally:
            self._suspend = False
        self._layout_for_mode()
        if run:
            self.search()

    def search_text(self, text: str, direction: str | None = None) -> S.SearchResult:
        """Run a typed query (text → image by default mode rules) and render it."""
        if direction is not None:
            self.set_direction(direction, run=False)
        elif self.mode not in _TEXT_QUERY:
            self.set_direction(self._default_text_direction(), run=False)
        self._suspend = True
        try:
            self.text.value = text
        finally:
            self._suspend = False
        return self.search()

    def search_image(self, index: int, direction: str | None = None) -> S.SearchResult:
        """Use dataset image ``index`` as the query (image → image unless told otherwise)."""
        self.query_index = check_int(index, "index", minimum=0, maximum=self.dataset.n_images - 1)
        if direction is not None:
            self.set_direction(direction, run=False)
        elif self.mode not in _IMAGE_QUERY:
            self.set_direction("i2i", run=False)
        self._show_query_image()
        return self.search()

    def search(self) -> S.SearchResult:
        """Run the current query with the current settings; render and return the result."""
        result = self._run()
        self.result = result
        self._render(result)
        return result

    # ------------------------------------------------------------ running queries
    def _default_text_direction(self) -> str:
        return "t2i" if self._text_dim == self.image_embeddings.shape[1] else "t2t"

    def _captions_space(self) -> np.ndarray:
        if self.caption_embeddings is None:
            self._set_status(f"Encoding {self.dataset.n_captions} captions once…")
            chunks = [S.encode_texts(self.text_encoder, self.dataset.captions[i:i + 1024],
                                     what="text encoder (on the dataset's captions)")
                      for i in range(0, self.dataset.n_captions, 1024)]
            self.caption_embeddings = np.concatenate(chunks, axis=0)
        return self.caption_embeddings

    _MAX_CACHED_RELEVANCE = 20_000_000  # entries (80 MB float32) of the caption × image matrix

    def _caption_relevance(self, image_index: int) -> np.ndarray | None:
        """Relevance (n_captions,) of the captions to one image, from a matrix computed once
        (structured datasets are slow per image, fast as a whole); None: compute per query."""
        ds = self.dataset
        if not getattr(ds, "has_structure", False) or ds.n_captions * ds.n_images > self._MAX_CACHED_RELEVANCE:
            return None
        if getattr(self, "_relevance_matrix", None) is None:
            self._set_status("Computing the caption × image relevance once…")
            self._relevance_matrix = ds.text_image_relevance(graded=True)  # (m, n)
        return self._relevance_matrix[:, image_index]

    def _caption_codes(self) -> np.ndarray:
        if self.caption_codes is None:
            n_bytes = self.image_codes.shape[1] if self.image_codes is not None else None
            if n_bytes is None:
                raise S.QueryError("Hamming search over captions needs caption_codes=.")
            self.caption_codes = S.encode_text_codes(self.text_codes_fn, self.dataset.captions, n_bytes)
        return self.caption_codes

    def _run(self) -> S.SearchResult:
        mode, metric, k = self.mode, self.metric.value, int(self.k_slider.value)
        ds, text = self.dataset, self.text.value
        kw = dict(k=k, metric=metric)
        try:
            if metric == "hamming" and self.image_codes is None and mode in ("t2i", "i2i"):
                raise S.QueryError("No image codes were given: pick another similarity.")
            if mode == "t2i":
                return S.search_text_to_image(text, self.text_encoder, self.image_embeddings, ds,
                                              image_codes=self.image_codes,
                                              text_codes_fn=self.text_codes_fn,
                                              vocabulary=self.vocabulary, **kw)
            if mode == "i2i":
                return S.search_image_to_image(self.query_index, self.image_embeddings, ds,
                                               image_codes=self.image_codes, **kw)
            if mode == "composed":
                return S.composed_query(self.query_index, text, self.text_encoder,
                                        self.image_embeddings, ds, weight=float(self.weight_slider.value),
                                        vocabulary=self.vocabulary, **kw)
            caps = None if metric == "hamming" else self._captions_space()
            codes = self._caption_codes() if metric == "hamming" else None
            if mode == "i2t":
                return S.search_image_to_text(self.query_index, self.image_embeddings, caps, ds,
                                              image_codes=self.image_codes, caption_codes=codes,
                                              relevance=self._caption_relevance(self.query_index), **kw)
            return S.search_text_to_text(text, self.text_encoder, caps, ds, caption_codes=codes,
                                         text_codes_fn=self.text_codes_fn,
                                         vocabulary=self.vocabulary, **kw)
        except S.QueryError as exc:
            return S.failed(str(exc), "text" if mode in ("i2t", "t2t") else "image", metric)

    # ------------------------------------------------------------ rendering
    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.value = _html_status(text, error)

    def _layout_for_mode(self) -> None:
        mode = self.mode
        text_on = mode in _TEXT_QUERY
        self.text.disabled = not text_on or self.text_encoder is None
        self.search_button.disabled = False
        self.text.layout.display = "" if text_on else "none"
        self.weight_slider.layout.display = "" if mode == "composed" else "none"
        self.query_panel.layout.display = "" if mode in _IMAGE_QUERY else "none"
        self.image_grid.layout.display = "none" if mode in ("i2t", "t2t") else ""
        self.text_list.layout.display = "" if mode in ("i2t", "t2t") else "none"

    def _show_query_image(self) -> None:
        i = self.query_index
        self.query_image.value = self.thumbs(i)
        split = str(self.dataset.split[i])
        caps = "<br>".join(html.escape(c) for c in self.dataset.captions_of(i)[:3])
        self.query_label.value = (f'<div class="mm-query-label" style="font-size:12px;margin-left:8px">'
                                  f'<b>query image #{i}</b> ({split})<br>{caps}</div>')

    def _render(self, result: S.SearchResult) -> None:
        marks = result.relevant
        shown_images = result.target == "image" and result.ok
        for slot, cell in enumerate(self._cells):
            visible = shown_images and slot < len(result.ids)
            cell["box"].layout.display = "" if visible else "none"
            cell["index"] = int(result.ids[slot]) if visible else None
            if visible:
                self._fill_cell(cell, result, slot, None if marks is None else bool(marks[slot]))
        shown_text = result.target == "text" and result.ok
        for slot, row in enumerate(self._rows):
            visible = shown_text and slot < len(result.ids)
            row["box"].layout.display = "" if visible else "none"
            row["index"] = int(result.ids[slot]) if visible else None
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
        caption = html.escape(self.dataset.captions_of(i)[0]) if self.dataset.captions_of(i) else ""
        cell["label"].value = (f'<div style="font-size:11px;line-height:1.2;text-align:center" '
                               f'title="{caption}">{sign}#{i} · {result.score_label} '
                               f'{value:.3g}</div>')

    def _fill_row(self, row: dict, result: S.SearchResult, slot: int, mark: bool | None) -> None:
        j = row["index"]
        sign = self._mark(row["box"], None, mark)
        value = result.display_scores[slot]
        img = int(self.dataset.caption_image[j])
        row["label"].value = (f'<div style="font-size:13px">{sign}{html.escape(self.dataset.captions[j])} '
                              f'<span style="color:#777">(caption {j} of image #{img} · '
                              f'{result.score_label} {value:.3g})</span></div>')

    # ------------------------------------------------------------ events
    _suspend = False

    def _rerun_if(self, modes) -> None:
        if not self._suspend and self.mode in modes:
            self.search()

    def _on_text(self, change) -> None:
        if not self._suspend and self.mode in _TEXT_QUERY and change["new"].strip():
            self.search()

    def _on_k(self, change) -> None:
        if not self._suspend and self.result is not None:
            self.search()

    def _on_direction(self, change) -> None:
        self._layout_for_mode()
        if self._suspend:
            return
        if self.mode in _TEXT_QUERY and not self.text.value.strip():
            self._set_status("Type a query and press search." if self.text_encoder is not None
                             else "No text encoder: text queries are disabled.",
                             error=self.text_encoder is None)
            return
        self.search()

    def _random_query(self) -> None:
        self.search_image(int(self._rng.integers(self.dataset.n_images)),
                          direction=None if self.mode in _IMAGE_QUERY else "i2i")

    def _click_image(self, slot: int) -> None:
        index = self._cells[slot]["index"]
        if index is None:
            return
        direction = self.mode if self.mode in _IMAGE_QUERY else "i2i"
        self.search_image(index, direction=direction)

    def _click_caption(self, slot: int) -> None:
        j = self._rows[slot]["index"]
        if j is None:
            return
        self.search_text(self.dataset.captions[j], direction=self._default_text_direction())


# ---------------------------------------------------------------- DatasetBrowser
class DatasetBrowser:
    """Page through a dataset's images with their captions; filter by word, label or split.

    ``per_page`` cards per page, ``ncols`` cards per row (None: as many as the width allows),
    ``thumb_size`` in pixels, ``max_captions`` captions listed per image.

    Each card shows the image, its id, its split (coloured badge) and its captions. Filters
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
        card["image"].value = self.thumbs(i)
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


__all__ = ["SearchExplorer", "DatasetBrowser", "ThumbnailCache", "encode_png", "DIRECTIONS"]
