"""Text preprocessing for captions: tokenizer, vocabulary, padding, bag-of-words and TF-IDF.

The pipeline every text encoder of the course uses::

    tokens = tokenize("A red circle, left of a BLUE square.")  # ['a', 'red', 'circle', ...]
    vocab = Vocabulary.build(train_captions, min_freq=1)       # fit on TRAINING captions only
    ids, lengths = pad_sequences(vocab.encode_batch(captions))  # int64 (n, L), int64 (n,)

Id 0 is ``<pad>`` and id 1 is ``<unk>`` (any token not in the vocabulary).
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ._validation import as_array, check_int, check_texts, describe

__all__ = ["tokenize", "Vocabulary", "pad_sequences", "bag_of_words", "tfidf",
           "PAD", "UNK"]

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[^\W_]+")  # runs of letters and digits (any script); drops punctuation


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words and numbers; punctuation is dropped.

    ``"Two red circles, left-of 3 squares!"`` -> ``['two', 'red', 'circles', 'left', 'of', '3',
    'squares']``. An apostrophe splits a word (``"don't"`` -> ``['don', 't']``).
    """
    if not isinstance(text, str):
        raise ValueError(f"text: expected a string, got {describe(text)}")
    return _TOKEN.findall(text.lower())


class Vocabulary:
    """A token <-> id mapping: ``itos`` (list, id -> token) and ``stoi`` (dict, token -> id).

    Ids 0 and 1 are reserved for ``<pad>`` and ``<unk>``; the other tokens follow in order of
    decreasing training frequency, ties alphabetical, so a vocabulary is deterministic.
    """

    pad_id = 0
    unk_id = 1

    def __init__(self, itos):
        itos = list(itos)
        if itos[:2] != [PAD, UNK]:
            raise ValueError(f"itos: expected to start with [{PAD!r}, {UNK!r}], got {itos[:2]}")
        if len(set(itos)) != len(itos):
            raise ValueError("itos: expected unique tokens, got duplicates")
        for i, tok in enumerate(itos):
            if not isinstance(tok, str) or not tok:
                raise ValueError(f"itos: expected non-empty strings, got {describe(tok)} at {i}")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(itos)}
        self.counts: dict[str, int] = {}  # training frequencies (filled by build)

    @classmethod
    def build(cls, texts, min_freq: int = 1, max_size: int | None = None) -> "Vocabulary":
        """Count tokens of ``texts``; keep those seen >= ``min_freq`` times, at most
        ``max_size`` tokens (the most frequent; reserved tokens not counted)."""
        texts = check_texts(texts, "texts")
        min_freq = check_int(min_freq, "min_freq", minimum=1)
        if max_size is not None:
            max_size = check_int(max_size, "max_size", minimum=0)
        counts = Counter(tok for t in texts for tok in tokenize(t))
        for reserved in (PAD, UNK):
            counts.pop(reserved, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size]
        vocab = cls([PAD, UNK] + kept)
        vocab.counts = {t: counts[t] for t in kept}
        return vocab

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token) -> bool:
        return token in self.stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def __repr__(self) -> str:
        preview = ", ".join(self.itos[2:8])
        return f"Vocabulary({len(self)} tokens: <pad>, <unk>, {preview}{', ...' if len(self) > 8 else ''})"

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (unknown tokens -> ``unk_id``); may be empty."""
        return [self.stoi.get(tok, self.unk_id) for tok in tokenize(text)]

    def encode_batch(self, texts) -> list[list[int]]:
        """``encode`` for each text; pass the result to :func:`pad_sequences`."""
        return [self.encode(t) for t in check_texts(texts, "texts")]

    def decode(self, ids) -> str:
        """The tokens of ``ids`` joined by spaces, ``<pad>`` ids skipped."""
        arr = as_array(ids, "ids", ndim=1, allow_empty=True)
        if arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() >= len(self)):
            raise ValueError(f"ids: expected integer ids in [0, {len(self) - 1}], got "
                             f"{describe(arr)} with range [{arr.min()}, {arr.max()}]")
        return " ".join(self.itos[i] for i in arr.tolist() if i != self.pad_id)

    def to_dict(self) -> dict:
        """A JSON-serialisable description; :meth:`from_dict` inverts it."""
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        if not isinstance(d, dict) or "itos" not in d:
            raise ValueError(f"d: expected a dict with key 'itos' (from Vocabulary.to_dict), "
                             f"got {describe(d)}")
        return cls(d["itos"])


def pad_sequences(seqs, max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id sequences with ``<pad>`` (0) into a matrix.

    Returns ``ids`` int64 (n, L) and ``lengths`` int64 (n,). L = ``max_len`` when given
    (longer sequences are truncated, keeping their first ``max_len`` ids), else the longest
    length. An empty sequence becomes a single ``<pad>`` with length 1, so every length is
    >= 1 (packed RNNs reject length 0) and the encoder reads the neutral padding token.
    """
    if isinstance(seqs, np.ndarray) and seqs.ndim == 2:
        seqs = seqs.tolist()
    if seqs is None or isinstance(seqs, (str, bytes, dict)) or not hasattr(seqs, "__len__"):
        raise ValueError(f"seqs: expected a list of id sequences, got {describe(seqs)}")
    if len(seqs) == 0:
        raise ValueError("seqs: expected at least one sequence, got an empty list")
    if max_len is not None:
        max_len = check_int(max_len, "max_len", minimum=1)
    rows = []
    for i, s in enumerate(seqs):
        if isinstance(s, str):
            raise ValueError(f"seqs: expected id sequences, got a string at position {i} "
                             f"(encode texts with Vocabulary.encode first)")
        arr = np.asarray(s)
        if arr.ndim != 1 or (arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0)):
            raise ValueError(f"seqs: expected 1-D sequences of non-negative integer ids, got "
                             f"{describe(arr)} at position {i}")
        rows.append(arr.astype(np.int64)[:max_len] if max_len else arr.astype(np.int64))
    lengths = np.array([max(len(r), 1) for r in rows], dtype=np.int64)
    width = max_len if max_len is not None else int(lengths.max())
    ids = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
    return ids, lengths


def _check_vocab(vocab) -> "Vocabulary":
    if not isinstance(vocab, Vocabulary):
        raise ValueError(f"vocab: expected a Vocabulary (Vocabulary.build(texts)), got "
                         f"{describe(vocab)}")
    return vocab


def bag_of_words(texts, vocab: Vocabulary, binary: bool = False) -> np.ndarray:
    """Token counts per text: float32 (n, len(vocab)); column j counts id j.

    Column 0 (``<pad>``) is always 0; column 1 counts out-of-vocabulary tokens. ``binary``
    records presence (0/1) instead of counts. Word order is lost — "red circle left of blue
    square" and "blue circle left of red square" get the same vector.
    """
    texts = check_texts(texts, "texts")
    vocab = _check_vocab(vocab)
    out = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for i, t in enumerate(texts):
        ids = vocab.encode(t)
        if ids:
            np.add.at(out[i], ids, 1.0)
    if binary:
        np.minimum(out, 1.0, out=out)
    return out


def tfidf(texts, vocab: Vocabulary, idf=None) -> tuple[np.ndarray, np.ndarray]:
    """TF-IDF vectors, L2-normalised per text: ``(X float32 (n, V), idf float64 (V,))``.

    tf = raw counts; idf = ln((1 + n_docs) / (1 + df)) + 1 over ``texts`` (scikit-learn's
    ``TfidfVectorizer`` default, "smooth_idf"). Fit on training texts, then pass the returned
    ``idf`` to transform other texts with the same weights. ``<pad>`` and ``<unk>`` get idf 0, so
out-of-vocabulary words are ignored (as scikit-learn does); empty texts give zero rows.
    """
    counts = bag_of_words(texts, vocab).astype(np.float64)
    if idf is None:
        df = (counts > 0).sum(axis=0)
        idf = np.log((1.0 + len(counts)) / (1.0 + df)) + 1.0
        idf[[vocab.pad_id, vocab.unk_id]] = 0.0  # padding and unknown words carry no weight
    else:
        idf = as_array(idf, "idf", ndim=1, dtype=np.float64)
        if idf.shape != (len(vocab),):
            raise ValueError(f"idf: expected shape ({len(vocab)},) to match vocab, got {idf.shape}")
    x = counts * idf[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    return x.astype(np.float32), idf
