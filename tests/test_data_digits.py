"""scikit-learn digits as a captioned dataset with class-based relevance."""
from __future__ import annotations

import numpy as np
import pytest

import mmcourse
from mmcourse.data.digits import DIGIT_WORDS, load_digits


@pytest.fixture(scope="module")
def digits():
    return mmcourse.load_dataset("digits")


def test_layout(digits):
    from sklearn.datasets import load_digits as sk

    target = sk().target
    assert digits.images.shape == (1797, 32, 32, 3) and digits.images.dtype == np.uint8
    assert digits.n_captions == 5 * 1797
    assert [int((digits.split == s).sum()) for s in ("train", "val", "test")] == [1197, 200, 400]
    assert (digits.labels.argmax(1) == target).all() and (digits.labels.sum(1) == 1).all()
    assert digits.label_names == list(DIGIT_WORDS)
    # grey scans: the three channels are equal; ink is bright
    assert (digits.images[..., 0] == digits.images[..., 2]).all() and digits.images.max() == 255


def test_captions_name_the_right_digit(digits):
    for i in range(0, 1797, 97):
        d = int(digits.labels[i].argmax())
        caps = digits.captions_of(i)
        assert len(set(caps)) == 5
        assert all(DIGIT_WORDS[d] in c.split() or str(d) in c.split() for c in caps), caps


def test_class_relevance_in_subsets(digits):
    test = digits.subset("test")
    assert test.relevance_rule == "class"
    rel = test.text_image_relevance()
    cls_img = test.labels.argmax(1)
    expected = (cls_img[test.caption_image][:, None] == cls_img[None, :]).astype(np.float32)
    assert rel.shape == (2000, 400) and (rel == expected).all()
    # image->text keeps the paired protocol by default
    it = test.image_text_relevance()
    assert (it.sum(1) == 5).all()


def test_seeded_split_and_bad_arguments():
    a = load_digits(seed=1, image_size=16)
    b = load_digits(seed=1, image_size=16)
    assert (a.split == b.split).all() and a.captions == b.captions
    assert a.images.shape[1:] == (16, 16, 3)
    with pytest.raises(ValueError, match="split_sizes"):
        load_digits(split_sizes=(10, 10, 10))
    with pytest.raises(ValueError, match="image_size"):
        load_digits(image_size=4)
