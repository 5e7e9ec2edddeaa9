"""The moving-shapes world: objects that move, what a motion caption means, and when a clip fits it.

A **clip scene** is a tuple of :class:`MovingObject` (shape, colour, start centre, direction,
speed). A **motion meaning** is a :class:`MotionMeaning`: one or two :class:`Clause` s, each a
description of an object (shape and/or colour) and the direction it moves (``"still"`` included).
A clip satisfies a meaning when its clauses describe *distinct* objects of the clip, each moving
as said; the grade in (0, 1] is the fraction of the clip's objects the caption describes (as for
the still shapes scenes). Time reversal swaps every direction (left ↔ right, up ↔ down).
"""
from __future__ import annotations

import itertools
import re
from typing import NamedTuple, Optional

import numpy as np

from .shapes_vocab import COLOURS, SHAPES

DIRECTIONS = ("left", "right", "up", "down", "still")
#: the direction a clip played backwards shows
REVERSED = {"left": "right", "right": "left", "up": "down", "down": "up", "still": "still"}
#: (dx, dy) per frame for a unit speed; y grows downwards, as in images
STEP = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), "still": (0, 0)}
#: the verb phrases of each direction; phrase i of a direction and phrase i of its reverse are
#: twins (same words but the direction), which the direction probe uses
PHRASES = {
    "left": ("moves left", "moves to the left"),
    "right": ("moves right", "moves to the right"),
    "up": ("moves up", "rises"),
    "down": ("moves down", "falls"),
    "still": ("stays still", "does not move"),
}
SPEEDS = (1.5, 2.5)  # pixels per frame for clips of 8 frames at 32 px (scaled for other sizes)
MAX_OBJECTS = 2


class MovingObject(NamedTuple):
    """One object of a clip: its centre at frame 0 in pixels, and how it moves each frame."""
    shape: str
    colour: str
    x: float
    y: float
    direction: str
    speed: float

    def reversed(self, frames: int) -> "MovingObject":
        """The same object in the clip played backwards (starts where this one ends)."""
        dx, dy = STEP[self.direction]
        t = (frames - 1) * self.speed
        return self._replace(x=self.x + dx * t, y=self.y + dy * t,
                             direction=REVERSED[self.direction])

    def centre(self, frame: int) -> tuple[float, float]:
        dx, dy = STEP[self.direction]
        return self.x + dx * self.speed * frame, self.y + dy * self.speed * frame


class Clause(NamedTuple):
    """What a caption says about one object: shape and/or colour (None = unspecified), and its motion."""
    shape: Optional[str]
    colour: Optional[str]
    direction: str

    def matches(self, obj: MovingObject) -> bool:
        return ((self.shape is None or self.shape == obj.shape)
                and (self.colour is None or self.colour == obj.colour)
                and self.direction == obj.direction)


class MotionMeaning(NamedTuple):
    """One or two clauses; two clauses describe two different objects ("... while ...")."""
    clauses: tuple

    def reversed(self) -> "MotionMeaning":
        return MotionMeaning(tuple(c._replace(direction=REVERSED[c.direction]) for c in self.clauses))


def satisfies(scene, meaning: MotionMeaning) -> bool:
    """True when distinct objects of ``scene`` fit the clauses of ``meaning``."""
    clauses = meaning.clauses
    for objs in itertools.permutations(scene, len(clauses)):
        if all(c.matches(o) for c, o in zip(clauses, objs)):
            return True
    return False


def grade(scene, meaning: MotionMeaning) -> float:
    """0, or the fraction of the clip's objects the meaning describes when the clip satisfies it."""
    return len(meaning.clauses) / len(scene) if satisfies(scene, meaning) else 0.0


def relevance_matrix(meanings, scenes) -> np.ndarray:
    """Graded relevance float32 (len(meanings), len(scenes)).

    Vectorised over scenes by the attributes of their objects: a clause is matched by an object
    code (shape, colour, direction), so a one-clause meaning needs one matching object and a
    two-clause meaning two different ones.
    """
    nm, ns = len(meanings), len(scenes)
    out = np.zeros((nm, ns), dtype=np.float32)
    if nm == 0 or ns == 0:
        return out
    shape = np.full((ns, MAX_OBJECTS), -1)
    colour = np.full((ns, MAX_OBJECTS), -1)
    direction = np.full((ns, MAX_OBJECTS), -1)
    count = np.zeros(ns)
    shape_code = {s: i for i, s in enumerate(SHAPES)}
    colour_code = {c: i for i, c in enumerate(COLOURS)}
    dir_code = {d: i for i, d in enumerate(DIRECTIONS)}
    for k, scene in enumerate(scenes):
        count[k] = len(scene)
        for o, obj in enumerate(scene):
            shape[k, o], colour[k, o] = shape_code[obj.shape], colour_code[obj.colour]
            direction[k, o] = dir_code[obj.direction]

    def match(c: Clause) -> np.ndarray:  # (ns, MAX_OBJECTS) bool
        m = direction == dir_code[c.direction]
        if c.shape is not None:
            m &= shape == shape_code[c.shape]
        if c.colour is not None:
            m &= colour == colour_code[c.colour]
        return m

    for j, meaning in enumerate(meanings):
        cl = meaning.clauses
        if len(cl) == 1:
            ok = match(cl[0]).any(axis=1)
        else:
            a, b = match(cl[0]), match(cl[1])
            ok = (a[:, 0] & b[:, 1]) | (a[:, 1] & b[:, 0])
        out[j] = np.where(ok, len(cl) / count, 0.0)
    return out


def describe_object(shape: Optional[str], colour: Optional[str]) -> str:
    """"a red circle", "a circle", "a red shape"."""
    noun = shape if shape is not None else "shape"
    return f"a {colour} {noun}" if colour is not None else f"a {noun}"


def clause_text(clause: Clause, phrase: int = 0) -> str:
    verb = PHRASES[clause.direction][phrase % len(PHRASES[clause.direction])]
    return f"{describe_object(clause.shape, clause.colour)} {verb}"


def caption_text(meaning: MotionMeaning, phrases=(0, 0)) -> str:
    """The caption of a meaning, with verb phrase ``phrases[i]`` for clause i."""
    parts = [clause_text(c, p) for c, p in zip(meaning.clauses, phrases)]
    return " while ".join(parts)


_PHRASE_TO_DIR = sorted(((p, d) for d, ps in PHRASES.items() for p in ps), key=lambda t: -len(t[0]))
_CLAUSE = re.compile(r"^a (?:(?P<colour>" + "|".join(COLOURS) + r") )?(?P<noun>"
                     + "|".join(SHAPES) + r"|shape|object) (?P<verb>.+)$")


def parse_caption(text: str) -> Optional[MotionMeaning]:
    """The meaning of a motion caption in the course's grammar, or None (e.g. "a red circle moves
    left while a blue square stays still")."""
    if not isinstance(text, str):
        return None
    words = " ".join(text.lower().replace(",", " ").replace(".", " ").split())
    clauses = []
    for part in words.split(" while "):
        m = _CLAUSE.match(part.strip())
        if m is None:
            return None
        direction = next((d for p, d in _PHRASE_TO_DIR if m.group("verb") == p), None)
        if direction is None:
            return None
        noun = m.group("noun")
        shape = None if noun in ("shape", "object") else noun
        if shape is None and m.group("colour") is None:
            return None
        clauses.append(Clause(shape, m.group("colour"), direction))
    if not 1 <= len(clauses) <= MAX_OBJECTS:
        return None
    return MotionMeaning(tuple(clauses))


__all__ = ["DIRECTIONS", "REVERSED", "PHRASES", "SPEEDS", "MovingObject", "Clause", "MotionMeaning",
           "satisfies", "grade", "relevance_matrix", "caption_text", "parse_caption"]


_SWAP = {"left": "right", "right": "left", "up": "down", "down": "up", "rises": "falls",
         "falls": "rises"}
_SWAP_RE = re.compile(r"\b(" + "|".join(_SWAP) + r")\b")


def direction_twin(caption: str) -> str:
    """The caption with every direction swapped, same words otherwise ("moves left" → "moves right")."""
    return _SWAP_RE.sub(lambda m: _SWAP[m.group(1)], caption)
