"""CaptionDataset: validation, subsets, and relevance shapes for each relevance rule."""
from __future__ import annotations

import numpy as np
import pytest

from mmcourse.data import CaptionDataset, make_shapes
from mmcourse.data.shapes import relevance_matrix


def plain(n=4, cpi=2):
    return CaptionDataset(images=np.zeros((n, 8, 8, 3), np.uint8),
                          captions=[f"c{j}" for j in range(n * cpi)],
                          caption_image=np.repeat(np.arange(n), cpi),
                          split=["train", "train", "val", "test"][:n],
                          labels=np.eye(n, dtype=np.uint8), label_names=[f"l{i}" for i in range(n)])


@pytest.fixture(scope="module")
def shapes_ds():
    return make_shapes(50, seed=9, cache=False)


def test_paired_relevance_and_subset():
    ds = plain()
    rel = ds.text_image_relevance()
    assert rel.shape == (8, 4) and rel.dtype == np.float32
    assert (rel == np.repeat(np.eye(4, dtype=np.float32), 2, axis=0)).all()
    assert (ds.image_text_relevance() == rel.T).all()
    sub = ds.subset("train")
    assert sub.n_images == 2 and sub.captions == ["c0", "c1", "c2", "c3"]
    assert sub.caption_image.tolist() == [0, 0, 1, 1] and sub.name == "dataset/train"
    sub2 = ds.subset(image_indices=[3, 1])
    assert sub2.captions == ["c2", "c3", "c6", "c7"]
    assert sub2.caption_image.tolist() == [1, 1, 0, 0]
    assert sub2.text_image_relevance(caption_idx=[0], image_idx=[0, 1]).tolist() == [[0.0, 1.0]]


def test_shapes_relevance_is_graded_and_subsets_keep_structure(shapes_ds):
    test = shapes_ds.subset("test")
    assert test.relevance_rule == "shapes" and test.has_structure
    rel = test.text_image_relevance()
    assert rel.shape == (test.n_captions, test.n_images)
    np.testing.assert_array_equal(rel, relevance_matrix(test.meanings, test.scenes))
    allowed = np.array([0.0, 1 / 3, 0.5, 2 / 3, 1.0])  # described / present objects, 1-3 each
    assert np.isclose(rel[..., None], allowed, atol=1e-6).any(-1).all()
    binary = test.text_image_relevance(graded=False)
    assert set(np.unique(binary)) <= {0.0, 1.0} and ((binary > 0) == (rel > 0)).all()
    it = test.image_text_relevance(graded=True)
    assert (it == rel.T).all()
    part = test.text_image_relevance(caption_idx=[0, 5], image_idx=[2])
    assert part.shape == (2, 1) and part[0, 0] == rel[0, 2]


def test_image_image_relevance_shares_a_label(shapes_ds):
    rel = shapes_ds.image_image_relevance()
    lab = shapes_ds.labels.astype(int)
    assert (rel == ((lab @ lab.T) > 0)).all() and (np.diag(rel) == 1).all()


@pytest.mark.parametrize("field, value, arg", [
    ("caption_image", np.array([0, 9]), "caption_image"),
    ("split", ["train", "nope"], "split"),
    ("labels", np.zeros((3, 2)), "labels"),
    ("relevance_rule", "fuzzy", "relevance_rule"),
    ("images", np.zeros((2, 8, 8, 4)), "images"),
])
def test_validation_names_the_argument(field, value, arg):
    kw = dict(images=np.zeros((2, 8, 8, 3), np.uint8), captions=["a", "b"], caption_image=[0, 1],
              split=["train", "test"])
    kw[field] = value
    with pytest.raises(ValueError, match=arg):
        CaptionDataset(**kw)


def test_bad_indices_and_split():
    ds = plain()
    with pytest.raises(ValueError, match="split"):
        ds.subset("holdout")
    with pytest.raises(ValueError, match="caption_idx"):
        ds.text_image_relevance(caption_idx=[99])
    with pytest.raises(ValueError, match="image_indices"):
        ds.subset(image_indices=[7])
