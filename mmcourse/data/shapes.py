"""Shapes scenes: exact caption ↔ image semantics, hard negatives and the word-order probe.

Every caption of the shapes dataset keeps its :class:`Meaning` and every image its scene, so
relevance is known for *any* caption × image pair:

* :func:`satisfies` — does a scene satisfy a meaning? There must be an injective assignment of
  the caption's object descriptions to the scene's objects that matches every stated attribute
  and the relation (with the margin of :func:`relation_holds`). The grade is
  ``(objects the caption describes) / (objects in the image)`` in (0, 1], else 0.
* :func:`relevance_matrix` — the same for many meanings × scenes, vectorised over scenes.
* :func:`hard_negatives`, :func:`word_order_probe` — counterfactual captions the image does *not*
  satisfy, e.g. the colours of a relation swapped (same bag of words, different meaning).

Generation lives in ``shapes_make`` (:func:`make_shapes`), rendering in ``shapes_render``,
caption writing/parsing in ``shapes_text`` (:func:`parse_caption`).
"""
from __future__ import annotations

import random
import warnings
from itertools import permutations

import numpy as np

from .._validation import check_int, describe
from .shapes_text import parse_caption, write_caption
from .shapes_vocab import (COLOUR_CODE, COLOURS, CONVERSE, MAX_OBJECTS, RELATION_CODE,
                           RELATION_MARGIN, RELATIONS, SHAPE_CODE, SHAPES, SIZE_CODE, SIZES,
                           Description, Meaning, SceneObject, relation_holds, scene_key)

__all__ = ["SHAPES", "COLOURS", "SIZES", "RELATIONS", "RELATION_MARGIN", "SceneObject",
           "Description", "Meaning", "satisfies", "relevance", "relevance_matrix", "parse_caption",
           "write_caption", "hard_negatives", "word_order_probe", "make_shapes", "relation_holds",
           "scene_key", "pack_scenes", "unpack_scenes", "pack_meanings", "unpack_meanings"]


# ---------------------------------------------------------------------------- validation
def _check_meaning(meaning, name="meaning") -> Meaning:
    if not isinstance(meaning, Meaning) or not isinstance(meaning.objects, tuple) \
            or not meaning.objects or not all(isinstance(d, Description) for d in meaning.objects):
        raise ValueError(f"{name}: expected a Meaning with at least one Description "
                         f"(e.g. from parse_caption), got {describe(meaning)}")
    if meaning.relation is not None:
        if meaning.relation not in RELATIONS:
            raise ValueError(f"{name}: expected relation in {RELATIONS} or None, "
                             f"got {meaning.relation!r}")
        if len(meaning.objects) < 2:
            raise ValueError(f"{name}: a relation needs two object descriptions, "
                             f"got {len(meaning.objects)}")
    return meaning


def _check_scene(scene, name="scene") -> tuple:
    if not isinstance(scene, (tuple, list)) or not all(isinstance(o, SceneObject) for o in scene):
        raise ValueError(f"{name}: expected a tuple of SceneObject, got {describe(scene)}")
    return tuple(scene)


# ---------------------------------------------------------------------------- one pair
def satisfies(meaning: Meaning, scene) -> bool:
    """True when ``scene`` (a tuple of SceneObject) satisfies ``meaning``.

    Needs an injective assignment of descriptions to objects matching all stated attributes,
    and, if the meaning has a relation, ``objects[0] <relation> objects[1]`` for the assigned pair.
    """
    meaning, scene = _check_meaning(meaning), _check_scene(scene)
    descs = meaning.objects
    for combo in permutations(range(len(scene)), len(descs)):
        if not all(d.matches(scene[k]) for d, k in zip(descs, combo)):
            continue
        if meaning.relation is None:
            return True
        a, b = scene[combo[0]], scene[combo[1]]
        if relation_holds(meaning.relation, a.x, a.y, b.x, b.y):
            return True
    return False


def relevance(meaning: Meaning, scene) -> float:
    """Graded relevance of one scene to one meaning: 0, or n_described / n_objects in (0, 1]."""
    if not satisfies(meaning, scene):
        return 0.0
    return len(meaning.objects) / len(scene)


# ---------------------------------------------------------------------------- compact arrays
def pack_scenes(scenes) -> dict:
    """Scenes as arrays: ``shape``/``colour``/``size`` int8 (n, 3) with -1 padding, ``x``/``y``
    float32 (n, 3) centres as fractions of the side, ``count`` int8 (n,)."""
    n = len(scenes)
    out = {k: np.full((n, MAX_OBJECTS), -1, dtype=np.int8) for k in ("shape", "colour", "size")}
    out["x"] = np.zeros((n, MAX_OBJECTS), dtype=np.float32)
    out["y"] = np.zeros((n, MAX_OBJECTS), dtype=np.float32)
    out["count"] = np.zeros(n, dtype=np.int8)
    for i, scene in enumerate(scenes):
        if len(scene) > MAX_OBJECTS:
            raise ValueError(f"scenes: expected at most {MAX_OBJECTS} objects per scene, "
                             f"got {len(scene)} at position {i}")
        out["count"][i] = len(scene)
        for k, o in enumerate(scene):
            out["shape"][i, k] = SHAPE_CODE[o.shape]
            out["colour"][i, k] = COLOUR_CODE[o.colour]
            out["size"][i, k] = SIZE_CODE[o.size]
            out["x"][i, k], out["y"][i, k] = o.x, o.y
    return out


def unpack_scenes(arrays: dict) -> list:
    """Inverse of :func:`pack_scenes`: a list of tuples of SceneObject."""
    shapes, colours = arrays["shape"].tolist(), arrays["colour"].tolist()
    sizes, xs, ys = arrays["size"].tolist(), arrays["x"].tolist(), arrays["y"].tolist()
    colour_names = tuple(COLOURS)
    return [tuple(SceneObject(SHAPES[shapes[i][k]], colour_names[colours[i][k]], SIZES[sizes[i][k]],
                              xs[i][k], ys[i][k]) for k in range(c))
            for i, c in enumerate(arrays["count"].tolist())]


def pack_meanings(meanings) -> np.ndarray:
    """Meanings as one int8 array (m, 1 + 3 * MAX_OBJECTS + 1): n_desc, (shape, colour, size) per
    description (-1 = unspecified or absent), relation code (-1 = none)."""
    out = np.full((len(meanings), 2 + 3 * MAX_OBJECTS), -1, dtype=np.int8)
    for j, m in enumerate(meanings):
        out[j, 0] = len(m.objects)
        for k, d in enumerate(m.objects):
            for a, (value, codes) in enumerate(((d.shape, SHAPE_CODE), (d.colour, COLOUR_CODE),
                                                (d.size, SIZE_CODE))):
                if value is not None:
                    out[j, 1 + 3 * k + a] = codes[value]
        if m.relation is not None:
            out[j, -1] = RELATION_CODE[m.relation]
    return out


def unpack_meanings(arr: np.ndarray) -> list:
    """Inverse of :func:`pack_meanings` (decodes each distinct row once)."""
    colour_names = tuple(COLOURS)
    arr = np.asarray(arr, dtype=np.int64)
    codes = np.zeros(len(arr), dtype=np.int64)  # one integer per row (4 bits per field) for unique
    for col in range(arr.shape[1]):
        codes = (codes << 4) | (arr[:, col] + 1)
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    decoded = []
    for row in arr[first].tolist():
        descs = []
        for k in range(row[0]):
            s, c, z = row[1 + 3 * k: 4 + 3 * k]
            descs.append(Description(SHAPES[s] if s >= 0 else None,
                                     colour_names[c] if c >= 0 else None,
                                     SIZES[z] if z >= 0 else None))
        decoded.append(Meaning(tuple(descs), RELATIONS[row[-1]] if row[-1] >= 0 else None))
    return [decoded[i] for i in np.asarray(inverse).reshape(-1).tolist()]


# ---------------------------------------------------------------------------- many pairs
def _match(packed: dict, desc: Description) -> np.ndarray:
    ok = packed["shape"] >= 0
    if desc.shape is not None:
        ok = ok & (packed["shape"] == SHAPE_CODE[desc.shape])
    if desc.colour is not None:
        ok = ok & (packed["colour"] == COLOUR_CODE[desc.colour])
    if desc.size is not None:
        ok = ok & (packed["size"] == SIZE_CODE[desc.size])
    return ok


def _satisfied_by_all(meaning: Meaning, packed: dict) -> np.ndarray:
    """Bool (n,): which packed scenes satisfy ``meaning``."""
    n, width = packed["shape"].shape
    descs = meaning.objects
    if len(descs) > width:
        return np.zeros(n, dtype=bool)
    matches = [_match(packed, d) for d in descs]
    sat = np.zeros(n, dtype=bool)
    for combo in permutations(range(width), len(descs)):
        ok = matches[0][:, combo[0]].copy()
        for d in range(1, len(descs)):
            ok &= matches[d][:, combo[d]]
        if meaning.relation is not None:
            a, b = combo[0], combo[1]
            ok &= relation_holds(meaning.relation, packed["x"][:, a], packed["y"][:, a],
                                 packed["x"][:, b], packed["y"][:, b])
        sat |= ok
    return sat


def relevance_matrix(meanings, scenes) -> np.ndarray:
    """Graded relevance (m, n) float32 of ``scenes`` (images) to ``meanings`` (captions).

    Entry (j, i) is 0 when scene i does not satisfy meaning j, else (objects meaning j describes)
    / (objects in scene i). A ``None`` meaning (an unparseable query) gives a row of zeros.
    Vectorised over scenes; each distinct meaning is evaluated once.
    """
    if isinstance(meanings, Meaning) or not isinstance(meanings, (list, tuple)):
        raise ValueError(f"meanings: expected a list of Meaning, got {describe(meanings)}")
    if not isinstance(scenes, (list, tuple)):
        raise ValueError(f"scenes: expected a list of scenes (tuples of SceneObject), "
                         f"got {describe(scenes)}")
    for i, s in enumerate(scenes):
        _check_scene(s, f"scenes[{i}]")
    packed = pack_scenes(scenes)
    count = np.maximum(packed["count"].astype(np.float32), 1.0)
    out = np.zeros((len(meanings), len(scenes)), dtype=np.float32)
    groups: dict = {}
    for j, m in enumerate(meanings):
        if m is not None:
            groups.setdefault(_check_meaning(m, f"meanings[{j}]"), []).append(j)
    for m, rows in groups.items():
        row = _satisfied_by_all(m, packed) * (len(m.objects) / count)
        out[rows] = row.astype(np.float32)
    return out


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


def _swap_colours(m: Meaning) -> Meaning | None:
    d0, d1 = m.objects[0], m.objects[1]
    if d0.colour is None or d1.colour is None or d0.colour == d1.colour:
        return None
    return Meaning((d0._replace(colour=d1.colour), d1._replace(colour=d0.colour))
                   + m.objects[2:], m.relation)


def _swap_arguments(m: Meaning) -> Meaning:
    return Meaning((m.objects[1], m.objects[0]) + m.objects[2:], m.relation)


def _attribute_changes(m: Meaning, rnd: random.Random) -> list:
    """All meanings that differ from ``m`` in one stated attribute, shuffled."""
    options = []
    values = {"shape": SHAPES, "colour": tuple(COLOURS), "size": SIZES}
    for k, d in enumerate(m.objects):
        for attr, vals in values.items():
            current = getattr(d, attr)
            if current is None and attr != "shape":
                continue
            for v in vals:
                if v != current:
                    objs = list(m.objects)
                    objs[k] = d._replace(**{attr: v})
                    options.append(Meaning(tuple(objs), m.relation))
    rnd.shuffle(options)
    return options


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
    candidates += [(m, "attribute") for m in _attribute_changes(meaning, rnd)]
    for cand, kind in candidates:
        if not satisfies(cand, scene):
            return cand, kind
    raise ValueError(f"meaning: no counterfactual of {meaning} is unsatisfied by the scene {scene}")


def hard_negatives(dataset, caption_indices, rng) -> list:
    """For each caption index, a counterfactual caption its own image does NOT satisfy.

    Tries, in order: colours of the two related objects swapped, the relation's arguments swapped,
    one attribute changed; each candidate is verified with :func:`satisfies`. Returns strings.
    """
    _structured(dataset)
    idx = np.atleast_1d(np.asarray(caption_indices))
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise ValueError(f"caption_indices: expected a 1-D array of integer caption indices, "
                         f"got {describe(caption_indices)}")
    if idx.size and (idx.min() < 0 or idx.max() >= dataset.n_captions):
        raise ValueError(f"caption_indices: expected indices in [0, {dataset.n_captions - 1}], "
                         f"got range [{idx.min()}, {idx.max()}]")
    rnd = _as_random(rng)
    out = []
    for j in idx.tolist():
        scene = dataset.scenes[dataset.caption_image[j]]
        neg, _ = hard_negative_meaning(dataset.meanings[j], scene, rnd)
        out.append(write_caption(neg, rnd, prefix=False))
    return out


def _probe_pair(scene, kind: str, rnd: random.Random):
    """A (positive, negative) meaning pair for one scene and kind, or None if none exists."""
    pairs = []
    for a, b in permutations(range(len(scene)), 2):
        oa, ob = scene[a], scene[b]
        for rel in RELATIONS:
            if relation_holds(rel, oa.x, oa.y, ob.x, ob.y):
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
    from .shapes_text import _RELATION_RE

    left, phrase, right = _RELATION_RE.split(f" {text} ", maxsplit=1)
    return left.strip(), phrase, right.strip()


def make_shapes(*args, **kwargs):
    """Generate a shapes-scenes CaptionDataset; see :func:`mmcourse.data.shapes_make.make_shapes`."""
    from .shapes_make import make_shapes as _make

    return _make(*args, **kwargs)

