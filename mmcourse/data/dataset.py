"""``CaptionDataset``: items carrying named modalities, their splits, labels and relevance.

Every data source of the course (the generated shapes scenes, scikit-learn's digits, COCO,
Flickr8k, Karpathy splits) is loaded into this one container, so every model, metric and
widget takes the same object. A dataset is a set of scenes (its images) carrying named
modalities: ``"image"`` and ``"text"`` always, plus any attached :class:`Modality` (e.g.
``"audio"``: spoken captions). Relevance between any two modalities comes from one
:class:`~mmcourse.data.relevance.RelevanceRule`, injected by the data module that builds the
dataset; this module imports no data source's internals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import as_array, check_choice, check_images, check_int, describe
from .modalities import BUILTIN, Modality, check_against, get_attach, take_items
from .relevance import PairingRelevance, RelevanceRule, resolve_rule

SPLITS = ("train", "val", "test")


def _norm_text(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass
class CaptionDataset:
    """Images with captions, and any extra modalities.

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
    relevance_rule : how scenes and meanings give relevance: a
        :class:`~mmcourse.data.relevance.RelevanceRule`, or a shortcut name: ``"shapes"`` (scenes
        are tuples of objects, meanings structured captions; graded), ``"class"`` (both are class
        ids, e.g. digits) or ``"pairing"``. Defaults to ``"shapes"`` when scenes and meanings are
        given. After construction this attribute holds the rule's name (``None`` without
        structure); the rule object itself is ``rule``.
    extras : attached extra modalities, name -> :class:`Modality` (use :meth:`with_modality`)
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
    relevance_rule: Any = None
    extras: dict = field(default_factory=dict)

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
        self._set_rule(self.relevance_rule)
        self._set_extras(self.extras)
        self._cache: dict = {}

    def _set_rule(self, spec) -> None:
        if spec is not None:
            rule = resolve_rule(spec, "relevance_rule")  # validates a name even without structure
        elif self.has_structure:
            rule = resolve_rule("shapes", "relevance_rule")  # the historical default
        else:
            rule = None
        if rule is None or not self.has_structure:
            # without scenes and meanings only pairing is known
            self.rule: RelevanceRule = PairingRelevance()
            self._rule_spec = spec
            self.relevance_rule = None if spec is None else (spec if isinstance(spec, str) else rule.name)
        else:
            self.rule = rule
            self._rule_spec = rule
            self.relevance_rule = rule.name

    def _set_extras(self, extras) -> None:
        if not isinstance(extras, dict):
            raise ValueError(f"extras: expected a dict name -> Modality, got {describe(extras)}")
        for key, mod in extras.items():
            if not isinstance(mod, Modality):
                raise ValueError(f"extras: expected Modality values, got {describe(mod)} for {key!r}")
            if key != mod.name:
                raise ValueError(f"extras: expected each key to be its modality's name, got key "
                                 f"{key!r} for modality {mod.name!r}")
            check_against(mod, self.n_images, self.caption_image)
        self.extras = dict(extras)

    def _replace(self, **changes) -> "CaptionDataset":
        """A shallow copy (arrays shared) with some fields changed; the rule object is kept."""
        kw = dict(images=self.images, captions=self.captions, caption_image=self.caption_image,
                  split=self.split, labels=self.labels, label_names=self.label_names,
                  image_ids=self.image_ids, scenes=self.scenes, meanings=self.meanings,
                  name=self.name, info=dict(self.info), relevance_rule=self._rule_spec,
                  extras=dict(self.extras))
        kw.update(changes)
        return CaptionDataset(**kw)

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
        """True when relevance is known for any caption × image (shapes, digits), not only pairs."""
        return self.scenes is not None and self.meanings is not None

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={int((self.split == s).sum())}" for s in SPLITS
                           if (self.split == s).any())
        h, w = self.image_size
        labels = f", {self.labels.shape[1]} labels" if self.labels is not None else ""
        extra = "".join(f", {len(mod)} {name}" for name, mod in self.extras.items())
        return (f"CaptionDataset({self.name!r}: {self.n_images} images {h}x{w}, "
                f"{self.n_captions} captions{extra}{labels}; {counts})")

    def captions_of(self, image_index: int) -> list[str]:
        """The captions written for one image."""
        return [self.captions[j] for j in np.flatnonzero(self.caption_image == image_index)]

    def image_captions(self) -> list[np.ndarray]:
        """For each image, the indices of its own captions."""
        order = np.argsort(self.caption_image, kind="stable")
        bounds = np.searchsorted(self.caption_image[order], np.arange(self.n_images + 1))
        return [order[bounds[i]:bounds[i + 1]] for i in range(self.n_images)]

    # ------------------------------------------------------------------ modalities
    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities the items carry: ``("image", "text")`` plus attached ones."""
        return BUILTIN + tuple(self.extras)

    def _check_modality(self, modality, arg: str = "modality") -> str:
        if not isinstance(modality, str) or modality not in self.modalities:
            raise ValueError(f"{arg}: expected one of the dataset's modalities {self.modalities}, "
                             f"got {describe(modality) if not isinstance(modality, str) else repr(modality)}")
        return modality

    def modality(self, name: str) -> Modality:
        """The :class:`Modality` ``name`` (built on the fly for ``"image"`` and ``"text"``)."""
        name = self._check_modality(name, "name")
        if name == "image":
            idx = np.arange(self.n_images, dtype=np.int64)
            return Modality("image", self.images, idx, "scene", idx, {})
        if name == "text":
            return Modality("text", self.captions, self.caption_image, "description",
                            np.arange(self.n_captions, dtype=np.int64), {})
        return self.extras[name]

    def get(self, modality: str):
        """The items of one modality: ``"image"`` the uint8 images (n, H, W, 3), ``"text"`` the
        captions list, an attached modality its (possibly lazy) item sequence."""
        modality = self._check_modality(modality)
        if modality == "image":
            return self.images
        if modality == "text":
            return self.captions
        return self.extras[modality].items

    def count(self, modality: str) -> int:
        """Number of items of ``modality``."""
        modality = self._check_modality(modality)
        if modality in BUILTIN:
            return self.n_images if modality == "image" else self.n_captions
        return len(self.extras[modality])

    def _content(self, modality: str, idx: np.ndarray) -> tuple[str, np.ndarray]:
        """(role, content) of items ``idx``: caption indices for descriptions, image indices for scenes."""
        if modality in BUILTIN:
            return ("scene" if modality == "image" else "description"), idx
        mod = self.extras[modality]
        return mod.role, mod.content_index[idx]

    def _scene_of(self, modality: str, idx: np.ndarray) -> np.ndarray:
        if modality == "image":
            return idx
        if modality == "text":
            return self.caption_image[idx]
        return self.extras[modality].scene_index[idx]

    def with_modality(self, name, **options) -> "CaptionDataset":
        """A NEW dataset (arrays shared, ``self`` unchanged) with one more modality attached.

        ``name``: a registered modality (its ``attach(self, **options)`` builds it; see
        :func:`mmcourse.data.modalities.register_modality`), or a ready :class:`Modality`.
        """
        if isinstance(name, Modality):
            if options:
                raise ValueError(f"options: expected none with a ready Modality, got {sorted(options)}")
            mod = name
        else:
            if isinstance(name, str) and name in BUILTIN:
                raise ValueError(f"name: {name!r} is built into every dataset; expected an extra "
                                 f"modality, got {name!r}")
            attach = get_attach(name, "name")
            mod = attach(self, **options)
            if not isinstance(mod, Modality):
                raise ValueError(f"attach: expected the attach function of {name!r} to return a "
                                 f"Modality, got {describe(mod)}")
            if mod.name != name:
                raise ValueError(f"attach: expected a Modality named {name!r}, got {mod.name!r}")
        return self._replace(extras={**self.extras, mod.name: mod})

    def without_modality(self, name: str) -> "CaptionDataset":
        """A new dataset without the attached modality ``name``."""
        name = self._check_modality(name, "name")
        if name in BUILTIN:
            raise ValueError(f"name: expected an attached modality {tuple(self.extras)}, got {name!r}")
        return self._replace(extras={k: v for k, v in self.extras.items() if k != name})

    @property
    def sample_rate(self) -> int:
        """The ``"sample_rate"`` (Hz) of the attached audio modality (first one with it in ``info``)."""
        for mod in self.extras.values():
            if "sample_rate" in mod.info:
                return mod.info["sample_rate"]
        raise ValueError(f"sample_rate: dataset {self.name!r} has no audio modality (modalities "
                         f"{self.modalities}); attach one, e.g. "
                         f"load_dataset('shapes', modalities=('image', 'text', 'audio'))")

    # ------------------------------------------------------------------ subsets
    def subset(self, split=None, image_indices=None) -> "CaptionDataset":
        """The images of one split (or of given indices) with their captions and attached
        modalities, re-indexed."""
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
        new_caption = np.full(self.n_captions, -1, dtype=np.int64)
        new_caption[cap_keep] = np.arange(len(cap_keep))
        extras = {}
        for key, mod in self.extras.items():
            content_map = new_caption if mod.role == "description" else new_index
            items = np.flatnonzero((new_index[mod.scene_index] >= 0)
                                   & (content_map[mod.content_index] >= 0))
            extras[key] = Modality(mod.name, take_items(mod.items, items),
                                   new_index[mod.scene_index[items]], mod.role,
                                   content_map[mod.content_index[items]], dict(mod.info))
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
            relevance_rule=self._rule_spec,
            extras=extras,
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

    def _relevance(self, qm, im, query_idx, item_idx, graded, q_name, i_name) -> np.ndarray:
        q = self._indices(query_idx, self.count(qm), q_name)
        i = self._indices(item_idx, self.count(im), i_name)
        q_role, q_content = self._content(qm, q)
        i_role, i_content = self._content(im, i)
        rule = self.rule
        if q_role == "description" and i_role == "scene":
            rel = rule.description_scene(self, q_content, i_content)
        elif q_role == "scene" and i_role == "description":
            rel = rule.description_scene(self, i_content, q_content).T
        elif q_role == "scene":
            rel = rule.scene_scene(self, q_content, i_content)
        else:  # description -> description: how well the item's image fits the query's meaning
            scenes, inverse = np.unique(self.caption_image[i_content], return_inverse=True)
            rel = np.take(rule.description_scene(self, q_content, scenes), inverse.reshape(-1), axis=1)
        rel = np.ascontiguousarray(rel, dtype=np.float32).reshape(len(q), len(i))
        return rel if graded else (rel > 0).astype(np.float32)

    def relevance(self, query_modality: str, item_modality: str, query_idx=None, item_idx=None,
                  graded: bool = True) -> np.ndarray:
        """Exact relevance (len(query_idx), len(item_idx)) float32 between any two modalities.

        Derived from the items' roles and contents with the dataset's rule:
        description → scene (e.g. text → image): the image satisfies the caption (graded in
        (0, 1] on shapes: the fraction of the image's objects the caption accounts for; class
        match on digits); scene → description: its transpose; scene → scene: the images share a
        label (identity without labels); description → description: the relevance of the item's
        image to the query's meaning. Without structure (COCO, Flickr, Karpathy) a description is
        relevant to its own image only. ``graded=False`` gives 0/1. ``None`` indices mean all.
        """
        qm = self._check_modality(query_modality, "query_modality")
        im = self._check_modality(item_modality, "item_modality")
        return self._relevance(qm, im, query_idx, item_idx, graded, "query_idx", "item_idx")

    def paired(self, query_modality: str, item_modality: str, query_idx=None, item_idx=None) -> np.ndarray:
        """0/1 float32 (nq, ni): 1 when query and item belong to the same image (scene).

        The standard protocol of the papers (image → text: only the image's own captions count).
        """
        qm = self._check_modality(query_modality, "query_modality")
        im = self._check_modality(item_modality, "item_modality")
        q = self._indices(query_idx, self.count(qm), "query_idx")
        i = self._indices(item_idx, self.count(im), "item_idx")
        return (self._scene_of(qm, q)[:, None] == self._scene_of(im, i)[None, :]).astype(np.float32)

    def knows_relevance(self, query_modality: str, item_modality: str) -> bool:
        """True when :meth:`relevance` says more than identity for this pair: False only for
        scene → scene (image → image) on a dataset without labels."""
        qm = self._check_modality(query_modality, "query_modality")
        im = self._check_modality(item_modality, "item_modality")
        if self._content(qm, np.zeros(0, np.int64))[0] == "scene" \
                and self._content(im, np.zeros(0, np.int64))[0] == "scene":
            return self.rule.knows_scene_scene(self)
        return True

    def find_caption(self, text) -> int | None:
        """Index of the first caption equal to ``text`` (case and spacing ignored), or None."""
        if not isinstance(text, str):
            raise ValueError(f"text: expected a string, got {describe(text)}")
        lookup = self._cache.get("caption_lookup")
        if lookup is None or self._cache.get("caption_lookup_n") != self.n_captions:
            lookup = {}
            for j, caption in enumerate(self.captions):
                lookup.setdefault(_norm_text(caption), j)
            self._cache["caption_lookup"], self._cache["caption_lookup_n"] = lookup, self.n_captions
        return lookup.get(_norm_text(text))

    def query_relevance(self, query_modality: str, query, item_modality: str,
                        item_idx=None) -> np.ndarray | None:
        """Relevance (len(item_idx),) float32 of items to a NEW query value, or None if unknown.

        ``query``: an int is the item of ``query_modality`` with that index; a string (for
        ``"text"``) equal to a caption uses that caption's relevance, else the dataset's rule
        parses it (shapes: ``parse_caption``; digits: "a handwritten seven" -> class 7). Other
        values (a new image, a recorded waveform) cannot be judged: None.
        """
        qm = self._check_modality(query_modality, "query_modality")
        im = self._check_modality(item_modality, "item_modality")
        if isinstance(query, (int, np.integer)) and not isinstance(query, bool):
            q = check_int(query, "query", minimum=0, maximum=self.count(qm) - 1)
            return self._relevance(qm, im, [q], item_idx, True, "query", "item_idx")[0]
        if qm != "text":
            return None
        if not isinstance(query, str):
            raise ValueError(f"query: expected a string (or a caption index) for "
                             f"query_modality='text', got {describe(query)}")
        i = self._indices(item_idx, self.count(im), "item_idx")
        j = self.find_caption(query)
        if j is not None:
            return self._relevance("text", im, [j], i, True, "query", "item_idx")[0]
        meaning = self.rule.parse_query(self, query)
        if meaning is None:
            return None
        role, content = self._content(im, i)
        if role == "scene":
            return np.asarray(self.rule.query_scene(self, meaning, content), dtype=np.float32)
        scenes, inverse = np.unique(self.caption_image[content], return_inverse=True)
        row = np.asarray(self.rule.query_scene(self, meaning, scenes), dtype=np.float32)
        return row[inverse.reshape(-1)]

    # legacy names: thin aliases over relevance() and paired()
    def text_image_relevance(self, caption_idx=None, image_idx=None, graded: bool = True) -> np.ndarray:
        """Relevance of images to captions, shape (len(caption_idx), len(image_idx)), float32.

        ``relevance("text", "image", ...)``: graded on shapes, class match on digits, the
        caption's own image elsewhere. ``graded=False`` gives 0/1.
        """
        return self._relevance("text", "image", caption_idx, image_idx, graded,
                               "caption_idx", "image_idx")

    def image_text_relevance(self, image_idx=None, caption_idx=None, graded: bool = False) -> np.ndarray:
        """Relevance of captions to image queries (n_images', n_captions').

        Default ``graded=False`` is the standard image→text protocol of the papers
        (``paired("image", "text")``: only the image's own captions count). ``graded=True`` is
        ``relevance("image", "text")``, the structured relevance where known.
        """
        if graded:
            return self._relevance("image", "text", image_idx, caption_idx, True,
                                   "image_idx", "caption_idx")
        i = self._indices(image_idx, self.n_images, "image_idx")
        c = self._indices(caption_idx, self.n_captions, "caption_idx")
        return (i[:, None] == self.caption_image[c][None, :]).astype(np.float32)

    def image_image_relevance(self, query_idx=None, item_idx=None) -> np.ndarray:
        """Binary relevance between images (``relevance("image", "image")``): 1 when they share
        at least one label (the hashing protocol). Without labels only identity counts."""
        return self._relevance("image", "image", query_idx, item_idx, True, "query_idx", "item_idx")

    # ------------------------------------------------------------------ browsing and queries
    def vocabulary(self) -> frozenset:
        """The set of tokens in the captions (``mmcourse.text.tokenize``), computed once."""
        vocab = self._cache.get("vocabulary")
        if vocab is None or self._cache.get("vocabulary_n") != self.n_captions:
            from ..text import tokenize

            words: set[str] = set()
            for caption in self.captions:
                words.update(tokenize(caption))
            vocab = frozenset(words)
            self._cache["vocabulary"], self._cache["vocabulary_n"] = vocab, self.n_captions
        return vocab

    def example_queries(self, n: int = 3, modality: str = "text") -> list:
        """A few deterministic example queries: for ``"text"`` the ``n`` shortest distinct
        captions (ties alphabetical); for another description modality the indices of its items
        that carry those captions' meanings; for a scene modality its first ``n`` item indices."""
        n = check_int(n, "n", minimum=1)
        modality = self._check_modality(modality)
        caps = sorted(set(self.captions), key=lambda c: (len(c), c))
        if modality == "text":
            return caps[:n]
        role, content = self._content(modality, np.arange(self.count(modality)))
        if role == "scene":
            return list(range(min(n, self.count(modality))))
        order = sorted(range(len(content)), key=lambda k: (len(self.captions[content[k]]),
                                                           self.captions[content[k]], k))
        out, seen = [], set()
        for k in order:
            text = self.captions[content[k]]
            if text not in seen:
                seen.add(text)
                out.append(int(k))
            if len(out) == n:
                break
        return out

    def filter(self, word: str | None = None, label: str | None = None,
               split: str | None = None) -> np.ndarray:
        """Indices (int64, ascending) of the images matching all given filters.

        ``word``: at least one of the image's captions contains these tokens (case-insensitive;
        several words must all appear in one caption); ``label``: one of ``label_names``;
        ``split``: "train" / "val" / "test". None or "" means no filter.
        """
        from ..text import tokenize

        keep = np.ones(self.n_images, dtype=bool)
        if split:
            check_choice(split, "split", SPLITS)
            keep &= self.split == split
        if label:
            names = list(self.label_names or [])
            if self.labels is None or label not in names:
                raise ValueError(f"label: expected one of the dataset's label names "
                                 f"({', '.join(names[:5]) or 'none'}{', ...' if len(names) > 5 else ''}), "
                                 f"got {label!r}")
            keep &= self.labels[:, names.index(label)] > 0
        if word is not None and not isinstance(word, str):
            raise ValueError(f"word: expected a string, got {describe(word)}")
        wanted = set(tokenize(word)) if word else set()
        if wanted:
            hit = np.zeros(self.n_images, dtype=bool)
            for caption, image in zip(self.captions, self.caption_image.tolist()):
                if not hit[image] and wanted <= set(tokenize(caption)):
                    hit[image] = True
            keep &= hit
        return np.flatnonzero(keep).astype(np.int64)

    # ------------------------------------------------------------------ counterfactual captions
    @property
    def has_counterfactuals(self) -> bool:
        """True when the dataset can write counterfactual captions (hard negatives, scene
        twins, the word-order probe): structured captions, as the shapes scenes have."""
        return bool(self.rule.has_counterfactuals(self))

    @property
    def counterfactuals(self) -> tuple:
        """The counterfactual captions this dataset can write: a subset of ``("hard_negatives",
        "scene_twins", "word_order_probe")`` (all three for the shapes scenes, none without
        structured captions)."""
        return tuple(self.rule.counterfactuals(self))

    def hard_negatives(self, caption_indices, rng) -> list[str]:
        """For each caption index, a minimal edit of the caption its own image does NOT satisfy.

        ``rng``: numpy Generator, random.Random or int seed (same draws as
        ``mmcourse.data.shapes.hard_negatives``). ValueError on a dataset without counterfactuals.
        """
        return self.rule.hard_negatives(self, caption_indices, rng)

    def scene_twins(self, image_indices, rng, **options) -> tuple:
        """``(rows int64 (p,), positives list[str], twins list[str])``: for images with two or more
        objects, a relational caption and its same-words twin the image does not satisfy
        (``mmcourse.data.shapes.scene_twins``; option ``argument_share=0.7``)."""
        return self.rule.scene_twins(self, image_indices, rng, **options)

    def word_order_probe(self, n_pairs: int = 500, seed: int = 0) -> dict:
        """Caption pairs with the same bag of words but different meaning
        (``mmcourse.data.shapes.word_order_probe``): dict of image_index, positive, negative, kind."""
        return self.rule.word_order_probe(self, n_pairs=n_pairs, seed=seed)
