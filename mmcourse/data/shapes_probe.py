"""Counterfactual captions for the shapes scenes: hard negatives and the word-order probe.

A counterfactual is a minimal edit of a true caption that its image does NOT satisfy — best the
colours of the two related objects swapped, or the two objects of the relation swapped: the same
bag of words with a different meaning, which only an order-aware text encoder can tell apart.
"""
from __future__ import annotations

import random
import warnings
from itertools import permutations

import numpy as np

from .._validation import check_int, describe
from .shapes_semantics import satisfies
from .shapes_text import _PREFIX_LIST, _RELATION_RE, parse_caption, write_caption
from .shapes_vocab import (COLOURS, RELATIONS, SHAPES, SIZES, Description, Meaning,
                           relation_holds_scalar)


# ---------------------------------------------------------------------------- counterfactuals
def _structured(dataset, name="dataset"):
    if getattr(dataset, "scenes", None) is None or getattr(dataset, "meanings", None) is None \
            or not all(isinstance(m, Meaning) for m in dataset.meanings[:1]):
        raise ValueError(f"{name}: expected a shapes CaptionDataset (with scenes and meanings), "
                         f"got {describe(dataset)}")
    return dataset


def _as_random(rng, name="rng") -> random.Random:
    if isinstance(rng, np.random.Generator):
        return random.Random(int(rng.integers(0, 2**63 - 1)))
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return random.Random(int(rng))
    raise ValueError(f"{name}: expected a numpy Generator, random.Random or int seed, "
                     f"got {describe(rng)}")


def _check_indices(values, name: str, what: str, n: int) -> np.ndarray:
    """``values`` as a 1-D array of integer indices in [0, n) (an empty list passes)."""
    idx = np.atleast_1d(np.asarray(values))
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise ValueError(f"{name}: expected a 1-D array of integer {what} indices, "
                         f"got {describe(values)}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"{name}: expected indices in [0, {n - 1}], "
                         f"got range [{idx.min()}, {idx.max()}]")
    return idx


def _swap_colours(m: Meaning) -> Meaning | None:
    d0, d1 = m.objects[0], m.objects[1]
    if d0.colour is None or d1.colour is None or d0.colour == d1.colour:
        return None
    return Meaning((d0._replace(colour=d1.colour), d1._replace(colour=d0.colour))
                   + m.objects[2:], m.relation)


def _swap_arguments(m: Meaning) -> Meaning:
    return Meaning((m.objects[1], m.objects[0]) + m.objects[2:], m.relation)


def _attribute_changes(m: Meaning, rnd: random.Random):
    """Meanings that differ from ``m`` in one stated attribute (or an added shape), in random
    order; generated lazily so the first unsatisfied one is found cheaply."""
    values = {"shape": SHAPES, "colour": tuple(COLOURS), "size": SIZES}
    edits = [(k, attr, v) for k, d in enumerate(m.objects) for attr, vals in values.items()
             if getattr(d, attr) is not None or attr == "shape"
             for v in vals if v != getattr(d, attr)]
    rnd.shuffle(edits)
    for k, attr, v in edits:
        objs = list(m.objects)
        objs[k] = objs[k]._replace(**{attr: v})
        yield Meaning(tuple(objs), m.relation)


def hard_negative_meaning(meaning: Meaning, scene, rnd: random.Random) -> tuple:
    """``(negative_meaning, kind)``: a minimal edit of ``meaning`` that ``scene`` does NOT satisfy.

    Preference: colours of the related objects swapped ("colour_swap"), the two arguments of the
    relation swapped ("argument_swap"), else one attribute changed ("attribute").
    """
    candidates = []
    if meaning.relation is not None:
        swapped = _swap_colours(meaning)
        if swapped is not None:
            candidates.append((swapped, "colour_swap"))
        candidates.append((_swap_arguments(meaning), "argument_swap"))
    for cand, kind in candidates:
        if not satisfies(cand, scene):
            return cand, kind
    for cand in _attribute_changes(meaning, rnd):
        if not satisfies(cand, scene):
            return cand, "attribute"
    raise ValueError(f"meaning: no counterfactual of {meaning} is unsatisfied by the scene {scene}")


def hard_negatives(dataset, caption_indices, rng) -> list:
    """For each caption index, a counterfactual caption its own image does NOT satisfy.

    Tries, in order: colours of the two related objects swapped, the relation's arguments swapped,
    one attribute changed; each candidate is verified with :func:`satisfies`. Returns strings.
    """
    _structured(dataset)
    idx = _check_indices(caption_indices, "caption_indices", "caption", dataset.n_captions)
    if idx.size == 0:
        return []
    rnd = _as_random(rng)
    out = []
    for j in idx.tolist():
        scene = dataset.scenes[dataset.caption_image[j]]
        meaning = dataset.meanings[j]
        neg, kind = hard_negative_meaning(meaning, scene, rnd)
        out.append(_same_words_twin(dataset.captions[j], meaning, neg, kind)
                   or write_caption(neg, rnd, prefix=False))
    return out


def _same_words_twin(text: str, pos: Meaning, neg: Meaning, kind: str) -> str | None:
    """The swapped twin written with exactly the caption's own words, or None.

    A twin with fresh synonyms could be told apart by its words alone; keeping the words makes
    word ORDER the only difference the text encoder can learn from.
    """
    if kind not in ("colour_swap", "argument_swap"):
        return None
    prefix = next((p + " " for p in _PREFIX_LIST if text.startswith(p + " ")), "")
    try:
        twin = prefix + _twin_text(text[len(prefix):], pos, neg)
    except (ValueError, IndexError):
        return None
    return twin if parse_caption(twin) == neg else None


def _probe_pair(scene, kind: str, rnd: random.Random):
    """A (positive, negative) meaning pair for one scene and kind, or None if none exists."""
    pairs = []
    for a, b in permutations(range(len(scene)), 2):
        oa, ob = scene[a], scene[b]
        for rel in RELATIONS:
            if relation_holds_scalar(rel, oa.x, oa.y, ob.x, ob.y):
                pairs.append((oa, ob, rel))
    rnd.shuffle(pairs)
    for oa, ob, rel in pairs:
        # sizes only for argument swaps: a colour swap must not change an article ("a"/"an")
        sized = kind == "argument_swap" and rnd.random() < 0.3
        da = Description(oa.shape, oa.colour, oa.size if sized else None)
        db = Description(ob.shape, ob.colour, ob.size if sized else None)
        pos = Meaning((da, db), rel)
        neg = _swap_colours(pos) if kind == "colour_swap" else _swap_arguments(pos)
        if neg is not None and satisfies(pos, scene) and not satisfies(neg, scene):
            return pos, neg
    return None


def word_order_probe(dataset, n_pairs: int = 500, seed: int = 0) -> dict:
    """Caption pairs with the same bag of words but different meaning, for one dataset.

    Returns ``dict(image_index=int64 (p,), positive=list[str], negative=list[str], kind=list[str])``:
    each positive is a relational caption its image satisfies, the negative its twin with the
    colours of the two objects swapped (``"colour_swap"``) or the two objects of the relation
    swapped (``"argument_swap"``), which the image does not satisfy. Kinds alternate; images are
    visited in a seeded order. Fewer than ``n_pairs`` (with a warning) if the dataset runs out.
    """
    _structured(dataset)
    n_pairs = check_int(n_pairs, "n_pairs", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    rnd = random.Random(seed)
    order = list(range(dataset.n_images))
    rnd.shuffle(order)
    out = {"image_index": [], "positive": [], "negative": [], "kind": []}
    kinds = ("colour_swap", "argument_swap")
    used = set()
    for round_ in range(2):  # a second pass fills up with each image's other kind
        for t, i in enumerate(order):
            if len(out["kind"]) >= n_pairs:
                break
            kind = kinds[(t + round_) % 2]
            if (i, kind) in used:
                continue
            pair = _probe_pair(dataset.scenes[i], kind, rnd)
            if pair is None:
                continue
            used.add((i, kind))
            out["image_index"].append(i)
            out["positive"].append(write_caption(pair[0], rnd, prefix=False))
            # the negative uses the same words: same synonyms, same relation phrase
            out["negative"].append(_twin_text(out["positive"][-1], pair[0], pair[1]))
            out["kind"].append(kind)
    if len(out["kind"]) < n_pairs:
        warnings.warn(f"word_order_probe: dataset {dataset.name!r} yields only "
                      f"{len(out['kind'])} pairs, fewer than n_pairs={n_pairs}", stacklevel=2)
    out["image_index"] = np.asarray(out["image_index"], dtype=np.int64)
    return out


def _twin_text(positive: str, pos: Meaning, neg: Meaning) -> str:
    """The negative's text with exactly the positive's words, rearranged."""
    head, phrase, tail = _split_relation(positive)
    if neg.objects[0] == pos.objects[1]:  # argument swap: exchange the two noun phrases
        return f"{tail} {phrase} {head}"
    # colour swap: exchange the two colour words
    c0, c1 = pos.objects[0].colour, pos.objects[1].colour
    head_words = [c1 if w == c0 else w for w in head.split()]
    tail_words = [c0 if w == c1 else w for w in tail.split()]
    head_words[0] = "an" if head_words[1][0] in "aeiou" else "a"
    tail_words[0] = "an" if tail_words[1][0] in "aeiou" else "a"
    return f"{' '.join(head_words)} {phrase} {' '.join(tail_words)}"


def _split_relation(text: str) -> tuple:
    left, phrase, right = _RELATION_RE.split(f" {text} ", maxsplit=1)
    return left.strip(), phrase, right.strip()


def scene_twins(dataset, image_indices, rng, argument_share: float = 0.7) -> tuple:
    """Relational caption pairs built from the scenes: ``(rows, positives, negatives)``.

    For each image (a row of ``image_indices``) with two or more objects, a caption its scene
    satisfies and its same-words twin it does not — the two arguments of the relation swapped
    (with probability ``argument_share``) or their colours swapped — as in
    :func:`word_order_probe`. ``rows`` (int64 (p,)) are the positions in ``image_indices`` that
    got a pair (images with one object get none). Used as training hard negatives.
    """
    _structured(dataset)
    idx = _check_indices(image_indices, "image_indices", "image", dataset.n_images)
    if isinstance(argument_share, bool) or not isinstance(argument_share, (int, float)) \
            or not 0 <= argument_share <= 1:
        raise ValueError(f"argument_share: expected a fraction in [0, 1], got {argument_share!r}")
    rnd = _as_random(rng)
    rows, positives, negatives = [], [], []
    for r, i in enumerate(idx.tolist()):
        scene = dataset.scenes[i]
        if len(scene) < 2:
            continue
        first = "argument_swap" if rnd.random() < argument_share else "colour_swap"
        other = "colour_swap" if first == "argument_swap" else "argument_swap"
        pair = _probe_pair(scene, first, rnd) or _probe_pair(scene, other, rnd)
        if pair is None:
            continue
        text = write_caption(pair[0], rnd, prefix=False)
        rows.append(r)
        positives.append(text)
        negatives.append(_twin_text(text, pair[0], pair[1]))
    return np.asarray(rows, dtype=np.int64), positives, negatives
