"""Exact caption ↔ image semantics of the shapes scenes, for one pair and vectorised.

* :func:`satisfies` — there must be an injective assignment of the caption's object descriptions to
  the scene's objects that matches every stated attribute and the relation (with the margin of
  :func:`relation_holds`);
* :func:`relevance` — the grade ``(objects described) / (objects in the image)`` in (0, 1], else 0;
* :func:`relevance_matrix` — the same for many meanings × scenes, vectorised over scenes;
* ``pack_*`` / ``unpack_*`` — compact arrays for caching and for the vectorised path.
"""
from __future__ import annotations

from itertools import permutations

import numpy as np

from .._validation import describe
from .shapes_vocab import (COLOUR_CODE, COLOURS, MAX_OBJECTS, RELATION_CODE, RELATIONS,
                           SHAPE_CODE, SHAPES, SIZE_CODE, SIZES, Description, Meaning, SceneObject,
                           relation_holds, relation_holds_scalar)


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
        if relation_holds_scalar(meaning.relation, a.x, a.y, b.x, b.y):
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
    count = arrays["count"].astype(np.int64)
    rows, cols = np.nonzero(np.arange(arrays["shape"].shape[1])[None, :] < count[:, None])
    objs = list(map(SceneObject,
                    np.array(SHAPES, dtype=object)[arrays["shape"][rows, cols]].tolist(),
                    np.array(tuple(COLOURS), dtype=object)[arrays["colour"][rows, cols]].tolist(),
                    np.array(SIZES, dtype=object)[arrays["size"][rows, cols]].tolist(),
                    arrays["x"][rows, cols].tolist(), arrays["y"][rows, cols].tolist()))
    starts = np.concatenate([[0], np.cumsum(count)[:-1]]).tolist()
    return [tuple(objs[s:s + c]) for s, c in zip(starts, count.tolist())]


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
    rows = arr[first]
    width = (rows.shape[1] - 2) // 3
    dcodes = (rows[:, 1:1 + 3 * width:3] + 1) * 64 + (rows[:, 2:2 + 3 * width:3] + 1) * 8 \
        + (rows[:, 3:3 + 3 * width:3] + 1)
    table = {}
    for code in np.unique(dcodes).tolist():
        s, c, z = code // 64 - 1, (code // 8) % 8 - 1, code % 8 - 1
        table[code] = Description(SHAPES[s] if s >= 0 else None,
                                  colour_names[c] if c >= 0 else None, SIZES[z] if z >= 0 else None)
    rels = [RELATIONS[r] if r >= 0 else None for r in rows[:, -1].tolist()]
    decoded = [Meaning(tuple(map(table.__getitem__, dc[:k])), rel)
               for dc, k, rel in zip(dcodes.tolist(), rows[:, 0].tolist(), rels)]
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
    # float64, like the scalar predicate in satisfies(), so both agree at the margin exactly
    packed["x"], packed["y"] = packed["x"].astype(np.float64), packed["y"].astype(np.float64)
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
