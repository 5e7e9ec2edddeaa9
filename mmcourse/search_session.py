"""``SearchSession``: the state behind :class:`mmcourse.widgets.SearchExplorer`, without widgets.

A session holds the inputs (a dataset, item embeddings per modality, encoders per modality as
plain callables, optional packed hash codes), the caches (query vectors, lazily encoded items,
hash codes, relevance matrices) and a **mode table** derived from the modalities present: one
mode per (query modality → item modality) pair the session can serve, plus composed modes
(an item of the first modality edited by a typed modifier). Every mode returns a
:class:`~mmcourse.search.SearchResult` through :func:`mmcourse.search.search`.

Nothing here imports ipywidgets, and nothing names a dataset: a third modality (spoken
captions, video) appears as soon as the dataset carries it and the session has its embeddings
or an encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import search as S
from ._validation import as_matrix, check_choice, check_int, describe

VALUE, INDEX = "value", "index"


@dataclass(frozen=True)
class Mode:
    """One search direction of a session.

    name : the label shown to a learner, e.g. "text → image" or "image + text → image"
    short : a short name, e.g. "t2i" (first letters) or "composed"
    query_modality, item_modality : what the query is and what is ranked
    query_kind : "value" (a new value is typed: text) or "index" (an item of the dataset)
    modifier : for a composed mode, the typed modality added to the query item; else None
    """

    name: str
    short: str
    query_modality: str
    item_modality: str
    query_kind: str
    modifier: str | None = None

    @property
    def composed(self) -> bool:
        return self.modifier is not None

    @property
    def typed(self) -> str | None:
        """The modality a learner types for this mode (None when nothing is typed)."""
        return self.modifier if self.composed else (
            self.query_modality if self.query_kind == VALUE else None)


class SearchSession:
    """Inputs, caches and the mode table of an interactive search; fully testable without widgets.

    Parameters
    ----------
    dataset : a dataset with ``modalities`` / ``get(modality)`` (or the image/text-only API).
    embeddings : {modality: float (n_items, d)} — precomputed item embeddings.
    encoders : {modality: callable list -> (n, d) array, or None}. An encoder embeds new query
        values (typed text) and, when no embeddings are given for its modality, the dataset's
        own items (lazily, once). A modality listed with None is shown but disabled (its modes
        answer with a message).
    codes : {modality: packed uint8 (n_items, bytes)} from :func:`mmcourse.hashing.pack_bits`;
        they add "hamming" to :attr:`metrics`.
    code_encoders : {modality: callable list -> packed uint8 codes} for new query values (and
        the dataset's items of that modality when ``codes`` lacks them).
    vocabulary : words the text encoder knows (flags unknown words); default: the dataset's.
    on_status : callable(str) told about slow one-off work ("Encoding 5000 captions once…").
    """

    max_cached_relevance = 20_000_000  # entries (80 MB float32) of a cached relevance matrix

    def __init__(self, dataset, embeddings: dict | None = None, encoders: dict | None = None, *,
                 codes: dict | None = None, code_encoders: dict | None = None, vocabulary=None,
                 on_status: Callable[[str], None] | None = None):
        self.dataset = dataset
        self.modalities = S.dataset_modalities(dataset)
        self._n = {m: S.n_items(dataset, m) for m in self.modalities}
        self.embeddings = {}
        for m, emb in self._dict(embeddings, "embeddings").items():
            arr = as_matrix(emb, f"embeddings[{m!r}]", dtype=np.float32)
            if len(arr) != self._n[m]:
                raise ValueError(f"embeddings[{m!r}]: expected {self._n[m]} rows (one per "
                                 f"{S.noun(m)}), got shape {arr.shape}")
            self.embeddings[m] = arr
        self.encoders = {}
        for m, fn in self._dict(encoders, "encoders").items():
            if fn is not None and not callable(fn):
                raise ValueError(f"encoders[{m!r}]: expected a callable list -> (n, d) array or None, "
                                 f"got {describe(fn)}")
            self.encoders[m] = fn
        self.codes = {}
        for m, c in self._dict(codes, "codes").items():
            if c is None:
                continue
            packed = S.as_packed_codes(c, f"codes[{m!r}]")
            if len(packed) != self._n[m]:
                raise ValueError(f"codes[{m!r}]: expected {self._n[m]} rows, got {len(packed)}")
            self.codes[m] = packed
        self.code_encoders = {}
        for m, fn in self._dict(code_encoders, "code_encoders").items():
            if fn is not None and not callable(fn):
                raise ValueError(f"code_encoders[{m!r}]: expected a callable or None, got {describe(fn)}")
            if fn is not None:
                self.code_encoders[m] = fn
        self.vocabulary = S.dataset_vocabulary(dataset) if vocabulary is None else vocabulary
        self.on_status = on_status
        self._query_vectors: dict = {}
        self._relevance: dict = {}
        self._dims: dict = {}
        self.kinds = {m: VALUE if S._is_typed(S.dataset_items(dataset, m)) else INDEX
                      for m in self.modalities}
        self.modes = self._mode_table()

    def _dict(self, value, name: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"{name}: expected a dict {{modality: ...}}, got {describe(value)}")
        for m in value:
            if m not in self.modalities:
                raise ValueError(f"{name}: expected modalities among {list(self.modalities)}, got {m!r}")
        return dict(value)

    # ------------------------------------------------------------ the mode table
    @property
    def in_play(self) -> tuple[str, ...]:
        """Modalities with embeddings or an encoder entry, in the dataset's order."""
        return tuple(m for m in self.modalities if m in self.embeddings or m in self.encoders)

    @property
    def primary(self) -> str:
        """The first modality in play (the gallery, e.g. "image")."""
        if not self.in_play:
            raise ValueError(f"embeddings: expected embeddings or an encoder for at least one of "
                             f"{list(self.modalities)}, got none")
        return self.in_play[0]

    def _abbrev(self) -> dict:
        mods = self.in_play
        firsts = [m[0] for m in mods]
        return {m: (m[0] if firsts.count(m[0]) == 1 else m) for m in mods}

    def _mode_table(self) -> dict:
        """{name: Mode}: per item modality, the cross-modal queries then the same-modality one,
        then the composed modes (an item of the primary modality + a typed modifier)."""
        mods, ab = self.in_play, self._abbrev()
        table: dict = {}
        for im in mods:
            for qm in [m for m in mods if m != im] + [im]:
                table[f"{qm} → {im}"] = Mode(f"{qm} → {im}", f"{ab[qm]}2{ab[im]}", qm, im, self.kinds[qm])
        if mods:
            base = mods[0]
            typed = [m for m in mods if m != base and self.kinds[m] == VALUE]
            if self.kinds[base] == INDEX:
                for t in typed:
                    short = "composed" if len(typed) == 1 else f"{ab[base]}+{ab[t]}2{ab[base]}"
                    name = f"{base} + {t} → {base}"
                    table[name] = Mode(name, short, base, base, INDEX, modifier=t)
        return table

    def mode(self, name: str | Mode) -> Mode:
        """A mode by its name ("text → image") or short name ("t2i")."""
        if isinstance(name, Mode):
            return name
        if name in self.modes:
            return self.modes[name]
        for mode in self.modes.values():
            if mode.short == name:
                return mode
        check_choice(name, "direction", list(self.modes) + [m.short for m in self.modes.values()])
        raise AssertionError  # unreachable: check_choice raised

    @property
    def metrics(self) -> tuple[str, ...]:
        """The similarity choices: cosine, dot, euclidean, and hamming when codes exist."""
        return ("cosine", "dot", "euclidean") + (("hamming",) if self.codes else ())

    def encoder_dim(self, modality: str) -> int | None:
        """Dimension of ``encoders[modality]``'s output (probed once on the first item); None
        when there is no encoder or it fails."""
        if modality not in self._dims:
            fn, dim = self.encoders.get(modality), None
            if fn is not None and self._n[modality]:
                try:
                    dim = S.encode_queries(fn, [S.dataset_items(self.dataset, modality)[0]],
                                           modality=modality).shape[1]
                except S.QueryError:
                    dim = None
            self._dims[modality] = dim
        return self._dims[modality]

    def default_value_mode(self, modality: str) -> Mode:
        """For a typed query: into the primary modality when the encoder shares its space,
        else within its own modality (e.g. text → text on bag-of-words)."""
        primary = self.primary
        if primary in self.embeddings and self.encoder_dim(modality) == self.embeddings[primary].shape[1]:
            return self.modes[f"{modality} → {primary}"]
        return self.modes[f"{modality} → {modality}"]

    def default_index_mode(self, modality: str) -> Mode:
        """For a dataset item as query: primary → primary, any other modality → primary."""
        return self.modes[f"{modality} → {self.primary}"]

    def default_mode(self) -> Mode:
        """The first typed modality with an encoder (:meth:`default_value_mode`), else the
        primary modality searching itself."""
        for m in self.in_play:
            if self.kinds[m] == VALUE and self.encoders.get(m) is not None:
                return self.default_value_mode(m)
        return self.modes[f"{self.primary} → {self.primary}"]

    def n_items(self, modality: str) -> int:
        return self._n[modality]

    # ------------------------------------------------------------ caches
    def _status(self, text: str) -> None:
        if self.on_status is not None:
            self.on_status(text)

    def item_embeddings(self, modality: str) -> np.ndarray:
        """(n_items, d) of ``modality``: given, or encoded once with its encoder (QueryError
        when neither exists or the encoder fails)."""
        if modality not in self.embeddings:
            fn = self.encoders.get(modality)
            if fn is None:
                raise S.QueryError(f"No {modality} encoder and no {modality} embeddings were given, "
                                   f"so {S.noun(modality, True)} cannot be searched.")
            items, n = S.dataset_items(self.dataset, modality), self._n[modality]
            self._status(f"Encoding {n} {S.noun(modality, True)} once…")
            what = f"{modality} encoder (on the dataset's {S.noun(modality, True)})"
            chunks = [S.encode_queries(fn, [items[i] for i in range(a, min(a + 1024, n))],
                                       modality=modality, what=what) for a in range(0, n, 1024)]
            self.embeddings[modality] = np.concatenate(chunks, axis=0)
        return self.embeddings[modality]

    def item_codes(self, modality: str) -> np.ndarray:
        """Packed codes (n_items, bytes) of ``modality``: given, or hashed once with its code
        encoder at the width of the other codes."""
        if modality not in self.codes:
            fn = self.code_encoders.get(modality)
            if fn is None or not self.codes:
                raise S.QueryError(f"No {S.noun(modality)} codes were given: pick another similarity.")
            n_bytes = next(iter(self.codes.values())).shape[1]
            items = S.dataset_items(self.dataset, modality)
            self.codes[modality] = S.encode_query_codes(fn, [items[i] for i in range(self._n[modality])],
                                                        n_bytes, modality=modality)
        return self.codes[modality]

    def query_vector(self, modality: str, index: int) -> np.ndarray:
        """(d,) float32 of dataset item ``index`` of ``modality`` (its embedding, or encoded
        once and cached)."""
        if modality in self.embeddings:
            return self.embeddings[modality][index]
        key = (modality, int(index))
        if key not in self._query_vectors:
            item = S.dataset_items(self.dataset, modality)[index]
            self._query_vectors[key] = S.encode_queries(self.encoders.get(modality), [item],
                                                        modality=modality)[0]
        return self._query_vectors[key]

    def index_relevance(self, mode: Mode, index: int) -> np.ndarray | None:
        """Relevance (n_items,) for a dataset-item query: one row of a matrix computed once for
        cross-modal modes (structured datasets are slow per item, fast as a whole)."""
        qm, im = mode.query_modality, mode.item_modality
        if qm == im or self._n[qm] * self._n[im] > self.max_cached_relevance:
            return S.index_relevance(self.dataset, qm, im, index)
        if (qm, im) not in self._relevance:
            self._status(f"Computing the {S.noun(qm)} × {S.noun(im)} relevance once…")
            self._relevance[(qm, im)] = S.relevance_matrix(self.dataset, qm, im)
        return self._relevance[(qm, im)][index]

    # ------------------------------------------------------------ running a mode
    def run(self, mode, query=None, *, index: int | None = None, k: int = 8, metric: str = "cosine",
            weight: float = 0.5) -> S.SearchResult:
        """Run one query in ``mode`` (a :class:`Mode`, name or short name).

        ``query`` is the typed value (value modes, the modifier of composed modes); ``index`` the
        dataset item used as the query (index modes, the base of composed modes). Set-up errors
        (unknown mode or metric, k < 1, index out of range) raise ValueError; query problems come
        back as ``SearchResult(ok=False, message=...)``.
        """
        mode = self.mode(mode)
        k = check_int(k, "k", minimum=1)
        check_choice(metric, "metric", self.metrics)
        qm, im = mode.query_modality, mode.item_modality
        if mode.query_kind == INDEX:
            if index is None:
                raise ValueError(f"index: expected the index of the query {S.noun(qm)} for "
                                 f"{mode.name}, got None")
            index = check_int(index, "index", minimum=0, maximum=self._n[qm] - 1)
        ds = self.dataset
        try:
            if mode.composed:
                if metric == "hamming":
                    return S.search_composed(index, query, qm, mode.modifier, self.item_embeddings(im),
                                             dataset=ds, k=k, metric=metric)
                return S.search_composed(index, query, qm, mode.modifier, self.item_embeddings(im),
                                         encode=self.encoders.get(mode.modifier), dataset=ds,
                                         weight=float(weight), k=k, metric=metric,
                                         vocabulary=self.vocabulary)
            hamming = metric == "hamming"
            items = None if hamming else self.item_embeddings(im)
            codes = self.item_codes(im) if hamming else None
            if mode.query_kind == INDEX:
                vec = None if hamming or qm == im else self.query_vector(qm, index)
                return S.search(index, qm, im, items, dataset=ds, k=k, metric=metric, codes=codes,
                                query_vector=vec, query_codes=self.codes.get(qm),
                                encode_codes=self.code_encoders.get(qm),
                                relevance=self.index_relevance(mode, index))
            return S.search(query, qm, im, items, encode=self.encoders.get(qm), dataset=ds, k=k,
                            metric=metric, codes=codes, encode_codes=self.code_encoders.get(qm),
                            vocabulary=self.vocabulary)
        except S.QueryError as exc:
            return S.failed(str(exc), im, metric)


__all__ = ["SearchSession", "Mode", "VALUE", "INDEX"]
