"""Checkers for notebook 00 (welcome and data): tokenisation, image normalisation, a leakage
check across splits and "does this scene satisfy this caption". References:
``mmcourse.text.tokenize``, ``mmcourse.data.shapes.satisfies`` and a hash-based duplicate finder."""
from __future__ import annotations

import hashlib

import numpy as np

from ..check import expect_close, expect_equal, fail, register


@register("nb00-tokenize", twins=("mmcourse.text:tokenize",),
          why="Every text model starts here: the same caption must always give "
          "the same tokens, whatever its capitals and punctuation.")
def check_tokenize(tokenize_caption):
    from ...text import tokenize

    cases = ["a red circle", "A Red Circle.", "  a small blue square,  left of a star!  ",
             "Two objects: a green cross and an orange diamond", "", "...", "red-green 3 stars"]
    for text in cases:
        got = tokenize_caption(text)
        if not isinstance(got, list):
            fail(repr(text), "a list of strings", type(got).__name__, "return a list")
        expect_equal(got, tokenize(text), repr(text),
                     "lower-case the text and keep the runs of letters and digits "
                     "(re.findall is handy); punctuation and spaces separate tokens")


def normalize_reference(images, mean, std):
    x = np.asarray(images, dtype=np.float32) / 255.0
    return ((x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)


@register("nb00-normalize", twins=("mmcourse.grading.checks.nb00:normalize_reference",),
          why="Networks train best on inputs centred near 0 with unit spread; "
          "the same statistics must be used at training and at search time.")
def check_normalize(normalize_images):
    rng = np.random.default_rng(10)
    white = np.full((1, 2, 2, 3), 255, np.uint8)
    expect_close(normalize_images(white.copy(), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
                 np.ones((1, 2, 2, 3)), "white pixels, mean 0, std 1",
                 "first scale uint8 0..255 to float 0..1 (divide by 255)")
    imgs = rng.integers(0, 256, size=(3, 4, 5, 3), dtype=np.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    got = normalize_images(imgs.copy(), mean, std)
    expect_close(got, normalize_reference(imgs, mean, std), "3 random images, per-channel mean/std",
                 "(x / 255 - mean[c]) / std[c] for channel c, the LAST axis", rtol=1e-5, atol=1e-5)
    if np.asarray(got).dtype != np.float32:
        fail("3 random images", "dtype float32", f"dtype {np.asarray(got).dtype}",
             "convert with .astype(np.float32): float64 doubles memory for nothing")


def leaks_reference(images_a, images_b) -> np.ndarray:
    seen = {hashlib.sha1(np.ascontiguousarray(im).tobytes()).hexdigest() for im in images_a}
    return np.array([i for i, im in enumerate(images_b)
                     if hashlib.sha1(np.ascontiguousarray(im).tobytes()).hexdigest() in seen],
                    dtype=np.int64)


@register("nb00-leakage", twins=("mmcourse.grading.checks.nb00:leaks_reference", "mmcourse.data:check_split_leakage", "mmcourse.data:find_duplicates",),
          why="A test image that also sits in the training set makes every "
          "metric look better than the model is: check before you evaluate.")
def check_leakage(find_leaks):
    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, size=(6, 4, 4, 3), dtype=np.uint8)
    b = rng.integers(0, 256, size=(5, 4, 4, 3), dtype=np.uint8)
    expect_equal(np.asarray(find_leaks(a, b), dtype=np.int64), np.zeros(0, np.int64),
                 "no shared image", "return an empty integer array when nothing leaks")
    b2 = b.copy()
    b2[1], b2[4] = a[3], a[0]
    expect_equal(np.asarray(find_leaks(a, b2), dtype=np.int64), np.array([1, 4]),
                 "images 1 and 4 of the second set copied from the first",
                 "hash each image's bytes (im.tobytes()) and look the second set up in a set "
                 "of the first set's hashes; return sorted indices into the SECOND set")
    b3 = b.copy()
    b3[2] = a[5]
    b3[2, 0, 0, 0] ^= 1  # one bit differs: not an exact duplicate
    expect_equal(np.asarray(find_leaks(a, b3), dtype=np.int64), np.zeros(0, np.int64),
                 "an image that differs from a training image in one pixel value",
                 "only exact copies count here; compare full bytes, not a summary")
    c = np.concatenate([a[:2], a[:2]])
    expect_equal(np.asarray(find_leaks(a, c), dtype=np.int64), np.arange(4),
                 "a second set with internal duplicates", "report every leaked index once")


@register("nb00-satisfies", twins=("mmcourse.data.shapes:satisfies", "mmcourse.data.shapes:relevance", "mmcourse.data.shapes:relevance_matrix",),
          why="Knowing exactly which images satisfy a caption gives exact "
          "ground truth for text→image search, including images the caption was not written for.")
def check_satisfies(satisfies_caption):
    from ...data.shapes import Description, Meaning, SceneObject, satisfies

    red_left = SceneObject("circle", "red", "small", 0.2, 0.5)
    blue_right = SceneObject("square", "blue", "large", 0.8, 0.5)
    red_sq = SceneObject("square", "red", "large", 0.5, 0.2)
    scene = (red_left, blue_right)
    cases = [
        ("'a red circle' on a red circle + blue square", Meaning((Description("circle", "red"),)), scene),
        ("'a blue circle' (no such object)", Meaning((Description("circle", "blue"),)), scene),
        ("'a large square' (size counts)", Meaning((Description("square", None, "large"),)), scene),
        ("'a small square' (wrong size)", Meaning((Description("square", None, "small"),)), scene),
        ("'a red circle left of a blue square' (true)",
         Meaning((Description("circle", "red"), Description("square", "blue")), "left_of"), scene),
        ("'a blue square left of a red circle' (false: arguments swapped)",
         Meaning((Description("square", "blue"), Description("circle", "red")), "left_of"), scene),
        ("'a red object and a red square' needs TWO different objects",
         Meaning((Description(None, "red"), Description("square", "red"))), (red_sq,)),
        ("'a red object and a red square' with two red objects",
         Meaning((Description(None, "red"), Description("square", "red"))), (red_left, red_sq)),
        ("'a circle above a square' (circle is not above)",
         Meaning((Description("circle"), Description("square")), "above"), (red_left, red_sq)),
        ("'a square above a circle'",
         Meaning((Description("square"), Description("circle")), "above"), (red_left, red_sq)),
    ]
    for case, meaning, sc in cases:
        got = satisfies_caption(meaning, sc)
        if not isinstance(got, (bool, np.bool_)):
            fail(case, "True or False", repr(got), "return a bool")
        expect_equal(bool(got), bool(satisfies(meaning, sc)), case,
                     "try every assignment of descriptions to DIFFERENT objects "
                     "(itertools.permutations(range(len(scene)), len(meaning.objects))); an "
                     "assignment works when each description matches its object and, if there is "
                     "a relation, relation_holds(relation, a.x, a.y, b.x, b.y) for the first two")
