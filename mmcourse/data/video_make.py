"""Generating the moving-shapes clips: sampling clip scenes, rendering frames, writing captions.

Deterministic in the seed; the test split is generated first, so its clips do not depend on the
size of the training split. Everything is cached as one .npz keyed by the parameters and the
source of the ``video*.py`` data modules. 5,000 clips of 8 frames at 32 px render in a few
seconds and take 123 MB.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .cache import (atomic_save_npz, cache_dir, cache_key, encode_strings,
                    load_npz)
from .shapes_render import box_size, shape_masks
from .shapes_vocab import COLOURS, SHAPES
from .video_world import (DIRECTIONS, MAX_OBJECTS, PHRASES, SPEEDS, Clause, MotionMeaning,
                          MovingObject, caption_text)

GENERATOR_VERSION = "1"
#: the probability of a clip having 1 or 2 objects, and of each direction
N_OBJECTS_P = (0.4, 0.6)
DIRECTION_P = (0.22, 0.22, 0.22, 0.22, 0.12)
FPS = 4


def _axis_range(lo: float, hi: float, displacement: float, sign: int) -> tuple[float, float]:
    """Start coordinates keeping the whole path inside [lo, hi]."""
    if sign > 0:
        return lo, hi - displacement
    if sign < 0:
        return lo + displacement, hi
    return lo, hi


def sample_clip_scene(rnd: random.Random, image_size: int, frames: int) -> tuple:
    """One clip scene: 1–2 objects with distinct (shape, colour), each moving in a direction."""
    n = 1 if rnd.random() < N_OBJECTS_P[0] else 2
    half = box_size("small", image_size) / 2
    lo, hi = half, image_size - half
    kinds = set()
    objs = []
    while len(objs) < n:
        shape, colour = rnd.choice(SHAPES), rnd.choice(tuple(COLOURS))
        if (shape, colour) in kinds:
            continue
        kinds.add((shape, colour))
        direction = rnd.choices(DIRECTIONS, weights=DIRECTION_P)[0]
        # SPEEDS are pixels per frame for 8 frames of 32 px; longer clips move proportionally
        # slower per frame, so that every path fits the frame whatever the clip's length
        speed = rnd.choice(SPEEDS) * image_size / 32.0 * 7 / (frames - 1) if direction != "still" else 0.0
        dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1),
                  "still": (0, 0)}[direction]
        disp = (frames - 1) * speed
        x = rnd.uniform(*_axis_range(lo, hi, disp, dx))
        y = rnd.uniform(*_axis_range(lo, hi, disp, dy))
        objs.append(MovingObject(shape, colour, float(np.float32(x)), float(np.float32(y)),
                                 direction, float(np.float32(speed))))
    return tuple(objs)


def _clause(obj: MovingObject, rnd: random.Random) -> Clause:
    r = rnd.random()
    if r < 0.5:
        return Clause(obj.shape, obj.colour, obj.direction)
    if r < 0.75:
        return Clause(obj.shape, None, obj.direction)
    return Clause(None, obj.colour, obj.direction)


def sample_captions(scene, n: int, rnd: random.Random) -> tuple[list, list]:
    """``n`` distinct captions (where possible) of a clip scene, and their meanings."""
    texts, meanings = [], []
    for _ in range(8 * n):
        if len(texts) == n:
            break
        if len(scene) == 2 and rnd.random() < 0.5:
            a, b = (scene if rnd.random() < 0.5 else scene[::-1])
            meaning = MotionMeaning((_clause(a, rnd), _clause(b, rnd)))
        else:
            meaning = MotionMeaning((_clause(rnd.choice(scene), rnd),))
        text = caption_text(meaning, tuple(rnd.randrange(2) for _ in meaning.clauses))
        if text not in texts:
            texts.append(text)
            meanings.append(meaning)
    distinct = len(texts)
    while len(texts) < n:  # a one-object clip has few distinct captions: repeat them in order
        texts.append(texts[len(texts) % distinct])
        meanings.append(meanings[len(meanings) % distinct])
    return texts, meanings


def render_clips(scenes, image_size: int, frames: int, rng: np.random.Generator,
                 chunk: int = 256, progress: bool = False) -> np.ndarray:
    """uint8 clips (n, frames, image_size, image_size, 3): a dark tinted background with pixel noise
    (fresh each frame), each object pasted at its centre of the frame."""
    n, s = len(scenes), image_size
    masks = shape_masks(s)
    palette = {c: np.array(v, dtype=np.int16) for c, v in COLOURS.items()}
    clips = np.empty((n, frames, s, s, 3), dtype=np.uint8)
    for start in tqdm(range(0, n, chunk), disable=not progress, desc="rendering clips", leave=False):
        stop = min(n, start + chunk)
        m = stop - start
        block = rng.integers(0, 70, size=(m, 1, 1, 1, 3), dtype=np.int16) \
            + rng.integers(0, 40, size=(m, frames, s, s, 3), dtype=np.int16)
        jitter = rng.integers(-25, 26, size=(m, MAX_OBJECTS), dtype=np.int16)
        for r in range(m):
            for k, obj in enumerate(scenes[start + r]):
                mask = masks[(obj.shape, "small")]
                b = mask.shape[0]
                colour = palette[obj.colour] + jitter[r, k]
                for t in range(frames):
                    cx, cy = obj.centre(t)
                    x0 = min(max(int(round(cx - b / 2)), 0), s - b)
                    y0 = min(max(int(round(cy - b / 2)), 0), s - b)
                    block[r, t, y0:y0 + b, x0:x0 + b][mask] = colour
        np.clip(block, 0, 255, out=block)
        clips[start:stop] = block
    return clips


# ------------------------------------------------------------------ packing for the cache
_SHAPE = {s: i for i, s in enumerate(SHAPES)}
_COLOUR = {c: i for i, c in enumerate(COLOURS)}
_DIR = {d: i for i, d in enumerate(DIRECTIONS)}


def pack_scenes(scenes) -> np.ndarray:
    """float32 (n, MAX_OBJECTS, 6): shape, colour, x, y, direction, speed; -1 rows for no object."""
    out = np.full((len(scenes), MAX_OBJECTS, 6), -1.0, dtype=np.float32)
    for i, scene in enumerate(scenes):
        for k, o in enumerate(scene):
            out[i, k] = (_SHAPE[o.shape], _COLOUR[o.colour], o.x, o.y, _DIR[o.direction], o.speed)
    return out


def unpack_scenes(arr: np.ndarray) -> list:
    colours = tuple(COLOURS)
    return [tuple(MovingObject(SHAPES[int(r[0])], colours[int(r[1])], float(r[2]), float(r[3]),
                               DIRECTIONS[int(r[4])], float(r[5])) for r in rows if r[0] >= 0)
            for rows in arr]


def pack_meanings(meanings) -> np.ndarray:
    """int8 (m, MAX_OBJECTS, 3): shape, colour, direction per clause; -2 = unspecified, -1 = none."""
    out = np.full((len(meanings), MAX_OBJECTS, 3), -1, dtype=np.int8)
    for j, meaning in enumerate(meanings):
        for k, c in enumerate(meaning.clauses):
            out[j, k] = (-2 if c.shape is None else _SHAPE[c.shape],
                         -2 if c.colour is None else _COLOUR[c.colour], _DIR[c.direction])
    return out


def unpack_meanings(arr: np.ndarray) -> list:
    colours = tuple(COLOURS)
    return [MotionMeaning(tuple(Clause(None if r[0] == -2 else SHAPES[r[0]],
                                       None if r[1] == -2 else colours[r[1]], DIRECTIONS[r[2]])
                                for r in rows.astype(int) if r[2] >= 0)) for rows in arr]


def generate(sizes: dict, seed: int, image_size: int, frames: int, cpc: int,
             progress: bool = False) -> dict:
    """Arrays for all splits, test first, then val, then train (each from its own seeded stream)."""
    scenes, texts, meanings, cap_clip, split, clips = [], [], [], [], [], []
    for offset, name in enumerate(("test", "val", "train")):
        n = sizes[name]
        if n == 0:
            continue
        rnd = random.Random(seed * 1000 + offset)
        part = [sample_clip_scene(rnd, image_size, frames) for _ in range(n)]
        base = len(scenes)
        for i, scene in enumerate(part):
            t, m = sample_captions(scene, cpc, rnd)
            texts += t
            meanings += m
            cap_clip += [base + i] * len(t)
        scenes += part
        split += [name] * n
        clips.append(render_clips(part, image_size, frames,
                                  np.random.default_rng(seed * 1000 + offset), progress=progress))
    return {"clips": np.concatenate(clips), "scenes": pack_scenes(scenes),
            "captions": encode_strings(texts), "caption_clip": np.asarray(cap_clip, dtype=np.int64),
            "meanings": pack_meanings(meanings), "split": np.asarray(split, dtype="<U5")}


def cached_arrays(sizes: dict, seed: int, image_size: int, frames: int, cpc: int,
                  cache: bool = True, progress: bool = False) -> dict:
    """:func:`generate`'s arrays, from the cache when present."""
    params = dict(sizes=sizes, seed=seed, image_size=image_size, frames=frames, cpc=cpc)
    if not cache:
        return generate(sizes, seed, image_size, frames, cpc, progress)
    here = Path(__file__).parent
    sources = sorted(here.glob("video*.py")) + [here / "cache.py", here / "shapes_render.py"]
    path = cache_dir() / f"moving-shapes-{cache_key(params, GENERATOR_VERSION, sources)}.npz"
    arrays = load_npz(path)
    if arrays is None:
        arrays = generate(sizes, seed, image_size, frames, cpc, progress)
        atomic_save_npz(path, arrays)
    return arrays


def labels_of(scenes) -> tuple[np.ndarray, list]:
    """Multi-hot labels (n, 18): the shapes, colours and directions present in each clip."""
    names = list(SHAPES) + list(COLOURS) + [f"moves {d}" if d != "still" else "still"
                                            for d in DIRECTIONS]
    out = np.zeros((len(scenes), len(names)), dtype=np.uint8)
    ns, nc = len(SHAPES), len(COLOURS)
    for i, scene in enumerate(scenes):
        for o in scene:
            out[i, _SHAPE[o.shape]] = 1
            out[i, ns + _COLOUR[o.colour]] = 1
            out[i, ns + nc + _DIR[o.direction]] = 1
    return out, names


__all__ = ["sample_clip_scene", "sample_captions", "render_clips", "generate", "cached_arrays",
           "labels_of", "PHRASES", "FPS"]
