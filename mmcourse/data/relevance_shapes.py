"""The shapes scenes' relevance rule: exact graded relevance and counterfactual captions.

:class:`ShapesRelevance` wraps the shapes modules (:mod:`~mmcourse.data.shapes_semantics`,
:mod:`~mmcourse.data.shapes_text`, :mod:`~mmcourse.data.shapes_probe`) behind the
:class:`~mmcourse.data.relevance.RelevanceRule` interface, so nothing outside ``mmcourse.data``
needs to know a dataset is the shapes scenes.

(It is not named ``shapes_*.py`` on purpose: the generated data's cache key hashes every
``shapes*.py`` file, and this rule does not change the data.)
"""
from __future__ import annotations

from .relevance import RelevanceRule
from .shapes_probe import hard_negatives, scene_twins, word_order_probe
from .shapes_semantics import relevance_matrix
from .shapes_text import parse_caption
from .shapes_vocab import Meaning


class ShapesRelevance(RelevanceRule):
    """Scenes are tuples of SceneObject, meanings structured captions (:class:`Meaning`).

    An image is relevant to a caption when it satisfies it; the grade in (0, 1] is the fraction
    of the image's objects the caption describes. New query text is parsed with
    :func:`~mmcourse.data.shapes_text.parse_caption`.
    """

    name = "shapes"
    structured = True

    def description_scene(self, dataset, caption_idx, image_idx):
        return relevance_matrix([dataset.meanings[j] for j in caption_idx.tolist()],
                                [dataset.scenes[k] for k in image_idx.tolist()])

    def parse_query(self, dataset, text):
        return parse_caption(text)

    def query_scene(self, dataset, meaning, image_idx):
        return relevance_matrix([meaning], [dataset.scenes[k] for k in image_idx.tolist()])[0]

    def counterfactuals(self, dataset) -> tuple:
        structured = (dataset.scenes is not None and bool(dataset.meanings)
                      and isinstance(dataset.meanings[0], Meaning))
        return self.COUNTERFACTUALS if structured else ()

    def _check(self, dataset, capability):
        if not self.has_counterfactuals(dataset):
            raise self._none(dataset, capability)

    def hard_negatives(self, dataset, caption_indices, rng):
        self._check(dataset, "hard_negatives")
        return hard_negatives(dataset, caption_indices, rng)

    def scene_twins(self, dataset, image_indices, rng, **options):
        self._check(dataset, "scene_twins")
        return scene_twins(dataset, image_indices, rng, **options)

    def word_order_probe(self, dataset, n_pairs=500, seed=0):
        self._check(dataset, "word_order_probe")
        return word_order_probe(dataset, n_pairs=n_pairs, seed=seed)


__all__ = ["ShapesRelevance"]
