"""The vocabulary of the shapes scenes: shapes, colours, sizes, relations and the value types.

A **scene** (one image) is a tuple of :class:`SceneObject` — shape, colour, size and the centre
``(x, y)`` as fractions of the image width/height (y grows downwards, as in images).
A **meaning** (one caption) is a :class:`Meaning`: a tuple of :class:`Description` (each attribute
may be ``None`` = unspecified) and an optional relation between description 0 and description 1.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross", "diamond")
#: well separated RGB colours (hue differs by >= 30 degrees or in brightness)
COLOURS = {
    "red": (228, 30, 36),
    "green": (40, 190, 60),
    "blue": (40, 90, 245),
    "yellow": (245, 230, 40),
    "purple": (160, 60, 220),
    "orange": (255, 140, 0),
    "cyan": (30, 225, 235),
}
SIZES = ("small", "large")
RELATIONS = ("left_of", "right_of", "above", "below")
#: the converse of each relation: ``a left_of b`` iff ``b right_of a``
CONVERSE = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}
#: a relation holds only when the centres differ by at least this fraction of the image side
RELATION_MARGIN = 0.15
MAX_OBJECTS = 3

SHAPE_CODE = {s: i for i, s in enumerate(SHAPES)}
COLOUR_CODE = {c: i for i, c in enumerate(COLOURS)}
SIZE_CODE = {s: i for i, s in enumerate(SIZES)}
RELATION_CODE = {r: i for i, r in enumerate(RELATIONS)}
COLOUR_NAMES = tuple(COLOURS)


class SceneObject(NamedTuple):
    """One object of an image; ``x``, ``y`` is its centre as a fraction of the image side."""
    shape: str
    colour: str
    size: str
    x: float
    y: float


class Description(NamedTuple):
    """What a caption says about one object; ``None`` means "not specified"."""
    shape: Optional[str] = None
    colour: Optional[str] = None
    size: Optional[str] = None

    def matches(self, obj: SceneObject) -> bool:
        return ((self.shape is None or self.shape == obj.shape)
                and (self.colour is None or self.colour == obj.colour)
                and (self.size is None or self.size == obj.size))


class Meaning(NamedTuple):
    """The structured content of a caption: object descriptions plus an optional relation
    (``relation`` holds between ``objects[0]`` and ``objects[1]``)."""
    objects: tuple
    relation: Optional[str] = None


def relation_holds(relation: str, ax, ay, bx, by):
    """Whether ``a <relation> b`` holds for centres ``(ax, ay)``, ``(bx, by)`` (scalars or arrays).

    The same predicate is used to write captions and to judge them, with a margin of
    ``RELATION_MARGIN`` so that "left of" is never a matter of one pixel.
    """
    if relation == "left_of":
        return np.asarray(bx) - np.asarray(ax) >= RELATION_MARGIN
    if relation == "right_of":
        return np.asarray(ax) - np.asarray(bx) >= RELATION_MARGIN
    if relation == "above":
        return np.asarray(by) - np.asarray(ay) >= RELATION_MARGIN
    if relation == "below":
        return np.asarray(ay) - np.asarray(by) >= RELATION_MARGIN
    raise ValueError(f"relation: expected one of {RELATIONS}, got {relation!r}")


def relation_holds_scalar(relation: str, ax: float, ay: float, bx: float, by: float) -> bool:
    """:func:`relation_holds` for plain floats (no numpy overhead; used in per-pair loops)."""
    if relation == "left_of":
        return bx - ax >= RELATION_MARGIN
    if relation == "right_of":
        return ax - bx >= RELATION_MARGIN
    if relation == "above":
        return by - ay >= RELATION_MARGIN
    if relation == "below":
        return ay - by >= RELATION_MARGIN
    raise ValueError(f"relation: expected one of {RELATIONS}, got {relation!r}")


def scene_key(scene) -> tuple:
    """A hashable content key of a scene (objects sorted), used to deduplicate scenes."""
    return tuple(sorted((o.shape, o.colour, o.size, round(float(o.x), 4), round(float(o.y), 4))
                        for o in scene))
