"""Generation of the shapes-scenes dataset: scenes, captions, images, labels, splits and caching.

Deterministic: the same arguments give byte-identical data. Each split has its own random stream
(derived from ``seed``) and the test split is drawn first, so the test and val images do not change
when ``n_train`` does. Scenes are deduplicated by content across the whole dataset, so no scene
appears in two splits.
"""
from __future__ import annotations

import random
from bisect import bisect
from itertools import permutations
from pathlib import Path

import numpy as np

from .._validation import check_int, describe
from .cache import (atomic_save_npz, cache_dir, cache_key, decode_strings, encode_strings,
                    load_npz)
from .dataset import SPLITS, CaptionDataset
from .shapes_semantics import pack_meanings, pack_scenes, unpack_meanings, unpack_scenes
from .shapes_render import box_size, render_scenes
from .shapes_text import write_caption
from .shapes_vocab import (COLOUR_NAMES, RELATIONS, SHAPES, SIZES, Description, Meaning,
                           SceneObject, relation_holds_scalar, scene_key)

#: bump when the generated data changes in a way the source hash would not catch
GENERATOR_VERSION = "1"
#: probability of 1, 2, 3 objects in a scene
N_OBJECTS_P = (0.2, 0.4, 0.4)
#: caption kinds for scenes with >= 2 objects: one object, all objects, a relation
KIND_P = {"one": 0.2, "all": 0.3, "relation": 0.5}
#: detail of one-object captions ("a circle" ... "a small red circle"); with the weights above,
#: tuned so that about a quarter of test caption strings repeat another image's (as in COCO)
DETAIL_P = {"shape": 0.06, "colour_shape": 0.38, "size_colour_shape": 0.46, "size_shape": 0.06,
            "colour": 0.04}
LABEL_NAMES = [f"{c} {s}" for c in COLOUR_NAMES for s in SHAPES]
_DETAILS = tuple(DETAIL_P)
_DETAIL_CUM = tuple(np.cumsum(tuple(DETAIL_P.values())).tolist())
_N_CUM = tuple(np.cumsum(N_OBJECTS_P).tolist())
_KINDS = tuple(KIND_P)
_KIND_CUM = tuple(np.cumsum(tuple(KIND_P.values())).tolist())


def _pick(rnd: random.Random, seq, cum: tuple):
    """``rnd.choices(seq, cum_weights=cum)[0]`` (same draw), without its per-call overhead."""
    return seq[bisect(cum, rnd.random() * cum[-1], 0, len(seq) - 1)]


# ---------------------------------------------------------------------------- scenes
def sample_scene(rnd: random.Random, image_size: int) -> tuple:
    """One scene: 1–3 objects with distinct (shape, colour), non-overlapping boxes (1 px gap)."""
    s = image_size
    while True:
        k = _pick(rnd, (1, 2, 3), _N_CUM)
        used, boxes, objs = set(), [], []
        for _ in range(k):
            shape, colour = rnd.choice(SHAPES), rnd.choice(COLOUR_NAMES)
            while (shape, colour) in used:
                shape, colour = rnd.choice(SHAPES), rnd.choice(COLOUR_NAMES)
            used.add((shape, colour))
            size = rnd.choice(SIZES)
            b = box_size(size, s)
            for _attempt in range(40):
                x0, y0 = rnd.randint(0, s - b), rnd.randint(0, s - b)
                if all(x0 + b < bx or bx + bb < x0 or y0 + b < by or by + bb < y0
                       for bx, by, bb in boxes):
                    break
            else:
                break  # no room: draw the whole scene again
            boxes.append((x0, y0, b))
            # centres stored as float32 values so a cache round trip is exact
            objs.append(SceneObject(shape, colour, size, float(np.float32((x0 + b / 2) / s)),
                                    float(np.float32((y0 + b / 2) / s))))
        if len(objs) == k:
            return tuple(objs)


# ---------------------------------------------------------------------------- captions
def relation_triples(scene) -> list:
    """All ``(a, b, relation)`` with ``scene[a] <relation> scene[b]`` true."""
    return [(a, b, r) for a, b in permutations(range(len(scene)), 2) for r in RELATIONS
            if relation_holds_scalar(r, scene[a].x, scene[a].y, scene[b].x, scene[b].y)]


def sample_meaning(scene, rnd: random.Random, triples=None) -> Meaning:
    """A true statement about ``scene``: one object, all objects, or a spatial relation.

    ``triples`` (from :func:`relation_triples`) may be passed to avoid recomputing them.
    """
    kind = "one"
    if len(scene) > 1:
        kind = _pick(rnd, _KINDS, _KIND_CUM)
    if kind == "one":
        o = rnd.choice(scene)
        detail = _pick(rnd, _DETAILS, _DETAIL_CUM)
        return Meaning((Description(o.shape if "shape" in detail else None,
                                    o.colour if "colour" in detail else None,
                                    o.size if "size" in detail else None),))
    if kind == "relation":
        triples = relation_triples(scene) if triples is None else triples
        if triples:
            a, b, rel = rnd.choice(triples)
            return Meaning(tuple(Description(scene[k].shape, scene[k].colour,
                                             scene[k].size if rnd.random() < 0.25 else None)
                                 for k in (a, b)), rel)
    order = list(scene)
    rnd.shuffle(order)
    return Meaning(tuple(Description(o.shape, o.colour, o.size if rnd.random() < 0.3 else None)
                         for o in order))


def sample_captions(scene, n: int, rnd: random.Random) -> tuple:
    """``n`` distinct caption strings (when possible) for one scene, with their meanings."""
    texts, meanings = [], []
    triples = relation_triples(scene)
    for _ in range(n):
        for _attempt in range(20):
            m = sample_meaning(scene, rnd, triples)
            t = write_caption(m, rnd)
            if t not in texts:
                break
        texts.append(t)
        meanings.append(m)
    return texts, meanings


# ---------------------------------------------------------------------------- generation
def _split_sizes(n_images: int, split_sizes) -> dict:
    if split_sizes is None:
        n_val = n_test = n_images // 10
        return {"train": n_images - n_val - n_test, "val": n_val, "test": n_test}
    if isinstance(split_sizes, dict):
        if set(split_sizes) - set(SPLITS):
            raise ValueError(f"split_sizes: expected keys among {SPLITS}, got {sorted(split_sizes)}")
        sizes = {s: split_sizes.get(s, 0) for s in SPLITS}
    elif isinstance(split_sizes, (tuple, list)) and len(split_sizes) == 3:
        sizes = dict(zip(SPLITS, split_sizes))
    else:
        raise ValueError(f"split_sizes: expected (n_train, n_val, n_test) or a dict, "
                         f"got {describe(split_sizes)}")
    sizes = {s: check_int(v, f"split_sizes[{s!r}]", minimum=0) for s, v in sizes.items()}
    if sum(sizes.values()) != n_images:
        raise ValueError(f"split_sizes: expected sizes summing to n_images={n_images}, "
                         f"got {sizes} (sum {sum(sizes.values())})")
    return sizes


def _generate(sizes: dict, seed: int, image_size: int, cpi: int, progress: bool) -> dict:
    """Generate arrays for all splits (test first, then val, then train); returns cacheable arrays."""
    children = dict(zip(("test", "val", "train"), np.random.SeedSequence(seed).spawn(3)))
    from tqdm.auto import tqdm

    seen: set = set()
    parts = {}
    bar = tqdm(total=sum(sizes.values()), desc="generating shapes scenes", unit="img",
               disable=not progress, leave=False)
    for split in ("test", "val", "train"):
        n = sizes[split]
        child = children[split]
        rnd = random.Random(int(child.generate_state(1, dtype=np.uint64)[0]))
        scenes, captions, meanings = [], [], []
        while len(scenes) < n:
            scene = sample_scene(rnd, image_size)
            key = scene_key(scene)
            if key in seen:
                continue
            seen.add(key)
            texts, ms = sample_captions(scene, cpi, rnd)
            scenes.append(scene)
            captions += texts
            meanings += ms
            if len(scenes) % 1000 == 0:
                bar.update(1000)
        images = render_scenes(scenes, image_size, np.random.default_rng(child))
        parts[split] = (scenes, captions, meanings, images)
    bar.close()
    order = [s for s in SPLITS if sizes[s]]
    scenes = [sc for s in order for sc in parts[s][0]]
    arrays = {f"scene_{k}": v for k, v in pack_scenes(scenes).items()}
    arrays["meanings"] = pack_meanings([m for s in order for m in parts[s][2]])
    arrays["captions"] = encode_strings([c for s in order for c in parts[s][1]])
    arrays["images"] = (np.concatenate([parts[s][3] for s in order]) if order
                        else np.zeros((0, image_size, image_size, 3), np.uint8))
    arrays["split"] = np.concatenate([np.full(sizes[s], s, dtype="<U5") for s in order]) \
        if order else np.zeros(0, dtype="<U5")
    return arrays


def _labels(packed: dict) -> np.ndarray:
    n = len(packed["count"])
    labels = np.zeros((n, len(LABEL_NAMES)), dtype=np.uint8)
    rows, cols = np.nonzero(packed["shape"] >= 0)
    labels[rows, packed["colour"][rows, cols].astype(int) * len(SHAPES)
           + packed["shape"][rows, cols].astype(int)] = 1
    return labels


def _to_dataset(arrays: dict, params: dict, cpi: int) -> CaptionDataset:
    packed = {k[len("scene_"):]: v for k, v in arrays.items() if k.startswith("scene_")}
    n = len(arrays["images"])
    return CaptionDataset(
        images=arrays["images"], captions=decode_strings(arrays["captions"]),
        caption_image=np.repeat(np.arange(n), cpi), split=arrays["split"],
        labels=_labels(packed), label_names=list(LABEL_NAMES),
        image_ids=[f"shapes-{params['seed']}-{i:06d}" for i in range(n)],
        scenes=unpack_scenes(packed), meanings=unpack_meanings(arrays["meanings"]),
        name="shapes", info={"source": "generated shapes scenes (CC0)",
                             "generator_version": GENERATOR_VERSION, **params})


def make_shapes(n_images: int, seed: int = 0, image_size: int = 32, captions_per_image: int = 5,
                split_sizes=None, cache: bool = True, progress: bool = False) -> CaptionDataset:
    """Generate the shapes-scenes dataset as a :class:`CaptionDataset`.

    Parameters
    ----------
    n_images : total number of images.
    seed : random seed; the same arguments give byte-identical data.
    image_size : side of the square RGB uint8 images in pixels (>= 16).
    captions_per_image : captions written for each image (distinct strings when possible).
    split_sizes : ``(n_train, n_val, n_test)`` or a dict; default 80/10/10 %.
    cache : read/write the result under :func:`mmcourse.data.cache_dir` (keyed by all parameters,
        ``GENERATOR_VERSION`` and the generator's source code).
    progress : show a progress bar while generating.
    """
    n_images = check_int(n_images, "n_images", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    image_size = check_int(image_size, "image_size", minimum=16, maximum=512)
    cpi = check_int(captions_per_image, "captions_per_image", minimum=1, maximum=20)
    sizes = _split_sizes(n_images, split_sizes)
    params = {"n_train": sizes["train"], "n_val": sizes["val"], "n_test": sizes["test"],
              "seed": seed, "image_size": image_size, "captions_per_image": cpi}
    path = None
    if cache:
        here = Path(__file__).parent
        sources = sorted(here.glob("shapes*.py")) + [here / "cache.py"]
        path = cache_dir() / f"shapes-{cache_key(params, GENERATOR_VERSION, sources)}.npz"
        arrays = load_npz(path)
        if arrays is not None:
            return _to_dataset(arrays, params, cpi)
    arrays = _generate(sizes, seed, image_size, cpi, progress)
    if path is not None:
        atomic_save_npz(path, arrays)
    return _to_dataset(arrays, params, cpi)
