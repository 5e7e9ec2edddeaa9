"""Relevance rules: how a dataset judges a description (caption) against a scene (image).

A :class:`RelevanceRule` is a strategy object chosen by the data module that builds a dataset and
injected into :class:`~mmcourse.data.CaptionDataset` (``relevance_rule=``). The dataset reduces the
relevance between *any* two modalities to the rule's two primitives, by the items' roles
("scene" / "description") and contents (the image / caption each item carries):

* :meth:`RelevanceRule.description_scene` — captions × images, graded (float32);
* :meth:`RelevanceRule.scene_scene` — images × images (shared labels by default).

Rules shipped here: :class:`PairingRelevance` (no structure: a caption fits its own image only —
COCO, Flickr8k, Karpathy), :class:`ClassRelevance` (scenes and meanings are class ids — digits).
The shapes scenes' rule, :class:`~mmcourse.data.relevance_shapes.ShapesRelevance`, lives next to
the shapes modules and is found by name (``"shapes"``) only when asked for.

A rule may also know *counterfactual captions* (hard negatives, scene twins, the word-order
probe); the base class raises a ValueError naming the capability and the dataset.
"""
from __future__ import annotations

import importlib

import numpy as np

from .._validation import describe

#: what a dataset without counterfactual captions says when asked for them
NO_COUNTERFACTUALS = ("{capability}: dataset {name!r} has no counterfactual captions (they need "
                      "structured captions, as the shapes scenes have)")


class RelevanceRule:
    """Base rule = pairing: a caption is relevant to its own image only (0/1).

    Subclasses override :meth:`description_scene` (and :meth:`parse_query` / :meth:`query_scene`
    to judge new query text), and the counterfactual methods where they have them. Every method
    takes the dataset first; indices are int64 arrays already validated by the dataset.
    """

    #: the short name stored in ``dataset.relevance_rule``
    name = "pairing"
    #: True when the rule needs ``scenes`` and ``meanings`` (structured content)
    structured = False

    # ------------------------------------------------------------ the two primitives
    def description_scene(self, dataset, caption_idx: np.ndarray, image_idx: np.ndarray) -> np.ndarray:
        """Relevance (len(caption_idx), len(image_idx)) float32 of images to captions."""
        return (dataset.caption_image[caption_idx][:, None] == image_idx[None, :]).astype(np.float32)

    def scene_scene(self, dataset, query_images: np.ndarray, item_images: np.ndarray) -> np.ndarray:
        """Binary relevance (nq, ni) float32 between images: 1 when they share a label (the
        hashing protocol); without labels only the same image counts."""
        if dataset.labels is None:
            return (query_images[:, None] == item_images[None, :]).astype(np.float32)
        lq = dataset.labels[query_images].astype(np.float32)
        li = dataset.labels[item_images].astype(np.float32)
        return (lq @ li.T > 0).astype(np.float32)

    def knows_scene_scene(self, dataset) -> bool:
        """True when image ↔ image relevance is more than identity (the dataset has labels)."""
        return dataset.labels is not None

    # ------------------------------------------------------------ new queries
    def parse_query(self, dataset, text: str):
        """The meaning of a new query text (not a caption of the dataset), or None if unknown."""
        return None

    def query_scene(self, dataset, meaning, image_idx: np.ndarray) -> np.ndarray:
        """Relevance (len(image_idx),) float32 of images to a meaning from :meth:`parse_query`."""
        raise ValueError(f"meaning: rule {self.name!r} cannot judge new queries, got {describe(meaning)}")

    # ------------------------------------------------------------ counterfactuals
    #: the counterfactual capabilities a rule may have (the methods below)
    COUNTERFACTUALS = ("hard_negatives", "scene_twins", "word_order_probe")

    def counterfactuals(self, dataset) -> tuple:
        """The counterfactual methods this rule can serve for ``dataset`` (names from
        :attr:`COUNTERFACTUALS`); empty when it writes none."""
        return ()

    def has_counterfactuals(self, dataset) -> bool:
        """True when the rule can write counterfactual captions for ``dataset``."""
        return bool(self.counterfactuals(dataset))

    def _none(self, dataset, capability: str):
        return ValueError(NO_COUNTERFACTUALS.format(capability=capability, name=dataset.name))

    def hard_negatives(self, dataset, caption_indices, rng) -> list:
        """One counterfactual caption (str) per caption index that its own image does not satisfy."""
        raise self._none(dataset, "hard_negatives")

    def scene_twins(self, dataset, image_indices, rng, **options) -> tuple:
        """``(rows, positives, twins)``: relational captions and their same-words twins."""
        raise self._none(dataset, "scene_twins")

    def word_order_probe(self, dataset, n_pairs: int = 500, seed: int = 0) -> dict:
        """Caption pairs with the same bag of words but different meaning."""
        raise self._none(dataset, "word_order_probe")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PairingRelevance(RelevanceRule):
    """No structure (COCO, Flickr8k, Karpathy): a caption is relevant to its own image only."""

    name = "pairing"


class ClassRelevance(RelevanceRule):
    """Scenes and meanings are class ids (digits): a caption of a seven fits every seven.

    ``parse`` (optional) maps a new query text to a class id or None, e.g. "a handwritten seven"
    -> 7; without it new queries are not judged.
    """

    name = "class"
    structured = True

    def __init__(self, parse=None):
        if parse is not None and not callable(parse):
            raise ValueError(f"parse: expected a function text -> class id or None, got {describe(parse)}")
        self.parse = parse

    def description_scene(self, dataset, caption_idx, image_idx):
        cap_class = np.asarray(dataset.meanings)[caption_idx]
        return (cap_class[:, None] == np.asarray(dataset.scenes)[image_idx][None, :]).astype(np.float32)

    def parse_query(self, dataset, text):
        return None if self.parse is None else self.parse(text)

    def query_scene(self, dataset, meaning, image_idx):
        return (np.asarray(dataset.scenes)[image_idx] == meaning).astype(np.float32)

    def __repr__(self) -> str:
        return f"ClassRelevance(parse={getattr(self.parse, '__name__', self.parse)})"


#: rules known by name: a class, or "module:attribute" imported on first use (so that this module,
#: and dataset.py, import no data source's internals)
_RULES: dict = {"shapes": "mmcourse.data.relevance_shapes:ShapesRelevance",
                "class": ClassRelevance, "pairing": PairingRelevance}


def register_rule(name: str, factory) -> None:
    """Make ``relevance_rule=name`` build ``factory()`` (a RelevanceRule class or a "module:attr")."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty rule name, got {describe(name)}")
    _RULES[name] = factory


def rule_names() -> tuple[str, ...]:
    """The names accepted by ``relevance_rule=``."""
    return tuple(_RULES)


def resolve_rule(spec, arg: str = "relevance_rule") -> RelevanceRule:
    """A RelevanceRule from a rule object or its name (``"shapes"``, ``"class"``, ``"pairing"``)."""
    if isinstance(spec, RelevanceRule):
        return spec
    if isinstance(spec, str) and spec in _RULES:
        factory = _RULES[spec]
        if isinstance(factory, str):
            module, attr = factory.split(":")
            factory = getattr(importlib.import_module(module), attr)
        return factory()
    names = ", ".join(repr(n) for n in _RULES)
    raise ValueError(f"{arg}: expected a RelevanceRule or one of {names} (or None), got {describe(spec)}")


__all__ = ["RelevanceRule", "PairingRelevance", "ClassRelevance", "register_rule", "rule_names",
           "resolve_rule", "NO_COUNTERFACTUALS"]
