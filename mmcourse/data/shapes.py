"""Shapes scenes: the public entry point (everything is re-exported here).

Every caption of the shapes dataset keeps its :class:`Meaning` and every image its scene (a tuple
of :class:`SceneObject`), so relevance is known for *any* caption × image pair. The pieces:

* ``shapes_vocab`` — shapes, colours, sizes, relations and the value types;
* ``shapes_semantics`` — :func:`satisfies`, :func:`relevance`, :func:`relevance_matrix`;
* ``shapes_text`` — :func:`write_caption` and its inverse :func:`parse_caption`;
* ``shapes_probe`` — :func:`hard_negatives`, :func:`scene_twins` and :func:`word_order_probe`
  (counterfactual captions);
* ``shapes_render`` / ``shapes_make`` — rendering and :func:`make_shapes` (generation, caching).
"""
from __future__ import annotations

from .shapes_make import GENERATOR_VERSION, LABEL_NAMES, make_shapes
from .shapes_probe import hard_negative_meaning, hard_negatives, scene_twins, word_order_probe
from .shapes_semantics import (pack_meanings, pack_scenes, relevance, relevance_matrix, satisfies,
                               unpack_meanings, unpack_scenes)
from .shapes_text import parse_caption, write_caption
from .shapes_vocab import (COLOURS, RELATION_MARGIN, RELATIONS, SHAPES, SIZES, Description,
                           Meaning, SceneObject, relation_holds, scene_key)

__all__ = ["SHAPES", "COLOURS", "SIZES", "RELATIONS", "RELATION_MARGIN", "SceneObject",
           "Description", "Meaning", "satisfies", "relevance", "relevance_matrix", "parse_caption",
           "write_caption", "hard_negatives", "hard_negative_meaning", "scene_twins", "word_order_probe",
           "make_shapes", "relation_holds", "scene_key", "pack_scenes", "unpack_scenes",
           "pack_meanings", "unpack_meanings", "GENERATOR_VERSION", "LABEL_NAMES"]
