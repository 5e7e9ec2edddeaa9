"""Pure query → ranked-results functions behind :class:`mmcourse.widgets.SearchExplorer`.

One search path, :func:`search`, is generic over (query modality, item modality): the query is
an item of the dataset (an index) or a new value (typed text, a waveform) encoded by any
callable. ``search_text_to_image`` and its siblings are thin aliases over it. Relevance comes
from the dataset (``ds.relevance`` / ``ds.query_relevance``); nothing here knows which dataset
it is looking at.

Every search returns a :class:`SearchResult`: the top-k item ids (indices into the items),
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
    ids : int64 (k,) — indices of the returned items of modality ``target`` (images,
        captions, ...), best first
    scores : float32 (k,) — ranking scores, higher is better (negated distance for
        Euclidean and Hamming)
    relevance : float32 (k,) or None — the ground-truth grade of each result (0 = not
        relevant); None when the dataset cannot tell for this query
    metrics : dict — ``"AP"`` and ``f"NDCG@{k}"`` over the full ranking, ``"hits"`` (relevant
        results shown) and ``"n_relevant"`` (relevant items in the collection); empty when
        relevance is unknown
    message : str — one human-readable line for a status bar
    ok : bool — False when the query could not be run (then ``ids`` is empty)
    target : the modality ``ids`` index ("image", "text", "audio", ...)
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


# ---------------------------------------------------------------- modality names and dataset access
# How each modality is named in messages: (one item, several items). One table, in one place; a
# modality missing here is called by its own name ("video", "video items").
NOUNS = {"image": ("image", "images"), "text": ("caption", "captions"),
         "audio": ("spoken caption", "spoken captions"), "video": ("video", "videos")}


def noun(modality: str, plural: bool = False) -> str:
    """How an item of ``modality`` is called in messages: ``noun("text") == "caption"``."""
    one, many = NOUNS.get(modality, (modality, f"{modality} items"))
    return many if plural else one


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _require_generic(dataset):
    if not (hasattr(dataset, "modalities") and callable(getattr(dataset, "get", None))
            and callable(getattr(dataset, "relevance", None))):
        raise ValueError(f"dataset: expected a dataset with modalities, get(modality) and "
                         f"relevance(...) (a CaptionDataset), got {describe(dataset)}")


def dataset_modalities(dataset) -> tuple[str, ...]:
    """The modalities a dataset carries, e.g. ``("image", "text", "audio")``."""
    _require_generic(dataset)
    return tuple(dataset.modalities)


def dataset_items(dataset, modality: str):
    """The items of one modality (``ds.get(modality)``): images, captions, waveforms, ..."""
    check_choice(modality, "modality", dataset_modalities(dataset))
    return dataset.get(modality)


def n_items(dataset, modality: str) -> int:
    """Number of items of ``modality`` in the dataset."""
    count = getattr(dataset, "count", None)
    if callable(count):
        check_choice(modality, "modality", dataset_modalities(dataset))
        return int(count(modality))
    return len(dataset_items(dataset, modality))


def _is_typed(items) -> bool:
    """True when the items are strings (a learner types new ones: text)."""
    return len(items) > 0 and isinstance(items[0], str)


# ---------------------------------------------------------------- vocabulary and text checks
def dataset_vocabulary(dataset) -> frozenset:
    """The set of tokens of the dataset's typed items (captions), used to flag unknown words."""
    own = getattr(dataset, "vocabulary", None)
    if callable(own):
        return frozenset(own())
    from .text import tokenize

    words: set[str] = set()
    for modality in dataset_modalities(dataset):
        items = dataset_items(dataset, modality)
        if _is_typed(items):
            for item in items:
                words.update(tokenize(item))
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
def encode_queries(encoder: Callable | None, values: list, dim: int | None = None,
                   modality: str = "text", item_modality: str = "image",
                   what: str | None = None) -> np.ndarray:
    """Run ``encoder(values)`` defensively: float32 (len(values), d), finite, ``d == dim``.

    ``encoder`` is any callable list -> (n, d) (numpy, torch or TF output). Any failure (no
    encoder, an exception, NaN/inf, wrong shape or dimension) becomes a :class:`QueryError`
    with a friendly message instead of a traceback.
    """
    what = what or f"{modality} encoder"
    if encoder is None:
        raise QueryError(f"No {modality} encoder was given, so {modality} queries are disabled. "
                         f"Pass {modality}_encoder= (a callable list -> (n, d) array).")
    try:
        out = encoder(list(values))
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
    if arr.ndim == 1 and len(values) == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] != len(values):
        raise QueryError(f"The {what} returned shape {arr.shape}, expected "
                         f"({len(values)}, d): one row per {modality}.")
    if not np.isfinite(arr).all():
        raise QueryError(f"The {what} returned NaN or infinite values "
                         f"(is the model trained? are the weights loaded?).")
    if dim is not None and arr.shape[1] != dim:
        raise QueryError(f"The {what} gives {arr.shape[1]}-dimensional vectors but the items "
                         f"are {dim}-dimensional: they are not in one joint space "
                         f"(try {modality} → {modality}, or an encoder trained with the "
                         f"{item_modality} encoder).")
    return arr


def encode_texts(text_encoder: Callable | None, texts: list[str], dim: int | None = None,
                 what: str = "text encoder") -> np.ndarray:
    """:func:`encode_queries` for texts: float32 (len(texts), d); QueryError on any failure."""
    return encode_queries(text_encoder, texts, dim, modality="text", item_modality="image", what=what)


def as_packed_codes(codes, name: str = "codes") -> np.ndarray:
    """Hash codes as packed uint8 (n, bits/8), exactly as :func:`mmcourse.hashing.pack_bits` makes.

    Only packed codes are accepted: a 2-D uint8 array. Nothing is guessed from the values (a
    packed byte may well be 0 or 1), so unpacked {0, 1} / {-1, +1} codes of shape (n, bits)
    must be packed by the caller with ``pack_bits``.
    """
    arr = np.asarray(codes) if not isinstance(codes, np.ndarray) else codes
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise ValueError(f"{name}: expected packed uint8 codes of shape (n, bits/8) from "
                         f"mmcourse.hashing.pack_bits, got {describe(arr)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: expected at least one code of at least one byte, got {describe(arr)}")
    return arr


def encode_query_codes(codes_fn: Callable | None, values: list, n_bytes: int,
                       modality: str = "text") -> np.ndarray:
    """Packed codes (len(values), n_bytes) for new query values; QueryError on any failure."""
    if codes_fn is None:
        raise QueryError(f"Hamming search for {_article(modality)} {modality} query needs "
                         f"{modality}_codes_fn= (a callable list -> packed uint8 codes, "
                         f"e.g. pack_bits(CrossModalHashing.encode_text(features))).")
    try:
        packed = as_packed_codes(codes_fn(list(values)), f"{modality} codes")
    except Exception as exc:
        raise QueryError(f"The {modality} hasher failed: {type(exc).__name__}: {exc}") from None
    if packed.shape != (len(values), n_bytes):
        hint = (" Its output looks like unpacked bits: wrap it in mmcourse.hashing.pack_bits."
                if packed.shape[1] == 8 * n_bytes and packed.max() <= 1 else "")
        raise QueryError(f"The {modality} hasher gives {packed.shape[1] * 8}-bit codes for "
                         f"{packed.shape[0]} queries; the items use {n_bytes * 8}-bit codes.{hint}")
    return packed


def encode_text_codes(text_codes_fn: Callable | None, texts: list[str], n_bytes: int) -> np.ndarray:
    """Packed codes (len(texts), n_bytes) for text queries; QueryError on any failure."""
    return encode_query_codes(text_codes_fn, texts, n_bytes, modality="text")


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
    message = f"Top {len(ids)} {noun(target, plural=True)} for {query} ({metric})."
    if relevance is None:
        message += " Relevance unknown for this query: no marks."
    elif metrics.get("n_relevant", 0) == 0:
        message += " No item in the collection is relevant to this query."
    message = " ".join([message, *notes])
    return SearchResult(ids=ids, scores=scores, relevance=rel, metrics=metrics, message=message,
                        ok=True, target=target, metric=metric, query=query)


# ---------------------------------------------------------------- relevance lookups (generic)
def relevance_matrix(dataset, query_modality: str, item_modality: str, graded: bool = True):
    """Relevance (n_query_items, n_items) float32 between two modalities of a dataset.

    ``ds.relevance(query_modality, item_modality)``: exact graded relevance where the source has
    structure, pairing (same scene) otherwise.
    """
    _require_generic(dataset)
    return np.asarray(dataset.relevance(query_modality, item_modality, graded=graded), dtype=np.float32)


def index_relevance(dataset, query_modality: str, item_modality: str,
                    query_index: int) -> np.ndarray | None:
    """Relevance (n_items,) of every item of ``item_modality`` to dataset item ``query_index``;
    None when the dataset knows no more than identity for this pair (``ds.knows_relevance``:
    images without labels)."""
    if dataset is None:
        return None
    _require_generic(dataset)
    knows = getattr(dataset, "knows_relevance", None)
    if callable(knows) and not knows(query_modality, item_modality):
        return None
    return np.asarray(dataset.relevance(query_modality, item_modality, query_idx=[int(query_index)],
                                        graded=True), dtype=np.float32)[0]


def value_relevance(dataset, query_modality: str, query, item_modality: str) -> np.ndarray | None:
    """Relevance (n_items,) of the items of ``item_modality`` to a NEW query value, or None.

    The dataset judges it (``ds.query_relevance``): a typed query equal to one of its captions
    uses that caption's relevance, a structured dataset parses the text (shapes), and what it
    cannot judge (a new waveform, text outside its grammar) gives None.
    """
    if dataset is None:
        return None
    judge = getattr(dataset, "query_relevance", None)
    if not callable(judge):
        return None
    rel = judge(query_modality, query, item_modality)
    return None if rel is None else np.asarray(rel, dtype=np.float32)


def text_relevance(dataset, text: str) -> np.ndarray | None:
    """Relevance (n_images,) of every image to a typed query, or None when unknown.

    A query equal to a dataset caption uses that caption's relevance; otherwise the dataset
    judges the text (``ds.query_relevance``; graded on shapes). Text it cannot judge gives None.
    """
    return value_relevance(dataset, "text", text, "image")


def image_relevance(dataset, image_index: int) -> np.ndarray | None:
    """Relevance (n_images,) of images to an image query: shares a label; None without labels."""
    return index_relevance(dataset, "image", "image", image_index)


def image_text_relevance(dataset, image_index: int) -> np.ndarray | None:
    """Relevance (n_captions,) of captions to an image query.

    With structure (shapes) a caption is relevant when the image satisfies it (graded);
    otherwise only the image's own captions count (the papers' protocol).
    """
    return index_relevance(dataset, "image", "text", image_index)


# ---------------------------------------------------------------- shared checks
def _check_setup(k, metric, codes, codes_name, n_items):
    k = check_int(k, "k", minimum=1)
    check_choice(metric, "metric", METRICS)
    packed = None
    if metric == "hamming":
        if codes is None:
            raise ValueError(f"{codes_name}: expected hash codes for metric='hamming', got None")
        packed = as_packed_codes(codes, codes_name)
        if n_items is not None and len(packed) != n_items:
            raise ValueError(f"{codes_name}: expected {n_items} rows, got {len(packed)}")
    return k, packed


def _check_relevance(relevance, n: int) -> np.ndarray:
    rel = np.asarray(relevance, dtype=np.float32)
    if rel.shape != (n,):
        raise ValueError(f"relevance: expected shape ({n},) (one per item), got {rel.shape}")
    return rel


_DEFAULT_NAMES = {"items": "item_embeddings", "codes": "codes", "query": "query",
                  "query_embeddings": "query_embeddings", "query_codes": "query_codes"}


# ---------------------------------------------------------------- the one search path

def _given_relevance(relevance, n_items: int, default):
    """The relevance a search reports: ``default()`` when none was given (None), nothing when
    ``False``, else the caller's array checked against ``n_items``."""
    if relevance is None:
        return default()
    if relevance is False:
        return None
    return _check_relevance(relevance, n_items)

def search(query, query_modality: str = "text", item_modality: str = "image", item_embeddings=None, *,
           encode: Callable | None = None, dataset=None, k: int = 8, metric: str = "cosine",
           codes=None, query_embeddings=None, query_vector=None, query_codes=None,
           encode_codes: Callable | None = None, vocabulary=None, relevance=None,
           exclude_self: bool | None = None, names: dict | None = None) -> SearchResult:
    """Items of ``item_modality`` (rows of ``item_embeddings`` (n, d)) ranked for one query.

    ``query`` is either an **index** (int) into the dataset's items of ``query_modality`` — its
    vector is ``query_vector`` (d,), else row ``query`` of ``query_embeddings`` (n_q, d), else
    ``item_embeddings[query]`` for a same-modality query, else ``encode([that item])`` — or a
    **new value** (typed text, a waveform, ...) encoded by ``encode`` (any callable list -> (n, d)
    in the items' space). Typed text is checked against ``vocabulary`` (default: the dataset's
    words). ``metric="hamming"`` compares packed uint8 ``codes`` (n, bytes) with ``query_codes``
    (index query) or ``encode_codes([value])``.

    Relevance: ``relevance`` (n,) when given, False for none, else the dataset's
    (:func:`index_relevance` / :func:`value_relevance`). ``exclude_self`` (default: True for a
    same-modality index query) leaves the query item out. ``names`` renames arguments in error
    messages (the aliases keep their historical names). Set-up errors raise ``ValueError``;
    query problems come back as ``SearchResult(ok=False)``.
    """
    names = {**_DEFAULT_NAMES, **(names or {})}
    qm, im = query_modality, item_modality
    for value, arg in ((qm, "query_modality"), (im, "item_modality")):
        if not isinstance(value, str):
            raise ValueError(f"{arg}: expected a modality name such as 'image', got {describe(value)}")
        if dataset is not None:
            check_choice(value, arg, dataset_modalities(dataset))
    expected = None if dataset is None else n_items(dataset, im)
    items = None
    if item_embeddings is not None or metric != "hamming" or codes is None:
        items = as_matrix(item_embeddings, names["items"], dtype=np.float32)
        if expected is not None and len(items) != expected:
            raise ValueError(f"{names['items']}: expected {expected} rows (one per item of the "
                             f"dataset), got shape {items.shape}")
    n = expected if expected is not None else (len(items) if items is not None else None)
    k, packed = _check_setup(k, metric, codes, names["codes"], n)
    n = len(packed) if n is None else n
    is_index = isinstance(query, (int, np.integer)) and not isinstance(query, bool)
    one, Ones, Items = noun(qm), noun(qm, True).capitalize(), noun(im, True)
    if is_index:
        if dataset is not None:
            n_q = n_items(dataset, qm)
        elif query_embeddings is not None:
            n_q = len(query_embeddings)
        else:
            n_q = n if qm == im else int(query) + 1
        q = check_int(query, names["query"], minimum=0, maximum=n_q - 1)
        if exclude_self is None:
            exclude_self = qm == im
        description = f"{one} #{q}"
    notes = []
    try:
        if is_index:
            if metric == "hamming":
                if query_codes is not None:
                    qcode = as_packed_codes(query_codes, names["query_codes"])[q]
                elif qm == im:
                    qcode = packed[q]
                elif encode_codes is not None and dataset is not None:
                    qcode = encode_query_codes(encode_codes, [dataset_items(dataset, qm)[q]],
                                               packed.shape[1], modality=qm)[0]
                else:
                    raise QueryError(f"Hamming search from {_article(one)} {one} needs {qm}_codes=.")
                if qcode.shape[0] != packed.shape[1]:
                    raise QueryError(f"{one.capitalize()} and {noun(im)} codes have different lengths.")
                scores = score_items(qcode, packed, "hamming")
            else:
                if items is None:
                    raise QueryError(f"No {noun(im)} embeddings were given.")
                if query_vector is not None:
                    vec = np.asarray(query_vector, dtype=np.float32).reshape(-1)
                elif query_embeddings is not None:
                    vec = as_matrix(query_embeddings, names["query_embeddings"], dtype=np.float32)[q]
                elif qm == im:
                    vec = items[q]
                elif dataset is not None:
                    vec = encode_queries(encode, [dataset_items(dataset, qm)[q]], modality=qm,
                                         item_modality=im)[0]
                else:
                    raise QueryError(f"No {qm} embeddings or {qm} encoder were given.")
                if vec.shape[0] != items.shape[1]:
                    raise QueryError(f"{Ones} are {vec.shape[0]}-dimensional but {Items} are "
                                     f"{items.shape[1]}-dimensional: not one joint space.")
                scores = score_items(vec, items, metric)
            relevance = _given_relevance(relevance, len(scores),
                                         lambda: index_relevance(dataset, qm, im, q))
        else:
            description = repr(query) if isinstance(query, str) else f"a new {one}"
            value = query
            if isinstance(query, str) or (dataset is not None and _is_typed(dataset_items(dataset, qm))):
                vocab = vocabulary if vocabulary is not None else (
                    dataset_vocabulary(dataset) if dataset is not None else None)
                value, unknown = check_query_text(query, vocab)
                description = f"'{value}'"
                if unknown:
                    notes.append(f"Unknown words ignored: {', '.join(unknown)}.")
            if metric == "hamming":
                qcode = encode_query_codes(encode_codes, [value], packed.shape[1], modality=qm)
                scores = score_items(qcode, packed, "hamming")
            else:
                q_vec = encode_queries(encode, [value], dim=items.shape[1], modality=qm, item_modality=im)
                scores = score_items(q_vec, items, metric)
            relevance = _given_relevance(relevance, len(scores),
                                         lambda: value_relevance(dataset, qm, value, im))
            q = None
        ids, vals, mets = rank(scores, k, relevance, exclude=q if (is_index and exclude_self) else None)
    except QueryError as exc:
        return failed(str(exc), im, metric, description)
    return _finish(ids, vals, mets, relevance, target=im, metric=metric, query=description, notes=notes)


# ---------------------------------------------------------------- the historical searches (aliases)
def search_text_to_image(text, text_encoder, image_embeddings, dataset=None, *, k: int = 8,
                         metric: str = "cosine", image_codes=None, text_codes_fn=None,
                         vocabulary=None) -> SearchResult:
    """Images (rows of ``image_embeddings`` (n, d)) ranked for a typed text query.

    ``text_encoder`` maps list[str] → (n, d) in the images' space. ``vocabulary`` (a
    Vocabulary or set of words; default: the dataset's caption words) flags unknown words.
    With ``metric="hamming"`` the query is hashed by ``text_codes_fn`` (packed uint8 codes) and
    compared with ``image_codes``. Relevance comes from :func:`text_relevance`.
    """
    if not isinstance(text, str):  # a new value, never an index
        return _typed_only(text, "image", metric, image_embeddings, image_codes, dataset, k,
                           "image_embeddings", "image_codes")
    return search(text, "text", "image", image_embeddings, encode=text_encoder, dataset=dataset, k=k,
                  metric=metric, codes=image_codes, encode_codes=text_codes_fn, vocabulary=vocabulary,
                  names={"items": "image_embeddings", "codes": "image_codes"})


def _typed_only(query, target, metric, items, codes, dataset, k, items_name, codes_name):
    """A non-string where typed text is expected: validate the set-up, then explain."""
    if items is not None or metric != "hamming":
        arr = as_matrix(items, items_name, dtype=np.float32)
        n = None if dataset is None else n_items(dataset, target)
        if n is not None and len(arr) != n:
            raise ValueError(f"{items_name}: expected {n} rows (one per item of the dataset), "
                             f"got shape {arr.shape}")
    _check_setup(k, metric, codes, codes_name, None)
    return failed(f"The query must be text, got {describe(query)}.", target, metric, repr(query))


def search_image_to_image(image_index, image_embeddings, dataset=None, *, k: int = 8,
                          metric: str = "cosine", image_codes=None,
                          exclude_query: bool = True) -> SearchResult:
    """Images ranked by similarity to image ``image_index`` (the query itself left out).

    Relevance: images sharing at least one label with the query (the hashing protocol).
    """
    return search(_as_index(image_index, "image_index"), "image", "image", image_embeddings,
                  dataset=dataset, k=k, metric=metric, codes=image_codes, exclude_self=exclude_query,
                  names={"items": "image_embeddings", "codes": "image_codes", "query": "image_index"})


def _as_index(value, name: str):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {describe(value)}")
    return value


def search_image_to_text(image_index, image_embeddings, caption_embeddings, dataset=None, *,
                         k: int = 8, metric: str = "cosine", image_codes=None,
                         caption_codes=None, relevance=None) -> SearchResult:
    """Captions (rows of ``caption_embeddings`` (m, d)) ranked for image ``image_index``.

    Relevance: :func:`image_text_relevance` (captions the image satisfies, on shapes), or the
    precomputed row ``relevance`` (m,) when given (a widget caches the whole matrix once).
    """
    images = as_matrix(image_embeddings, "image_embeddings", dtype=np.float32)
    if dataset is not None and len(images) != n_items(dataset, "image"):
        raise ValueError(f"image_embeddings: expected {n_items(dataset, 'image')} rows (one per item "
                         f"of the dataset), got shape {images.shape}")
    q = check_int(_as_index(image_index, "image_index"), "image_index", minimum=0,
                  maximum=len(images) - 1)
    if image_codes is not None and metric == "hamming":
        image_codes = as_packed_codes(image_codes, "image_codes")
    return search(q, "image", "text", caption_embeddings, dataset=dataset, k=k, metric=metric,
                  codes=caption_codes, query_vector=None if metric == "hamming" else images[q],
                  query_codes=image_codes, relevance=relevance,
                  names={"items": "caption_embeddings", "codes": "caption_codes",
                         "query": "image_index", "query_codes": "image_codes"})


def search_text_to_text(text, text_encoder, caption_embeddings, dataset=None, *, k: int = 8,
                        metric: str = "cosine", caption_codes=None, text_codes_fn=None,
                        vocabulary=None) -> SearchResult:
    """Captions ranked for a typed query — works before any model is trained (bag-of-words).

    Relevance of caption j: the relevance of its image to the query (so a caption describing a
    matching scene counts even when worded differently).
    """
    if not isinstance(text, str):
        return _typed_only(text, "text", metric, caption_embeddings, caption_codes, dataset, k,
                           "caption_embeddings", "caption_codes")
    return search(text, "text", "text", caption_embeddings, encode=text_encoder, dataset=dataset, k=k,
                  metric=metric, codes=caption_codes, encode_codes=text_codes_fn,
                  vocabulary=vocabulary, names={"items": "caption_embeddings", "codes": "caption_codes"})


# ---------------------------------------------------------------- composed queries
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


def composed_relevance_of(dataset, base_modality: str, base_index: int, modifier_modality: str,
                          modifier) -> np.ndarray | None:
    """Relevance (n_items,) of a composed query: the items of ``base_modality`` that satisfy the
    modifier AND are relevant to the base item (when the dataset knows more than identity);
    None when the modifier's relevance is unknown."""
    rel = value_relevance(dataset, modifier_modality, modifier, base_modality)
    if rel is None:
        return None
    shared = index_relevance(dataset, base_modality, base_modality, int(base_index))
    return rel if shared is None else rel * (shared > 0)


def composed_relevance(dataset, image_index: int, text: str) -> np.ndarray | None:
    """Relevance (n_images,) of a composed query: satisfies the text AND shares a label with
    the query image (when the dataset has labels); None when the text's relevance is unknown."""
    return composed_relevance_of(dataset, "image", image_index, "text", text)


def search_composed(base_index, modifier, base_modality: str = "image", modifier_modality: str = "text",
                    item_embeddings=None, *, encode: Callable | None = None, dataset=None,
                    weight: float = 0.5, k: int = 8, metric: str = "cosine", vocabulary=None,
                    exclude_self: bool = True, names: dict | None = None) -> SearchResult:
    """Items of ``base_modality`` ranked for one of them plus a modifier ("this, but red").

    The query vector is :func:`composed_query_vector` of ``item_embeddings[base_index]`` and
    ``encode([modifier])`` (``weight`` = the modifier's share in [0, 1]). Hamming is not
    supported (codes cannot be averaged). Relevance: :func:`composed_relevance_of`.
    """
    names = {**_DEFAULT_NAMES, **(names or {})}
    items = as_matrix(item_embeddings, names["items"], dtype=np.float32)
    expected = None if dataset is None else n_items(dataset, base_modality)
    if expected is not None and len(items) != expected:
        raise ValueError(f"{names['items']}: expected {expected} rows (one per item of the "
                         f"dataset), got shape {items.shape}")
    k = check_int(k, "k", minimum=1)
    check_choice(metric, "metric", METRICS)
    q = check_int(_as_index(base_index, names["query"]), names["query"], minimum=0, maximum=len(items) - 1)
    one, mm = noun(base_modality), modifier_modality
    shown = f"'{modifier}'" if isinstance(modifier, str) else f"a new {noun(mm)}"
    query = f"{one} #{q} + {shown} ({mm} weight {float(weight):.2f})" if isinstance(modifier, str) \
        else f"{one} #{q}"
    if metric == "hamming":
        return failed("Composed queries need float embeddings: pick cosine, dot or Euclidean.",
                      base_modality, metric, query)
    notes = []
    try:
        value = modifier
        if isinstance(modifier, str) or (dataset is not None and _is_typed(dataset_items(dataset, mm))):
            vocab = vocabulary if vocabulary is not None else (
                dataset_vocabulary(dataset) if dataset is not None else None)
            value, unknown = check_query_text(modifier, vocab)
            if unknown:
                notes.append(f"Unknown words ignored: {', '.join(unknown)}.")
            shown = f"'{value}'"
        t = encode_queries(encode, [value], dim=items.shape[1], modality=mm, item_modality=base_modality)[0]
        vec = composed_query_vector(items[q], t, weight)
        scores = score_items(vec, items, metric)
        relevance = composed_relevance_of(dataset, base_modality, q, mm, value)
        ids, vals, mets = rank(scores, k, relevance, exclude=q if exclude_self else None)
    except QueryError as exc:
        return failed(str(exc), base_modality, metric, query)
    query = f"{one} #{q} + {shown} ({mm} weight {float(weight):.2f})"
    return _finish(ids, vals, mets, relevance, target=base_modality, metric=metric, query=query, notes=notes)


def composed_query(image_index, text, text_encoder, image_embeddings, dataset=None, *,
                   weight: float = 0.5, k: int = 8, metric: str = "cosine",
                   vocabulary=None, exclude_query: bool = True) -> SearchResult:
    """Images ranked for an image plus a text modifier ("this, but with a red circle").

    The query vector is :func:`composed_query_vector` (``weight`` = the text's share in
    [0, 1]). Hamming is not supported (codes cannot be averaged). Relevance:
    :func:`composed_relevance`.
    """
    return search_composed(image_index, text, "image", "text", image_embeddings, encode=text_encoder,
                           dataset=dataset, weight=weight, k=k, metric=metric, vocabulary=vocabulary,
                           exclude_self=exclude_query,
                           names={"items": "image_embeddings", "query": "image_index"})


# ---------------------------------------------------------------- browsing
def filter_images(dataset, word: str | None = None, label: str | None = None,
                  split: str | None = None) -> np.ndarray:
    """Indices (int64, ascending) of the images matching all given filters (``ds.filter``).

    ``word``: at least one of the image's captions contains this token (case-insensitive;
    several words must all appear in one caption); ``label``: one of ``dataset.label_names``;
    ``split``: "train" / "val" / "test". None or "" means no filter.
    """
    if not callable(getattr(dataset, "filter", None)):
        raise ValueError(f"dataset: expected a dataset with filter(word=, label=, split=), "
                         f"got {describe(dataset)}")
    return np.asarray(dataset.filter(word=word, label=label, split=split), dtype=np.int64)


def example_queries(dataset, n: int = 3, modality: str = "text") -> list:
    """A few example queries of ``modality`` (``ds.example_queries``; deterministic): for text
    the shortest distinct captions, for another modality item indices."""
    n = check_int(n, "n", minimum=1)
    if not callable(getattr(dataset, "example_queries", None)):
        raise ValueError(f"dataset: expected a dataset with example_queries(n), got {describe(dataset)}")
    return list(dataset.example_queries(n, modality=modality))


__all__ = [
    "METRICS", "NOUNS", "SearchResult", "QueryError", "search", "search_composed", "noun",
    "dataset_modalities", "dataset_items", "n_items", "encode_queries", "encode_query_codes",
    "relevance_matrix", "index_relevance", "value_relevance", "composed_relevance_of",
    "check_query_text", "encode_texts", "as_packed_codes",
    "score_items", "rank", "text_relevance", "image_relevance", "image_text_relevance",
    "search_text_to_image", "search_image_to_image", "search_image_to_text", "search_text_to_text",
    "composed_query", "composed_query_vector", "composed_relevance", "filter_images",
    "dataset_vocabulary", "example_queries",
]
