"""Captions of shapes scenes: writing a :class:`Meaning` as English and parsing it back.

The grammar is small and COCO-flavoured::

    caption  := [prefix] objects | [prefix] object RELATION object
    objects  := object | object " and " object | object ", " object " and " object
    object   := article [size] [colour] noun          (noun: a shape synonym, or "shape"/"object")

Synonyms (circle/disc, square/box, large/big, small/little, ...) and optional detail make many
strings per meaning, while :func:`parse_caption` inverts every string the generator writes (and
is lenient with typed queries: no article, adjectives in any order).
"""
from __future__ import annotations

import random
import re

from .shapes_vocab import COLOURS, RELATIONS, SHAPES, SIZES, Description, Meaning

SHAPE_WORDS = {
    "circle": ("circle", "circle", "disc"),
    "square": ("square", "square", "box"),
    "triangle": ("triangle",),
    "star": ("star",),
    "cross": ("cross",),
    "diamond": ("diamond", "diamond", "rhombus"),
}
SIZE_WORDS = {"small": ("small", "small", "little"), "large": ("large", "big")}
GENERIC_NOUNS = ("shape", "object")
RELATION_WORDS = {
    "left_of": ("to the left of", "left of", "on the left of"),
    "right_of": ("to the right of", "right of", "on the right of"),
    "above": ("above", "over"),
    "below": ("below", "under", "beneath"),
}
PREFIXES = ("", "", "", "", "a picture of ", "an image of ", "there is ", "a photo of ",
            "a drawing of ")
ARTICLES = ("a", "an", "the", "one")

_WORD_SHAPE = {w: s for s, words in SHAPE_WORDS.items() for w in words}
_WORD_SIZE = {w: s for s, words in SIZE_WORDS.items() for w in words}
_WORD_COLOUR = {c: c for c in COLOURS}
_PHRASE_RELATION = {p: r for r, phrases in RELATION_WORDS.items() for p in phrases}
_RELATION_RE = re.compile(r"\s(" + "|".join(sorted(map(re.escape, _PHRASE_RELATION), key=len,
                                                       reverse=True)) + r")\s")
_PREFIX_LIST = sorted({p.strip() for p in PREFIXES if p}, key=len, reverse=True)
_LIST_SPLIT_RE = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")

assert set(SHAPE_WORDS) == set(SHAPES) and set(SIZE_WORDS) == set(SIZES)
assert set(RELATION_WORDS) == set(RELATIONS)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def describe_object(desc: Description, rnd: random.Random) -> str:
    """English for one description, e.g. ``"a small red circle"``, choosing synonyms with ``rnd``."""
    words = []
    if desc.size is not None:
        words.append(rnd.choice(SIZE_WORDS[desc.size]))
    if desc.colour is not None:
        words.append(desc.colour)
    words.append(rnd.choice(SHAPE_WORDS[desc.shape]) if desc.shape is not None
                 else rnd.choice(GENERIC_NOUNS))
    return f"{_article(words[0])} {' '.join(words)}"


def write_caption(meaning: Meaning, rnd: random.Random, prefix: bool = True) -> str:
    """One caption string for ``meaning`` (synonyms, relation wording and prefix drawn from ``rnd``)."""
    parts = [describe_object(d, rnd) for d in meaning.objects]
    if meaning.relation is not None:
        body = f"{parts[0]} {rnd.choice(RELATION_WORDS[meaning.relation])} {parts[1]}"
    elif len(parts) == 1:
        body = parts[0]
    else:
        body = ", ".join(parts[:-1]) + " and " + parts[-1]
    return (rnd.choice(PREFIXES) if prefix else "") + body


def _parse_object(text: str):
    tokens = text.split()
    if tokens and tokens[0] in ARTICLES:
        tokens = tokens[1:]
    if not tokens:
        return None
    shape = colour = size = None
    generic = False
    for tok in tokens:
        if tok in _WORD_SHAPE and shape is None and not generic:
            shape = _WORD_SHAPE[tok]
        elif tok in GENERIC_NOUNS and shape is None and not generic:
            generic = True
        elif tok in _WORD_COLOUR and colour is None:
            colour = tok
        elif tok in _WORD_SIZE and size is None:
            size = _WORD_SIZE[tok]
        else:
            return None
    if shape is None and colour is None and size is None:
        return None
    return Description(shape, colour, size)


def parse_caption(text) -> Meaning | None:
    """The :class:`Meaning` of a caption, or ``None`` when it is not in the shapes grammar.

    Inverts :func:`write_caption` exactly; also accepts typed queries such as ``"red circle"``,
    ``"big disc above blue box"`` or ``"a star, a cross and a diamond"``.
    """
    if not isinstance(text, str):
        raise ValueError(f"text: expected a caption string, got {type(text).__name__}")
    clean = " ".join(text.lower().replace(".", " ").split())
    for p in _PREFIX_LIST:
        if clean.startswith(p + " "):
            clean = clean[len(p) + 1:]
            break
    if not clean:
        return None
    found = _RELATION_RE.findall(f" {clean} ")
    if len(found) > 1:
        return None
    if found:
        left, right = _RELATION_RE.split(f" {clean} ", maxsplit=1)[0::2]
        objs = (_parse_object(left), _parse_object(right))
        if None in objs:
            return None
        return Meaning(objs, _PHRASE_RELATION[found[0]])
    objs = tuple(_parse_object(p) for p in _LIST_SPLIT_RE.split(clean))
    if not objs or None in objs:
        return None
    return Meaning(objs, None)
