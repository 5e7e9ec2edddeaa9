"""Duplicate detection and split-leakage checks."""
from __future__ import annotations

import numpy as np
import pytest

from mmcourse.data import CaptionDataset, check_split_leakage, find_duplicates, make_shapes
from mmcourse.data.dedup import image_hashes


def tiny(images, captions, caption_image, split, **kw):
    return CaptionDataset(images=images, captions=captions, caption_image=caption_image,
                          split=split, **kw)


def test_find_duplicates_hand_case():
    imgs = np.zeros((4, 4, 4, 3), dtype=np.uint8)
    imgs[1, 0, 0, 0] = 1  # 0, 2, 3 identical; 1 differs
    ds = tiny(imgs, ["a cat", "a dog", "a cat", "a cow", "a cat"], [0, 1, 2, 3, 3],
              ["train", "train", "val", "test"])
    d = find_duplicates(ds)
    assert [g.tolist() for g in d["image_groups"]] == [[0, 2, 3]]
    assert [(c, g.tolist()) for c, g in d["caption_groups"]] == [("a cat", [0, 2, 4])]
    assert d["n_duplicate_images"] == 2 and d["n_duplicate_captions"] == 2
    leak = check_split_leakage(ds)
    assert leak["n_images_across_splits"] == 1 and not leak["leak_free"]
    assert leak["scenes_across_splits"] is None
    assert leak["captions_across_splits"]["train-val"] == {"shared_strings": 1,
                                                         "fraction_of_val_captions": 1.0}
    assert leak["captions_across_splits"]["train-test"]["fraction_of_test_captions"] == 0.5
    assert "not image leakage" in leak["note"]


def test_same_split_duplicates_are_not_leakage():
    imgs = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    ds = tiny(imgs, ["x", "y"], [0, 1], ["train", "train"])
    assert find_duplicates(ds)["n_duplicate_images"] == 1
    assert check_split_leakage(ds)["leak_free"]


def test_image_hash_depends_on_content_and_shape():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = np.zeros((1, 2, 8, 3), np.uint8)
    h = image_hashes(a) + image_hashes(b)
    assert h[0] == h[1] != h[2]


def test_shapes_dataset_is_leak_free_and_detects_planted_scene():
    ds = make_shapes(200, seed=2, cache=False)
    leak = check_split_leakage(ds)
    assert leak["leak_free"] and leak["n_scenes_across_splits"] == 0
    assert leak["n_images_across_splits"] == 0
    # plant: a test image gets a train image's scene (with different noise) -> scene leakage
    test_i = int(np.flatnonzero(ds.split == "test")[0])
    ds.scenes[test_i] = ds.scenes[0]
    leak = check_split_leakage(ds)
    assert leak["n_scenes_across_splits"] == 1 and leak["n_images_across_splits"] == 0
    assert not leak["leak_free"]
    assert sorted(leak["scenes_across_splits"][0].tolist()) == [0, test_i]


def test_bad_input():
    with pytest.raises(ValueError, match="dataset"):
        find_duplicates([1, 2])
    with pytest.raises(ValueError, match="dataset"):
        check_split_leakage(None)
