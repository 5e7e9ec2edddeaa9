"""The ``"video"`` modality: moving-shapes clips with motion captions and exact ground truth.

``mmcourse.load_dataset("moving_shapes")`` returns a :class:`~mmcourse.data.CaptionDataset`
whose scenes are clips: ``ds.get("video")`` is uint8 (n, T, H, W, 3) (T = 8 frames of 32 px by
default), ``ds.get("text")`` the captions ("a red circle moves left while a blue square stays
still"), ``ds.get("image")`` each clip's first frame (a thumbnail: it shows no motion, so its
relevance is the clip's). ``ds.relevance("text", "video")`` is exact and graded (the fraction of
the clip's objects a caption describes), from the captions' structured meanings.

Two probes test what a still frame cannot show:

* :func:`reversal_probe` — (caption, clip) pairs where the clip fits the caption and the same
  clip played backwards (``clip[::-1]``) does not;
* :func:`direction_probe` — each caption against its direction-swapped twin ("moves left" /
  "moves right"), which its own clip does not fit.

The still shapes scenes have no motion, so ``load_dataset("shapes", modalities=(..., "video"))``
raises a ValueError pointing here.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_int, describe
from .dataset import CaptionDataset
from .modalities import Modality, register_modality
from .video_make import FPS, cached_arrays, labels_of, unpack_meanings, unpack_scenes
from .video_relevance import MotionRelevance
from .video_world import MotionMeaning, direction_twin, grade, parse_caption

MIN_FRAMES, MAX_FRAMES = 8, 16


def load_moving_shapes(n_train: int = 4000, n_val: int = 250, n_test: int = 500, frames: int = 8,
                       image_size: int = 32, captions_per_clip: int = 4, seed: int = 0,
                       cache: bool = True, progress: bool = True) -> CaptionDataset:
    """The moving-shapes clips: train / val / test splits with ``captions_per_clip`` captions each.

    Generated once (a few seconds; 4,750 clips of 8 × 32 × 32 × 3 are 117 MB) and then loaded from
    the cache. The test and val clips depend only on ``seed``, ``frames`` and ``image_size``.
    """
    sizes = {name: check_int(v, name, minimum=0) for v, name in
             ((n_train, "n_train"), (n_val, "n_val"), (n_test, "n_test"))}
    if sum(sizes.values()) == 0:
        raise ValueError("n_train, n_val, n_test: expected at least one clip in total, got 0")
    frames = check_int(frames, "frames", minimum=MIN_FRAMES)
    if frames > MAX_FRAMES:
        raise ValueError(f"frames: expected {MIN_FRAMES}..{MAX_FRAMES} frames per clip, got {frames}")
    image_size = check_int(image_size, "image_size", minimum=16)
    cpc = check_int(captions_per_clip, "captions_per_clip", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    arrays = cached_arrays({"train": sizes["n_train"], "val": sizes["n_val"], "test": sizes["n_test"]},
                           seed, image_size, frames, cpc, cache=cache, progress=progress)
    scenes = unpack_scenes(arrays["scenes"])
    clips = arrays["clips"]
    n = len(clips)
    labels, names = labels_of(scenes)
    video = Modality("video", clips, np.arange(n), role="scene",
                     info={"frames": frames, "fps": FPS})
    return CaptionDataset(
        images=np.ascontiguousarray(clips[:, 0]), captions=arrays_captions(arrays),
        caption_image=arrays["caption_clip"], split=arrays["split"], labels=labels,
        label_names=names, image_ids=[f"clip-{i:05d}" for i in range(n)], scenes=scenes,
        meanings=unpack_meanings(arrays["meanings"]), name="moving_shapes",
        info={"seed": seed, "frames": frames, "fps": FPS, "captions_per_clip": cpc,
              "image": "the first frame of each clip"},
        relevance_rule=MotionRelevance(), extras={"video": video})


def arrays_captions(arrays: dict) -> list:
    from .cache import decode_strings

    return decode_strings(arrays["captions"])


def _check_motion(dataset, name: str = "dataset") -> None:
    if not isinstance(dataset, CaptionDataset) or "video" not in dataset.modalities \
            or not dataset.meanings or not isinstance(dataset.meanings[0], MotionMeaning):
        raise ValueError(f"{name}: expected the moving-shapes clips "
                         f"(mmcourse.load_dataset('moving_shapes')), got {describe(dataset)}")


def reversal_probe(dataset) -> dict:
    """(caption, clip) pairs for the reversal probe: the clip fits the caption, the clip played
    backwards does not (every caption with a moving object whose reversal no other object fits).

    Returns ``dict(caption_index=int64 (p,), clip_index=int64 (p,))``; score a model by whether
    it ranks ``clip`` above ``clip[::-1]`` for the caption (ties count ½).
    """
    _check_motion(dataset)
    frames = dataset.info.get("frames", 8)
    caps, clips = [], []
    for j, meaning in enumerate(dataset.meanings):
        k = int(dataset.caption_image[j])
        scene = dataset.scenes[k]
        backwards = tuple(o.reversed(frames) for o in scene)
        if grade(scene, meaning) > 0 and grade(backwards, meaning) == 0:
            caps.append(j)
            clips.append(k)
    return {"caption_index": np.asarray(caps, dtype=np.int64),
            "clip_index": np.asarray(clips, dtype=np.int64)}


def direction_probe(dataset) -> dict:
    """Each caption with a moving object against its direction-swapped twin, which its clip does not fit.

    Returns ``dict(clip_index=int64 (p,), caption_index=int64 (p,), positive=list[str],
    negative=list[str])``; score a model by whether the clip is closer to the positive (ties ½).
    """
    _check_motion(dataset)
    out = {"clip_index": [], "caption_index": [], "positive": [], "negative": []}
    for j, text in enumerate(dataset.captions):
        twin = direction_twin(text)
        if twin == text:
            continue
        k = int(dataset.caption_image[j])
        meaning = parse_caption(twin)
        if meaning is None or grade(dataset.scenes[k], meaning) > 0:
            continue
        out["clip_index"].append(k)
        out["caption_index"].append(j)
        out["positive"].append(text)
        out["negative"].append(twin)
    out["clip_index"] = np.asarray(out["clip_index"], dtype=np.int64)
    out["caption_index"] = np.asarray(out["caption_index"], dtype=np.int64)
    return out


def _attach(dataset, **options) -> Modality:
    """Clips exist only for datasets built with them; a still dataset has no motion to show."""
    if "video" in getattr(dataset, "modalities", ()):
        return dataset.modality("video")
    raise ValueError(f"dataset: {getattr(dataset, 'name', dataset)!r} has still images only, so "
                     "there is no motion to render; the clips are their own dataset: "
                     "mmcourse.load_dataset('moving_shapes')")


register_modality("video", _attach)

__all__ = ["load_moving_shapes", "reversal_probe", "direction_probe", "direction_twin",
           "MIN_FRAMES", "MAX_FRAMES"]
