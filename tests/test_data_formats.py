"""Real-format loaders (COCO captions, Karpathy JSON, Flickr8k) on tiny fixtures, bad cases included."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import mmcourse
from mmcourse.data import load_coco_captions, load_flickr8k, load_karpathy
from mmcourse.data.formats import detect_format, load_image, seeded_split

FIX = Path(__file__).parent / "fixtures"


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_coco_loads_good_items_and_reports_every_skip():
    with pytest.warns(UserWarning, match=r"skipped 5 items") as rec:
        ds = load_coco_captions(FIX / "coco" / "captions_val2014.json", FIX / "coco" / "images",
                                image_size=16)
    msg = str(rec[0].message)
    for reason in ("missing image file", "unreadable image file", "caption without an image",
                   "malformed annotation", "image without captions"):
        assert reason in msg and ds.info["skipped"][reason] == 1
    assert ds.image_ids == ["a.jpg", "b.png", "c.jpg", "d.png"]
    assert ds.images.shape == (4, 16, 16, 3) and ds.images.dtype == np.uint8
    assert ds.captions_of(0) == ["caption 0 of image 1.", "caption 1 of image 1.", "caption 8 of image 1."]
    assert ds.captions_of(1) == ["caption 2 of image 2.", "caption 3 of image 2."]
    assert ds.info["format"] == "coco" and ds.info["split_source"].startswith("seeded")
    rel = ds.text_image_relevance()
    assert (rel == (ds.caption_image[:, None] == np.arange(4)[None, :])).all()


def test_karpathy_splits_restval_and_skips():
    with pytest.warns(UserWarning, match="skipped 3 items"):
        ds = load_karpathy(FIX / "karpathy" / "dataset_flickr8k.json", FIX / "karpathy" / "images",
                           image_size=16)
    assert ds.image_ids == ["a.jpg", "b.png", "c.jpg", "d.png"]
    assert ds.split.tolist() == ["train", "train", "val", "test"]  # restval -> train
    assert ds.info["skipped"] == {"unknown split": 1, "missing image file": 1,
                                  "unreadable image file": 1}
    assert ds.name == "flickr8k" and ds.captions[0] == "A picture 0 of a.jpg ."


def test_flickr8k_bad_lines_and_split_files():
    with pytest.warns(UserWarning, match=r"\.jpg\.1#0"):
        ds = load_flickr8k(FIX / "flickr8k" / "Flickr8k.token.txt",
                           FIX / "flickr8k" / "Flicker8k_Dataset", image_size=16)
    assert ds.info["skipped"] == {"malformed line": 3, "image not listed in any split file": 1,
                                  "missing image file": 1}
    assert ds.split.tolist() == ["train", "train", "val", "test"]
    assert [len(ds.captions_of(i)) for i in range(4)] == [2, 2, 2, 2]
    assert ds.info["split_source"] == "source"


def test_flickr8k_without_split_files_uses_seeded_split(tmp_path):
    shutil.copy(FIX / "flickr8k" / "Flickr8k.token.txt", tmp_path)
    ds = _quiet(load_flickr8k, tmp_path / "Flickr8k.token.txt", FIX / "flickr8k" / "Flicker8k_Dataset",
                image_size=16)
    assert ds.n_images == 5 and ds.info["split_source"].startswith("seeded")


@pytest.mark.parametrize("folder, fmt", [("coco", "coco"), ("karpathy", "karpathy"),
                                         ("flickr8k", "flickr8k")])
def test_load_dataset_detects_format_from_folder_and_file(folder, fmt):
    ds = _quiet(mmcourse.load_dataset, str(FIX / folder), image_size=20)
    assert ds.info["format"] == fmt and ds.images.shape[1:] == (20, 20, 3) and ds.n_images == 4
    found, ann = detect_format(FIX / folder)
    assert found == fmt
    again = _quiet(mmcourse.load_dataset, ann, image_size=20, format=fmt)
    assert again.images.tobytes() == ds.images.tobytes()


def test_max_images_and_strict():
    ds = _quiet(mmcourse.load_dataset, FIX / "karpathy", max_images=2, image_size=16)
    assert ds.n_images == 2
    with pytest.raises(ValueError, match="strict=True"):
        mmcourse.load_dataset(FIX / "karpathy", strict=True)
    with pytest.raises(ValueError, match=r"malformed line.*\.jpg\.1"):
        mmcourse.load_dataset(FIX / "flickr8k", strict=True)


def test_strict_passes_on_a_clean_file(tmp_path):
    images = [{"filepath": "images", "filename": f, "split": s,
               "sentences": [{"raw": f"a photo of {f}"}]} for f, s in (("a.jpg", "train"), ("c.jpg", "test"))]
    images.append({"filepath": "images", "filename": "b.png", "split": "val",
                   "sentences": [{"tokens": ["only", "tokens"]}]})  # COCO-style filepath
    path = tmp_path / "dataset_clean.json"
    path.write_text(json.dumps({"images": images}), encoding="utf-8-sig")  # a BOM is tolerated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_karpathy(path, FIX / "karpathy", image_size=8, strict=True)
    assert ds.n_images == 3 and ds.info["skipped"] == {}
    assert ds.captions == ["a photo of a.jpg", "a photo of c.jpg", "only tokens"]
    assert ds.split.tolist() == ["train", "test", "val"]


def test_invalid_json_names_the_file():
    with pytest.raises(ValueError, match=r"captions_bad\.json is not valid JSON"):
        load_coco_captions(FIX / "coco_invalid" / "captions_bad.json", FIX / "coco" / "images")
    with pytest.raises(ValueError, match="not valid JSON"):
        mmcourse.load_dataset(FIX / "coco_invalid" / "captions_bad.json")


def test_wrong_structure_and_missing_paths(tmp_path):
    (tmp_path / "captions_x.json").write_text(json.dumps({"images": 3}))
    with pytest.raises(ValueError, match="not a COCO captions file"):
        load_coco_captions(tmp_path / "captions_x.json", FIX / "coco" / "images")
    with pytest.raises(ValueError, match="annotation_json"):
        load_coco_captions(tmp_path / "nope.json", FIX / "coco" / "images")
    with pytest.raises(ValueError, match="image_dir"):
        load_karpathy(FIX / "karpathy" / "dataset_flickr8k.json", tmp_path / "no_images")
    with pytest.raises(ValueError, match="name"):
        mmcourse.load_dataset(str(tmp_path / "does_not_exist"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="name: no dataset_"):
        mmcourse.load_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="format"):
        mmcourse.load_dataset(FIX / "coco", format="parquet")
    with pytest.raises(ValueError, match="image_size"):
        mmcourse.load_dataset(FIX / "coco", image_size=0)
    with pytest.raises(ValueError, match="max_images"):
        mmcourse.load_dataset(FIX / "coco", max_images=0)


def test_no_usable_images_is_an_error(tmp_path):
    (tmp_path / "Flickr8k.token.txt").write_text("missing.jpg#0\tA caption .\n")
    with pytest.raises(ValueError, match="no usable image"):
        _quiet(load_flickr8k, tmp_path / "Flickr8k.token.txt", tmp_path)


def test_load_image_centre_crops_and_resizes():
    img = load_image(FIX / "coco" / "images" / "b.png", 6)  # 12x8: grey left half, colour right half
    assert img.shape == (6, 6, 3) and img.dtype == np.uint8
    # the central 8x8 crop keeps grey columns 2-5 on the left and colour columns 6-9 on the right
    assert (img[:, 0] == 90).all() and not (img[:, -1] == 90).all()


def test_seeded_split_is_reproducible():
    a, b = seeded_split(50, seed=1), seeded_split(50, seed=1)
    assert (a == b).all() and (a == "val").sum() == 5 and (a == "test").sum() == 5


def test_the_shipped_flickr8k_sample_loads_through_the_real_loader():
    """data/samples/flickr8k is in Flickr8k's own layout: the learner's real-data path, end to end."""
    import mmcourse

    path = mmcourse.data.sample_path("flickr8k")
    assert (path / "Flickr8k.token.txt").is_file() and (path / "Flicker8k_Dataset").is_dir()
    ds = mmcourse.load_dataset(path, image_size=32, progress=False)
    assert ds.n_images == 600 and len(ds.captions) == 3000
    assert [int((ds.split == s).sum()) for s in ("train", "val", "test")] == [400, 100, 100]
    test = ds.subset("test")
    rel = test.text_image_relevance()
    assert np.array_equal(rel > 0, test.caption_image[:, None] == np.arange(test.n_images)[None, :])


def test_sample_path_names_its_argument():
    import mmcourse

    with pytest.raises(ValueError, match="name"):
        mmcourse.data.sample_path("coco")
