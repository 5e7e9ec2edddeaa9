"""The moving-shapes clips' relevance rule: exact graded relevance of motion captions to clips.

:class:`MotionRelevance` judges a caption's :class:`~mmcourse.data.video_world.MotionMeaning`
against a clip's scene (objects and their motions) with
:func:`~mmcourse.data.video_world.relevance_matrix`, and parses new query text in the motion
grammar, so search, metrics and widgets stay unaware that they serve clips.
"""
from __future__ import annotations

from .relevance import RelevanceRule
from .video_world import parse_caption, relevance_matrix


class MotionRelevance(RelevanceRule):
    """Scenes are tuples of MovingObject, meanings MotionMeaning; graded like the shapes scenes."""

    name = "moving_shapes"
    structured = True

    def description_scene(self, dataset, caption_idx, image_idx):
        return relevance_matrix([dataset.meanings[j] for j in caption_idx.tolist()],
                                [dataset.scenes[k] for k in image_idx.tolist()])

    def parse_query(self, dataset, text):
        return parse_caption(text)

    def query_scene(self, dataset, meaning, image_idx):
        return relevance_matrix([meaning], [dataset.scenes[k] for k in image_idx.tolist()])[0]


__all__ = ["MotionRelevance"]
