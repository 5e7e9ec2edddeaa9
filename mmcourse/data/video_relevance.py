"""The moving-shapes clips' relevance rule: exact graded relevance of motion captions to clips.

:class:`MotionRelevance` judges a caption's :class:`~mmcourse.data.video_world.MotionMeaning`
against a clip's scene (objects and their motions) with
:func:`~mmcourse.data.video_world.relevance_matrix`, and parses new query text in the motion
grammar, so search, metrics and widgets stay unaware that they serve clips. Its counterfactual
captions are the direction-swapped twins (``hard_negatives``), which training asks for like the
shapes scenes' colour and relation swaps.
"""
from __future__ import annotations

from .relevance import RelevanceRule
from .video_world import direction_twin, grade, parse_caption, relevance_matrix


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

    def counterfactuals(self, dataset) -> tuple:
        return ("hard_negatives",)

    def hard_negatives(self, dataset, caption_indices, rng):
        """Each caption's direction-swapped twin ("moves left" → "moves right", same words) where
        its own clip does not fit the twin, else "" (no counterfactual: a still clip's caption,
        or a twin that another object of the clip satisfies). ``rng`` is not used."""
        out = []
        for j in caption_indices:
            text = dataset.captions[int(j)]
            twin = direction_twin(text)
            meaning = parse_caption(twin) if twin != text else None
            fits = meaning is None or grade(dataset.scenes[int(dataset.caption_image[int(j)])], meaning) > 0
            out.append("" if fits else twin)
        return out


__all__ = ["MotionRelevance"]
