"""``CaptionDataset``: images, captions, the caption→image map, splits, labels and relevance.

Every data source of the course (the generated shapes scenes, scikit-learn's digits, COCO,
Flickr8k, Karpathy splits) is loaded into this one container, so every model, metric and
widget takes the same object.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import as_array, check_images, describe

SPLITS = ("train", "val", "test")


@dataclass
class CaptionDataset:
    """Images with captions.

    Attributes
    ----------
    images : uint8 array (n, H, W, 3)
    captions : list of m strings
    caption_image : int64 array (m,), the image each caption describes
    split : array (n,) of "train" / "val" / "test"
    labels : multi-hot uint8 array (n, L) or None; ``label_names`` its L column names
    image_ids : list of n strings (file names, or generated ids)
    scenes, meanings : structured content: ``scenes[i]`` describes image i, ``meanings[j]`` what
        caption j asserts; they make relevance exact for any caption × image
    name : a short name shown in reprs and plots
    info : free-form facts about the source (skipped lines, seed, generator version, ...)
    relevance_rule : how scenes and meanings give relevance: ``"shapes"`` (scenes are tuples of
        objects, meanings structured captions; graded) or ``"class"`` (both are class ids, e.g.
        digits: a caption of a seven is satisfied by every seven). Defaults to ``"shapes"`` when
        scenes and meanings are given.
    """

    images: np.ndarray
    captions: list
    caption_image: np.ndarray
    split: np.ndarray
    labels: np.ndarray | None = None
    label_names: list | None = None
    image_ids: list | None = None
    scenes: list | None = None
    meanings: list | None = None
    name: str = "dataset"
    info: dict = field(default_factory=dict)
    relevance_rule: str | None = None

    def __post_init__(self):
        self.images = check_images(self.images, "images")
        n = len(self.images)
        if isinstance(self.captions, np.ndarray):
            self.captions = self.captions.tolist()
        self.captions = [str(c) for c in self.captions]
        m = len(self.captions)
        self.caption_image = as_array(self.caption_image, "caption_image", ndim=1,
                                      allow_empty=(m == 0)).astype(np.int64)
        if len(self.caption_image) != m:
            raise ValueError(f"caption_image: expected length {m} (one per caption), "
                             f"got {len(self.caption_image)}")
        if m and (self.caption_image.min() < 0 or self.caption_image.max() >= n):
            raise ValueError(f"caption_image: expected indices in [0, {n - 1}], got range "
                             f"[{self.caption_image.min()}, {self.caption_image.max()}]")
        self.split = np.asarray(self.split).astype("<U5")
        if self.split.shape != (n,):
            raise ValueError(f"split: expected shape ({n},) (one per image), got {self.split.shape}")
        bad = set(np.unique(self.split)) - set(SPLITS)
        if bad:
            raise ValueError(f"split: expected values in {SPLITS}, got {sorted(bad)}")
        if self.labels is not None:
            self.labels = np.asarray(self.labels).astype(np.uint8)
            if self.labels.ndim != 2 or len(self.labels) != n:
                raise ValueError(f"labels: expected a multi-hot array of shape ({n}, L), "
                                 f"got {describe(self.labels)}")
            if self.label_names is not None and len(self.label_names) != self.labels.shape[1]:
                raise ValueError(f"label_names: expected {self.labels.shape[1]} names, "
                                 f"got {len(self.label_names)}")
        if self.image_ids is None:
            self.image_ids = [f"{self.name}-{i:06d}" for i in range(n)]
        self.image_ids = list(self.image_ids)
        if len(self.image_ids) != n:
            raise ValueError(f"image_ids: expected {n} ids, got {len(self.image_ids)}")
        for attr, length in (("scenes", n), ("meanings", m)):
            value = getattr(self, attr)
            if value is not None and len(value) != length:
                raise ValueError(f"{attr}: expected {length} entries, got {len(value)}")
        if self.relevance_rule not in (None, "shapes", "class"):
            raise ValueError(f"relevance_rule: expected 'shapes', 'class' or None, "
                             f"got {self.relevance_rule!r}")
        if self.relevance_rule is None and self.has_structure:
            self.relevance_rule = "shapes"

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_images(self) -> int:
        return len(self.images)

    @property
    def n_captions(self) -> int:
        return len(self.captions)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.images.shape[1:3])

    @property
    def has_structure(self) -> bool:
        """True when relevance is known for any caption × image (shapes), not only pairs."""
        return self.scenes is not None and self.meanings is not None

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={int((self.split == s).sum())}" for s in SPLITS
                           if (self.split == s).any())
        h, w = self.image_size
        labels = f", {self.labels.shape[1]} labels" if self.labels is not None else ""
        return (f"CaptionDataset({self.name!r}: {self.n_images} images {h}x{w}, "
                f"{self.n_captions} captions{labels}; {counts})")

    def captions_of(self, image_index: int) -> list[str]:
        """The captions written for one image."""
        return [self.captions[j] for j in np.flatnonzero(self.caption_image == image_index)]

    def image_captions(self) -> list[np.ndarray]:
        """For each image, the indices of its own captions."""
        order = np.argsort(self.caption_image, kind="stable")
        bounds = np.searchsorted(self.caption_image[order], np.arange(self.n_images + 1))
        return [order[bounds[i]:bounds[i + 1]] for i in range(self.n_images)]

    # ------------------------------------------------------------------ subsets
    def subset(self, split=None, image_indices=None) -> "CaptionDataset":
        """The images of one split (or of given indices) with their captions, re-indexed."""
        if split is not None:
            if split not in SPLITS:
                raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
            keep = np.flatnonzero(self.split == split)
        elif image_indices is not None:
            keep = as_array(image_indices, "image_indices", ndim=1, allow_empty=True).astype(np.int64)
            if keep.size and (keep.min() < 0 or keep.max() >= self.n_images):
                raise ValueError(f"image_indices: expected indices in [0, {self.n_images - 1}], "
                                 f"got range [{keep.min()}, {keep.max()}]")
        else:
            raise ValueError("subset: expected split= or image_indices=, got neither")
        new_index = np.full(self.n_images, -1, dtype=np.int64)
        new_index[keep] = np.arange(len(keep))
        cap_keep = np.flatnonzero(new_index[self.caption_image] >= 0)
        # keep the caption order grouped as in the parent
        return CaptionDataset(
            images=self.images[keep],
            captions=[self.captions[j] for j in cap_keep],
            caption_image=new_index[self.caption_image[cap_keep]],
            split=self.split[keep],
            labels=None if self.labels is None else self.labels[keep],
            label_names=self.label_names,
            image_ids=[self.image_ids[i] for i in keep],
            scenes=None if self.scenes is None else [self.scenes[i] for i in keep],
            meanings=None if self.meanings is None else [self.meanings[j] for j in cap_keep],
            name=self.name if split is None else f"{self.name}/{split}",
            info=dict(self.info),
            relevance_rule=self.relevance_rule,
        )

    # ------------------------------------------------------------------ relevance
    def _indices(self, idx, total: int, name: str) -> np.ndarray:
        if idx is None:
            return np.arange(total)
        arr = np.atleast_1d(as_array(idx, name, allow_empty=True)).astype(np.int64)
        if arr.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D list of indices, got shape {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= total):
            raise ValueError(f"{name}: expected indices in [0, {total - 1}], got range "
                             f"[{arr.min()}, {arr.max()}]")
        return arr

    def text_image_relevance(self, caption_idx=None, image_idx=None, graded: bool = True) -> np.ndarray:
        """Relevance of images to captions, shape (len(caption_idx), len(image_idx)), float32.

        Shapes dataset: exact, from the structured meaning. An image is relevant when it satisfies
        the caption; the grade (in (0, 1]) is the fraction of the image's objects the caption
        accounts for, so an image showing exactly what the caption says ranks highest in NDCG.
        ``graded=False`` gives 0/1. Class-structured datasets (digits): every image of the
        caption's class is relevant (1). Other datasets: only the caption's own image is relevant.
        """
        c = self._indices(caption_idx, self.n_captions, "caption_idx")
        i = self._indices(image_idx, self.n_images, "image_idx")
        if self.has_structure and self.relevance_rule == "class":
            cap_class = np.asarray(self.meanings)[c]
            rel = (cap_class[:, None] == np.asarray(self.scenes)[i][None, :]).astype(np.float32)
        elif self.has_structure:
            from .shapes import relevance_matrix

            rel = relevance_matrix([self.meanings[j] for j in c], [self.scenes[k] for k in i])
        else:
            rel = (self.caption_image[c][:, None] == i[None, :]).astype(np.float32)
        rel = np.asarray(rel, dtype=np.float32)
        return (rel > 0).astype(np.float32) if not graded else rel

    def image_text_relevance(self, image_idx=None, caption_idx=None, graded: bool = False) -> np.ndarray:
        """Relevance of captions to image queries (n_images', n_captions').

        Default ``graded=False`` is the standard image→text protocol of the papers: only the
        image's own captions count. ``graded=True`` uses the structured relevance where known.
        """
        c = self._indices(caption_idx, self.n_captions, "caption_idx")
        i = self._indices(image_idx, self.n_images, "image_idx")
        if graded:
            return self.text_image_relevance(c, i, graded=True).T.copy()
        return (i[:, None] == self.caption_image[c][None, :]).astype(np.float32)

    def image_image_relevance(self, query_idx=None, item_idx=None) -> np.ndarray:
        """Binary relevance between images: 1 when they share at least one label.

        The standard protocol of the hashing literature. Without labels only identity counts.
        """
        q = self._indices(query_idx, self.n_images, "query_idx")
        i = self._indices(item_idx, self.n_images, "item_idx")
        if self.labels is None:
            return (q[:, None] == i[None, :]).astype(np.float32)
        lq = self.labels[q].astype(np.float32)
        li = self.labels[i].astype(np.float32)
        return (lq @ li.T > 0).astype(np.float32)
