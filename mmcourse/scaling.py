"""The course's side of notebook 09: a generated image corpus of any size, embedded chunk by chunk.

``mmcourse.engine`` knows nothing about shapes or images; this module supplies the work it
distributes. Chunk ``(start, count, framework, seed)`` stands for the generated shapes images
``start .. start + count - 1`` (scenes drawn from a generator seeded by ``seed`` and ``start``,
so a chunk is the same wherever and whenever it runs). ``embed_generated_chunk`` generates them
and embeds them with the framework's cached default model, inside whatever process runs it — a
Dask worker — so only the chunk description travels to the worker and only (ids, vectors) come
back. The model is loaded once per worker process.
"""
from __future__ import annotations

import random

import numpy as np

from ._validation import check_int

_MODELS: dict = {}


def generated_images(start: int, count: int, seed: int = 0, image_size: int = 32) -> np.ndarray:
    """uint8 (count, image_size, image_size, 3): shapes scenes of the chunk (start, count)."""
    from .data.shapes_make import sample_scene  # noqa: PLC0415
    from .data.shapes_render import render_scenes  # noqa: PLC0415

    start = check_int(start, "start", minimum=0)
    count = check_int(count, "count", minimum=1)
    rnd = random.Random(f"mmcourse-corpus-{seed}-{start}")
    scenes = [sample_scene(rnd, image_size) for _ in range(count)]
    return render_scenes(scenes, image_size, np.random.default_rng([seed, start]))


def chunk_specs(n_items: int, chunk_size: int, framework: str = "torch", seed: int = 0) -> list[tuple]:
    """The chunks ``(start, count, framework, seed)`` covering items 0 .. n_items - 1."""
    n_items = check_int(n_items, "n_items", minimum=1)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    return [(s, min(chunk_size, n_items - s), framework, seed) for s in range(0, n_items, chunk_size)]


def _model(framework: str):
    if framework not in _MODELS:
        from .tracks import load_track  # noqa: PLC0415

        track = load_track(framework)
        _MODELS[framework] = (track, track.load_default_model(progress=False))
    return _MODELS[framework]


def warm_up(framework: str = "torch") -> bool:
    """Load the framework and its cached model in this process (run on every worker first)."""
    _model(framework)
    return True


def embed_generated_chunk(chunk) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64 (count,), embeddings float32 (count, d)) of the chunk's generated images."""
    start, count, framework, seed = chunk
    track, model = _model(framework)
    images = generated_images(start, count, seed)
    return np.arange(start, start + count, dtype=np.int64), track.embed_images(model, images)
