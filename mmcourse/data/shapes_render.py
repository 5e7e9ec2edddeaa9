"""Fast rendering of shapes scenes: precomputed masks per shape × size, pasted onto noisy backgrounds.

Masks are computed once per image size with 4× supersampling and thresholded, so a scene costs
a few array assignments. 22k scenes at 32 px render in about a second.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .shapes_vocab import COLOURS, MAX_OBJECTS, SHAPES, SIZES

#: side of an object's bounding box as a fraction of the image side
SIZE_FRACTION = {"small": 0.25, "large": 0.40}
_SUPERSAMPLE = 4


def box_size(size: str, image_size: int) -> int:
    """Side in pixels of the bounding box of an object of ``size`` in an image of ``image_size`` px."""
    return max(4, int(round(SIZE_FRACTION[size] * image_size)))


def _star_polygon(points: int = 5, inner: float = 0.45) -> np.ndarray:
    angles = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles) + 0.1], axis=1)


def _inside_polygon(u: np.ndarray, v: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even–odd rule point-in-polygon test, vectorised over the points (u, v)."""
    inside = np.zeros(u.shape, dtype=bool)
    n = len(poly)
    for i in range(n):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % n]
        crosses = (y1 > v) != (y2 > v)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (v - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (u < x_at)
    return inside


def _shape_region(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Membership of points (u, v) in [-1, 1]² for a shape (v grows downwards)."""
    au, av = np.abs(u), np.abs(v)
    if shape == "circle":
        return u * u + v * v <= 0.95
    if shape == "square":
        return (au <= 0.82) & (av <= 0.82)
    if shape == "triangle":
        return (v <= 0.85) & (au <= (v + 0.95) / 1.8)
    if shape == "diamond":
        return au + av <= 1.0
    if shape == "cross":
        return ((au <= 0.32) & (av <= 0.95)) | ((av <= 0.32) & (au <= 0.95))
    if shape == "star":
        return _inside_polygon(u, v, _star_polygon())
    raise ValueError(f"shape: expected one of {SHAPES}, got {shape!r}")


@lru_cache(maxsize=16)
def shape_masks(image_size: int) -> dict:
    """Boolean masks ``{(shape, size): (b, b) array}`` for every shape × size at ``image_size``."""
    masks = {}
    for size in SIZES:
        b = box_size(size, image_size)
        s = b * _SUPERSAMPLE
        grid = (np.arange(s) + 0.5) / s * 2.0 - 1.0
        v, u = np.meshgrid(grid, grid, indexing="ij")
        for shape in SHAPES:
            fine = _shape_region(shape, u, v).reshape(b, _SUPERSAMPLE, b, _SUPERSAMPLE)
            mask = fine.mean(axis=(1, 3)) >= 0.5
            mask.setflags(write=False)
            masks[(shape, size)] = mask
    return masks


def render_scenes(scenes, image_size: int, rng: np.random.Generator, chunk: int = 2048) -> np.ndarray:
    """Render scenes to uint8 RGB images (n, image_size, image_size, 3).

    Background: a random dark tint per image plus pixel noise. Objects: their colour with a small
    per-object brightness jitter. Finally light pixel noise over everything. Deterministic in ``rng``.
    """
    n, s = len(scenes), image_size
    masks = shape_masks(s)
    images = np.empty((n, s, s, 3), dtype=np.uint8)
    palette = np.array([COLOURS[c] for c in COLOURS], dtype=np.int16)
    colour_index = {c: i for i, c in enumerate(COLOURS)}
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        m = stop - start
        tint = rng.integers(0, 70, size=(m, 1, 1, 3), dtype=np.int16)
        noise = rng.integers(0, 40, size=(m, s, s, 3), dtype=np.int16)
        block = tint + noise
        jitter = rng.integers(-25, 26, size=(m, MAX_OBJECTS), dtype=np.int16)
        for r in range(m):
            for k, obj in enumerate(scenes[start + r]):
                mask = masks[(obj.shape, obj.size)]
                b = mask.shape[0]
                x0 = int(round(obj.x * s - b / 2))
                y0 = int(round(obj.y * s - b / 2))
                region = block[r, y0:y0 + b, x0:x0 + b]
                region[mask] = palette[colour_index[obj.colour]] + jitter[r, k]
        block += rng.integers(-12, 13, size=block.shape, dtype=np.int16)
        np.clip(block, 0, 255, out=block)
        images[start:stop] = block
    return images

