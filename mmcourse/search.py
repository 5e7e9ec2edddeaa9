"""Pure query → ranked-results functions behind :class:`mmcourse.widgets.SearchExplorer`.

Every search returns a :class:`SearchResult`: the top-k item ids (image or caption indices),
their scores, a relevance mark per result where the dataset knows the ground truth, the query's
AP and NDCG@k, and a one-line message for a status bar. The widget is a thin shell over these
functions, so everything here is testable without a browser.

Two kinds of problem are handled differently, on purpose:

* programming errors in the *set-up* (embeddings of the wrong shape, ``k < 1``, an unknown
  metric, an image index out of range) raise ``ValueError`` naming the argument;
* problems with the *query itself* (empty text, only unknown words, an encoder that raises or
  returns NaN or the wrong dimension, hash codes without a text hasher) never raise: they come
  back as ``SearchResult(ok=False, message=...)`` so a widget can show the message, never a
  traceback.

Scores are "higher is better" everywhere (distances are negated for ranking, see
:attr:`SearchResult.display_scores` for the natural value), and ties are broken by item index,
the convention of :mod:`mmcourse.metrics`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._validation import as_matrix, check_choice, check_int, describe

METRICS = ("cosine", "dot", "euclidean", "hamming")
DISTANCE_METRICS = ("euclidean", "hamming")
SCORE_LABELS = {"cosine": "cos", "dot": "dot", "euclidean": "dist", "hamming": "bits"}


class QueryError(ValueError):
    """A problem with the query (not the set-up); turned into ``SearchResult(ok=False)``."""


@dataclass
class SearchResult:
    """The answer to one query.

    Attributes
    ----------
    ids : int64 (k,) — indices of the returned items (images, or captions when
        ``target == "text"``), best first
    scores : float32 (k,) — ranking scores, higher is better (negated distance for
        Euclidean and Hamming)
    relevance : float32 (k,) or None — the ground-truth grade of each result (0 = not
        relevant); None when the dataset cannot tell for this query
    metrics : dict — ``"AP"`` and ``f"NDCG@{k}"`` over the full ranking, ``"hits"`` (relevant
        results shown) and ``"n_relevant"`` (relevant items in the collection); empty when
        relevance is unknown
    message : str — one human-readable line for a status bar
    ok : bool — False when the query could not be run (then ``ids`` is empty)
    target : "image" or "text" — what ``ids`` index
    metric : the similarity used
    query : a short description of the query
    """

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    relevance: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)
    message: str = ""
    ok: bool = True
    target: str = "image"
    metric: str = "cosine"
    query: str = ""

    @property
    def relevant(self) -> np.ndarray | None:
        """Boolean (k,) mark per result (relevance > 0), or None when unknown."""
        return None if self.relevance is None else self.relevance > 0

    @property
    def display_scores(self) -> np.ndarray:
        """Scores in their natural unit: similarity, or distance (Euclidean; Hamming in bits)."""
        return -self.scores if self.metric in DISTANCE_METRICS else self.scores

    @property
    def score_label(self) -> str:
        return SCORE_LABELS.get(self.metric, "score")

    def metrics_line(self) -> str:
        """E.g. ``"AP 0.812 · NDCG@8 0.905 · 7/8 relevant shown (143 in the collection)"``."""
        if not self.metrics:
            return ""
        k = len(self.ids)
        parts = [f"{name} {value:.3f}" for name, value in self.metrics.items()
                 if name.startswith(("AP", "NDCG"))]
        parts.append(f"{self.metrics['hits']}/{k} relevant shown "
                     f"({self.metrics['n_relevant']} in the collection)")
        return " · ".join(parts)


def failed(message: str, target: str = "image", metric: str = "cosine", query: str = "") -> SearchResult:
    """A result that carries only an explanation (``ok=False``, no ids)."""
    return SearchResult(message=message, ok=False, target=target, metric=metric, query=query)


# ---------------------------------------------------------------- vocabulary and text checks
def dataset_vocabulary(dataset) -> frozenset:
    """The set of tokens in the dataset's captions (used to flag unknown query words)."""
    from .text import tokenize

    words: set[str] = set()
    for caption in dataset.captions:
        words.update(tokenize(caption))
    return frozenset(words)


def _known_words(vocabulary) -> frozenset | None:
    if vocabulary is None or vocabulary is False:
        return None
    stoi = getattr(vocabulary, "stoi", None)
    if isinstance(stoi, dict):
        return frozenset(w for w in stoi if not (w.startswith("<") and w.endswith(">")))
    if isinstance(vocabulary, (set, frozenset, list, tuple, dict)):
        return frozenset(str(w) for w in vocabulary)
    raise ValueError(f"vocabulary: expected a Vocabulary, a set of words, None or False, "
                     f"got {describe(vocabulary)}")


def check_query_text(text, vocabulary=None) -> tuple[str, list[str]]:
    """Validate a typed query; return ``(clean_text, unknown_words)``.

    Raises :class:`QueryError` for a non-string, an empty query, or a query whose words are
    all unknown to ``vocabulary`` (a Vocabulary, a set of words, or None to skip the check).
    """
    from .text import tokenize

    if not isinstance(text, str):
        raise QueryError(f"The query must be text, got {describe(text)}.")
    clean = " ".join(text.split())
    tokens = tokenize(clean) if clean else []
    if not tokens:
        raise QueryError("Type a query first, e.g. 'a red circle'.")
    known = _known_words(vocabulary)
    unknown = [] if known is None else [t for t in dict.fromkeys(tokens) if t not in known]
    if known is not None and len(unknown) == len(set(tokens)):
        example = ", ".join(sorted(known)[:6])
        raise QueryError(f"None of the words in '{clean}' are in the vocabulary "
                         f"(unknown: {', '.join(unknown)}). Known words include: {example}, ...")
    return clean, unknown


# ---------------------------------------------------------------- encoders and codes
def encode_texts(text_encoder: Callable | None, texts: list[str], dim: int | None = None,
                 what: str = "text encoder") -> np.ndarray:
    """Run ``text_encoder(texts)`` defensively: float32 (len(texts), d), finite, ``d == dim``.

    Any failure (no encoder, an exception, NaN/inf, wrong shape or dimension) becomes a
    :class:`QueryError` with a friendly message instead of a traceback.
    """
    if text_encoder is None:
        raise QueryError("No text encoder was given, so text queries are disabled. "
                         "Pass text_encoder= (a callable list[str] -> (n, d) array).")
    try:
        out = text_encoder(list(texts))
    except Exception as exc:  # any user-supplied encoder may fail in any way
        raise QueryError(f"The {what} raised {type(exc).__name__}: {exc}") from None
    if hasattr(out, "detach"):  # a torch tensor slipped through
        out = out.detach().cpu().numpy()
    elif hasattr(out, "numpy") and not isinstance(out, np.ndarray):  # a TF tensor
        out = out.numpy()
    try:
        arr = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError):
        raise QueryError(f"The {what} returned {describe(out)}, expected an (n, d) array.") from None
    if arr.ndim == 1 and len(texts) == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] != len(texts):
        raise QueryError(f"The {what} returned shape {arr.shape}, expected "
                         f"({len(texts)}, d): one row per text.")
    if not np.isfinite(arr).all():
        raise QueryError(f"The {what} returned NaN or infinite values "
                         f"(is the model trained? are the weights loaded?).")
    if dim is not None and arr.shape[1] != dim:
        raise QueryError(f"The {what} gives {arr.shape[1]}-dimensional vectors but the items "
                         f"are {dim}-dimensional: they are not in one joint space "
                         f"(try text → text, or an encoder trained with the image encoder).")
    return arr


def as_packed_codes(codes, name: str = "codes") -> np.ndarray:
    """Hash codes as packed uint8 (n, bits/8).

    Accepts unpacked codes in {0, 1} or {-1, +1} of shape (n, bits) (packed with
    :func:`mmcourse.hashing.pack_bits`) or already-packed uint8 bytes.
    """
    arr = as_matrix(codes, name)
    values = np.unique(arr)
    if np.isin(values, (-1, 0, 1)).all() and (arr.shape[1] % 8 == 0 or arr.dtype != np.uint8):
        from .hashing import pack_bits

        return np.asarray(pack_bits(arr), dtype=np.uint8)
    if arr.dtype != np.uint8:
        raise ValueError(f"{name}: expected codes in {{0, 1}} / {{-1, +1}} or packed uint8 bytes, "
                         f"got {describe(arr)} with values like {values[:4].tolist()}")
    return arr


def encode_text_codes(text_codes_fn: Callable | None, texts: list[str], n_bytes: int) -> np.ndarray:
    """Packed codes (len(texts), n_bytes) for text queries; QueryError on any failure."""
    if text_codes_fn is None:
        raise QueryError("Hamming search for a text query needs text_codes_fn= "
                         "(e.g. CrossModalHashing.encode_text applied to text features).")
    try:
        codes = text_codes_fn(list(texts))
        packed = as_packed_codes(codes, "text codes")
    except Exception as exc:
        raise QueryError(f"The text hasher failed: {type(exc).__name__}: {exc}") from None
    if packed.shape != (len(texts), n_bytes):
        raise QueryError(f"The text hasher gives {packed.shape[1] * 8}-bit codes for "
                         f"{packed.shape[0]} texts; the items use {n_bytes * 8}-bit codes.")
    return packed


# ---------------------------------------------------------------- scoring and ranking
def score_items(query, items, metric: str = "cosine") -> np.ndarray:
    """Scores (n_items,) of one query vector against item vectors; higher is better.

    ``query`` (d,) or (1, d), ``items`` (n, d) float; for ``metric="hamming"`` both are packed
    uint8 codes and the score is minus the Hamming distance in bits.
    """
    check_choice(metric, "metric", METRICS)
    q = np.atleast_2d(np.asarray(query))
    if metric == "hamming":
        from .hashing import hamming_distance

        return -np.asarray(hamming_distance(q, items), dtype=np.float32)[0]
    from . import similarity

    q = as_matrix(q, "query", dtype=np.float32)
    items = as_matrix(items, "items", dtype=np.float32)
    if q.shape[0] != 1 or q.shape[1] != items.shape[1]:
        raise ValueError(f"query: expected one vector of dimension {items.shape[1]}, "
                         f"got shape {q.shape}")
    if metric == "cosine":
        s = similarity.cosine_similarity(q, items)
    elif metric == "dot":
        s = similarity.dot_product(q, items)
    else:
        s = -np.asarray(similarity.euclidean_distance(q, items))
    return np.asarray(s, dtype=np.float32)[0]


def rank(scores, k: int, relevance=None, exclude=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Top-k of a score row plus the query's metrics over the full ranking.

    scores (n,), relevance (n,) graded or binary or None, ``exclude`` an item index left out
    (the query image itself). Returns ``(ids (k',), scores (k',), metrics)`` with k' = min(k, n
    - excluded); metrics has AP, NDCG@k, hits, n_relevant (empty without relevance).
    """
    from . import metrics as M
    from .similarity import top_k

    scores = np.asarray(scores, dtype=np.float32)
    keep = np.arange(len(scores))
    if exclude is not None:
        keep = keep[keep != int(exclude)]
    if len(keep) == 0:
        raise QueryError("There is nothing to search: the collection is empty.")
    s = scores[keep]
    kk = min(int(k), len(keep))
    idx, vals = top_k(s[None, :], kk, backend="numpy")
    ids = keep[np.asarray(idx)[0]].astype(np.int64)
    out_metrics: dict = {}
    if relevance is not None:
        rel = np.asarray(relevance, dtype=np.float32)[keep]
        n_rel = int((rel > 0).sum())
        if n_rel:
            out_metrics["AP"] = float(M.average_precision(s[None], (rel > 0).astype(np.float32)[None]))
            out_metrics[f"NDCG@{kk}"] = float(M.ndcg_at_k(s[None], rel[None], k=kk))
        else:
            out_metrics["AP"] = 0.0
            out_metrics[f"NDCG@{kk}"] = 0.0
        out_metrics["hits"] = int((np.asarray(relevance)[ids] > 0).sum())
        out_metrics["n_relevant"] = n_rel
    return ids, np.asarray(vals, dtype=np.float32)[0], out_metrics


def _finish(ids, scores, metrics, relevance, *, target, metric, query, notes=()) -> SearchResult:
    rel = None if relevance is None else np.asarray(relevance, dtype=np.float32)[ids]
    what = "images" if target == "image" else "captions"
    message = f"Top {len(ids)} {what} for {query} ({metric})."
    if relevance is None:
        message += " Relevance unknown for this query: no marks."
    elif metrics.get("n_relevant", 0) == 0:
        message += " No item in the collection is relevant to this query."
    message = " ".join([message, *notes])
    return SearchResult(ids=ids, scores=scores, relevance=rel, metrics=metrics, message=message,
                        ok=True, target=target, metric=metric, query=query)


# ---------------------------------------------------------------- relevance lookups
def text_relevance(dataset, text: str) -> np.ndarray | None:
    """Relevance (n_images,) of every image to a typed query, or None when unknown.

    A query equal to a dataset caption uses that caption's relevance; otherwise, on a dataset
    with structure (shapes), the query is parsed with ``parse_caption`` and scored with
    ``relevance_matrix`` (graded). Text the parser does not understand gives None.
    """
    if dataset is None:
        return None
    norm = " ".join(text.lower().split())
    for j, caption in enumerate(dataset.captions):
        if " ".join(caption.lower().split()) == norm:
            return dataset.text_image_relevance([j])[0]
    if not getattr(dataset, "has_structure", False) \
            or getattr(dataset, "relevance_rule", "shapes") != "shapes":  # digits: class ids
        return None
    from .data.shapes import parse_caption, relevance_matrix

    meaning = parse_caption(text)
    if meaning is None:
        return None
    return np.asarray(relevance_matrix([meaning], dataset.scenes), dtype=np.float32)[0]


def image_relevance(dataset, image_index: int) -> np.ndarray | None:
    """Relevance (n_images,) of images to an image query: shares a label; None without labels."""
    if dataset is None or getattr(dataset, "labels", None) is None:
        return None
    return dataset.image_image_relevance([image_index])[0]


def image_text_relevance(dataset, image_index: int) -> np.ndarray | None:
    """Relevance (n_captions,) of captions to an image query.

    With structure (shapes) a caption is relevant when the image satisfies it (graded);
    otherwise only the image's own captions count (the papers' protocol).
    """
    if dataset is None:
        return None
    graded = bool(getattr(dataset, "has_structure", False))
    return dataset.image_text_relevance([image_index], graded=graded)[0]


# ---------------------------------------------------------------- shared checks
def _check_items(embeddings, name: str, dataset, expected_rows: int | None):
    arr = as_matrix(embeddings, name, dtype=np.float32)
    if expected_rows is not None and arr.shape[0] != expected_rows:
        raise ValueError(f"{name}: expected {expected_rows} rows (one per item of the dataset), "
                         f"got shape {arr.shape}")
    return arr


def _check_setup(k, metric, codes, codes_name, n_items):
    k = check_int(k, "k", minimum=1)
    check_choice(metric, "metric", METRICS)
    packed = None
    if metric == "hamming":
        if codes is None:
            raise ValueError(f"{codes_name}: expected hash codes for metric='hamming', got None")
        packed = as_packed_codes(codes, codes_name)
        if len(packed) != n_items:
            raise ValueError(f"{codes_name}: expected {n_items} rows, got {len(packed)}")
    return k, packed


def _check_captions(caption_embeddings, caption_codes, metric, dataset):
    """Caption embeddings (m, d), or None when a Hamming search has only codes."""
    if caption_embeddings is None and metric == "hamming" and caption_codes is not None:
        return None
    return _check_items(caption_embeddings, "caption_embeddings", dataset,
                        None if dataset is None else dataset.n_captions)


def _n_captions(caps, caption_codes, dataset) -> int:
    if caps is not None:
        return len(caps)
    return dataset.n_captions if dataset is not None else len(np.asarray(caption_codes))


def _check_index(index, n: int, name: str) -> int:
    return check_int(index, name, minimum=0, maximum=n - 1)


def _n_images(dataset, embeddings) -> int | None:
    return None if dataset is None else dataset.n_images


# ---------------------------------------------------------------- the searches
def search_text_to_image(text, text_encoder, image_embeddings, dataset=None, *, k: int = 8,
                         metric: str = "cosine", image_codes=None, text_codes_fn=None,
                         vocabulary=None) -> SearchResult:
    """Images (rows of ``image_embeddings`` (n, d)) ranked for a typed text query.

    ``text_encoder`` maps list[str] → (n, d) in the images' space. ``vocabulary`` (a
    Vocabulary or set of words; default: the dataset's caption words) flags unknown words.
    With ``metric="hamming"`` the query is hashed by ``text_codes_fn`` and compared with
    ``image_codes``. Relevance comes from :func:`text_relevance`.
    """
    items = _check_items(image_embeddings, "image_embeddings", dataset, _n_images(dataset, image_embeddings))
    k, packed = _check_setup(k, metric, image_codes, "image_codes", len(items))
    try:
        vocab = vocabulary if vocabulary is not None else (
            dataset_vocabulary(dataset) if dataset is not None else None)
        clean, unknown = check_query_text(text, vocab)
        if metric == "hamming":
            q = encode_text_codes(text_codes_fn, [clean], packed.shape[1])
            scores = score_items(q, packed, "hamming")
        else:
            q = encode_texts(text_encoder, [clean], dim=items.shape[1])
            scores = score_items(q, items, metric)
        relevance = text_relevance(dataset, clean)
        ids, vals, mets = rank(scores, k, relevance)
    except QueryError as exc:
        return failed(str(exc), "image", metric, repr(text))
    notes = [f"Unknown words ignored: {', '.join(unknown)}."] if unknown else []
    return _finish(ids, vals, mets, relevance, target="image", metric=metric,
                   query=f"'{clean}'", notes=notes)


def search_image_to_image(image_index, image_embeddings, dataset=None, *, k: int = 8,
                          metric: str = "cosine", image_codes=None,
                          exclude_query: bool = True) -> SearchResult:
    """Images ranked by similarity to image ``image_index`` (the query itself left out).

    Relevance: images sharing at least one label with the query (the hashing protocol).
    """
    items = _check_items(image_embeddings, "image_embeddings", dataset, _n_images(dataset, image_embeddings))
    k, packed = _check_setup(k, metric, image_codes, "image_codes", len(items))
    q = _check_index(image_index, len(items), "image_index")
    try:
        scores = score_items(packed[q] if metric == "hamming" else items[q],
                             packed if metric == "hamming" else items, metric)
        relevance = image_relevance(dataset, q)
        ids, vals, mets = rank(scores, k, relevance, exclude=q if exclude_query else None)
    except QueryError as exc:
        return failed(str(exc), "image", metric, f"image #{q}")
    return _finish(ids, vals, mets, relevance, target="image", metric=metric, query=f"image #{q}")


def search_image_to_text(image_index, image_embeddings, caption_embeddings, dataset=None, *,
                         k: int = 8, metric: str = "cosine", image_codes=None,
                         caption_codes=None, relevance=None) -> SearchResult:
    """Captions (rows of ``caption_embeddings`` (m, d)) ranked for image ``image_index``.

    Relevance: :func:`image_text_relevance` (captions the image satisfies, on shapes), or the
    precomputed row ``relevance`` (m,) when given (a widget caches the whole matrix once).
    """
    images = _check_items(image_embeddings, "image_embeddings", dataset, _n_images(dataset, image_embeddings))
    caps = _check_captions(caption_embeddings, caption_codes, metric, dataset)
    k, packed = _check_setup(k, metric, caption_codes, "caption_codes", _n_captions(caps, caption_codes, dataset))
    q = _check_index(image_index, len(images), "image_index")
    try:
        if metric == "hamming":
            if image_codes is None:
                raise QueryError("Hamming search from an image needs image_codes=.")
            qcode = as_packed_codes(image_codes, "image_codes")[q]
            if qcode.shape[0] != packed.shape[1]:
                raise QueryError("Image and caption codes have different lengths.")
            scores = score_items(qcode, packed, "hamming")
        else:
            if caps is None:
                raise QueryError("No caption embeddings were given.")
            if images.shape[1] != caps.shape[1]:
                raise QueryError(f"Images are {images.shape[1]}-dimensional but captions are "
                                 f"{caps.shape[1]}-dimensional: not one joint space.")
            scores = score_items(images[q], caps, metric)
        if relevance is None:
            relevance = image_text_relevance(dataset, q)
        else:
            relevance = np.asarray(relevance, dtype=np.float32)
            if relevance.shape != scores.shape:
                raise ValueError(f"relevance: expected shape {scores.shape} (one per caption), "
                                 f"got {relevance.shape}")
        ids, vals, mets = rank(scores, k, relevance)
    except QueryError as exc:
        return failed(str(exc), "text", metric, f"image #{q}")
    return _finish(ids, vals, mets, relevance, target="text", metric=metric, query=f"image #{q}")


def search_text_to_text(text, text_encoder, caption_embeddings, dataset=None, *, k: int = 8,
                        metric: str = "cosine", caption_codes=None, text_codes_fn=None,
                        vocabulary=None) -> SearchResult:
    """Captions ranked for a typed query — works before any model is trained (bag-of-words).

    Relevance of caption j: the relevance of its image to the query (so a caption describing a
    matching scene counts even when worded differently).
    """
    caps = _check_captions(caption_embeddings, caption_codes, metric, dataset)
    k, packed = _check_setup(k, metric, caption_codes, "caption_codes", _n_captions(caps, caption_codes, dataset))
    try:
        vocab = vocabulary if vocabulary is not None else (
            dataset_vocabulary(dataset) if dataset is not None else None)
        clean, unknown = check_query_text(text, vocab)
        if metric == "hamming":
            q = encode_text_codes(text_codes_fn, [clean], packed.shape[1])
            scores = score_items(q, packed, "hamming")
        else:
            q = encode_texts(text_encoder, [clean], dim=caps.shape[1])
            scores = score_items(q, caps, metric)
        img_rel = text_relevance(dataset, clean)
        relevance = None if img_rel is None else img_rel[dataset.caption_image]
        ids, vals, mets = rank(scores, k, relevance)
    except QueryError as exc:
        return failed(str(exc), "text", metric, repr(text))
    notes = [f"Unknown words ignored: {', '.join(unknown)}."] if unknown else []
    return _finish(ids, vals, mets, relevance, target="text", metric=metric,
                   query=f"'{clean}'", notes=notes)


def composed_query_vector(image_vector, text_vector, weight: float) -> np.ndarray:
    """``(1 - weight) · image + weight · text`` of the two L2-normalised vectors, float32 (d,).

    Uses :func:`mmcourse.fusion.weighted_sum`; ``weight`` in [0, 1] is the text's share.
    """
    from .fusion import weighted_sum

    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.floating)) \
            or not 0.0 <= float(weight) <= 1.0:
        raise ValueError(f"weight: expected a number in [0, 1] (the text's share), got {weight!r}")
    img = np.asarray(image_vector, dtype=np.float32).reshape(1, -1)
    txt = np.asarray(text_vector, dtype=np.float32).reshape(1, -1)
    img = img / max(float(np.linalg.norm(img)), 1e-12)
    txt = txt / max(float(np.linalg.norm(txt)), 1e-12)
    fused = weighted_sum([img, txt], weights=[1.0 - float(weight), float(weight)])
    return np.asarray(fused, dtype=np.float32).reshape(-1)


def composed_relevance(dataset, image_index: int, text: str) -> np.ndarray | None:
    """Relevance (n_images,) of a composed query: satisfies the text AND shares a label with
    the query image (when the dataset has labels); None when the text's relevance is unknown."""
    rel = text_relevance(dataset, text)
    if rel is None:
        return None
    shared = image_relevance(dataset, image_index)
    return rel if shared is None else rel * (shared > 0)


def composed_query(image_index, text, text_encoder, image_embeddings, dataset=None, *,
                   weight: float = 0.5, k: int = 8, metric: str = "cosine",
                   vocabulary=None, exclude_query: bool = True) -> SearchResult:
    """Images ranked for an image plus a text modifier ("this, but with a red circle").

    The query vector is :func:`composed_query_vector` (``weight`` = the text's share in
    [0, 1]). Hamming is not supported (codes cannot be averaged). Relevance:
    :func:`composed_relevance`.
    """
    items = _check_items(image_embeddings, "image_embeddings", dataset, _n_images(dataset, image_embeddings))
    k = check_int(k, "k", minimum=1)
    check_choice(metric, "metric", METRICS)
    q = _check_index(image_index, len(items), "image_index")
    query = f"image #{q} + '{text}' (text weight {float(weight):.2f})" if isinstance(text, str) \
        else f"image #{q}"
    if metric == "hamming":
        return failed("Composed queries need float embeddings: pick cosine, dot or Euclidean.",
                      "image", metric, query)
    try:
        vocab = vocabulary if vocabulary is not None else (
            dataset_vocabulary(dataset) if dataset is not None else None)
        clean, unknown = check_query_text(text, vocab)
        t = encode_texts(text_encoder, [clean], dim=items.shape[1])[0]
        vec = composed_query_vector(items[q], t, weight)
        scores = score_items(vec, items, metric)
        relevance = composed_relevance(dataset, q, clean)
        ids, vals, mets = rank(scores, k, relevance, exclude=q if exclude_query else None)
    except QueryError as exc:
        return failed(str(exc), "image", metric, query)
    notes = [f"Unknown words ignored: {', '.join(unknown)}."] if unknown else []
    query = f"image #{q} + '{clean}' (text weight {float(weight):.2f})"
    return _finish(ids, vals, mets, relevance, target="image", metric=metric, query=query, notes=notes)


# ---------------------------------------------------------------- browsing
def filter_images(dataset, word: str | None = None, label: str | None = None,
                  split: str | None = None) -> np.ndarray:
    """Indices (int64, ascending) of the images matching all given filters.

    ``word``: at least one of the image's captions contains this token (case-insensitive;
    several words must all appear in one caption); ``label``: one of ``dataset.label_names``;
    ``split``: "train" / "val" / "test". None or "" means no filter.
    """
    from .text import tokenize

    keep = np.ones(dataset.n_images, dtype=bool)
    if split:
        check_choice(split, "split", ("train", "val", "test"))
        keep &= dataset.split == split
    if label:
        names = list(dataset.label_names or [])
        if dataset.labels is None or label not in names:
            raise ValueError(f"label: expected one of the dataset's label names "
                             f"({', '.join(names[:5]) or 'none'}{', ...' if len(names) > 5 else ''}), "
                             f"got {label!r}")
        keep &= dataset.labels[:, names.index(label)] > 0
    if word is not None and not isinstance(word, str):
        raise ValueError(f"word: expected a string, got {describe(word)}")
    wanted = set(tokenize(word)) if word else set()
    if wanted:
        hit = np.zeros(dataset.n_images, dtype=bool)
        for caption, image in zip(dataset.captions, dataset.caption_image):
            if not hit[image] and wanted <= set(tokenize(caption)):
                hit[image] = True
        keep &= hit
    return np.flatnonzero(keep).astype(np.int64)


def example_queries(dataset, n: int = 3) -> list[str]:
    """A few short captions of the dataset to suggest as queries (deterministic)."""
    n = check_int(n, "n", minimum=1)
    caps = sorted(set(dataset.captions), key=lambda c: (len(c), c))
    return caps[:n]


__all__ = [
    "METRICS", "SearchResult", "QueryError", "check_query_text", "encode_texts", "as_packed_codes",
    "score_items", "rank", "text_relevance", "image_relevance", "image_text_relevance",
    "search_text_to_image", "search_image_to_image", "search_image_to_text", "search_text_to_text",
    "composed_query", "composed_query_vector", "composed_relevance", "filter_images",
    "dataset_vocabulary", "example_queries",
]
