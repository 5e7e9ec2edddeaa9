"""Named modalities of a dataset: the registry, get / modality / with_modality, subsets that carry an
attached modality, sample_rate, and load_dataset(modalities=...). Uses a tiny fake modality."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import mmcourse
from mmcourse.data import CaptionDataset, Modality, make_shapes, register_modality
from mmcourse.data import modalities as M


class LazyWaves:
    """A lazy sequence: item j is rendered on access; ``take`` returns the same kind."""

    def __init__(self, caption_ids):
        self.caption_ids = np.asarray(caption_ids, dtype=np.int64)
        self.rendered = 0

    def __len__(self):
        return len(self.caption_ids)

    def __getitem__(self, k):
        self.rendered += 1
        return np.full(4, float(self.caption_ids[k]), dtype=np.float32)

    def take(self, indices):
        return LazyWaves(self.caption_ids[np.asarray(indices, dtype=np.int64)])


def attach_fake(dataset, rate=8000):
    """One fake 'spoken' item per caption, in reverse caption order (so indices are not trivial)."""
    order = np.arange(dataset.n_captions)[::-1].copy()
    return Modality("fakeaudio", LazyWaves(order), dataset.caption_image[order], "description",
                    order, {"sample_rate": rate})


def attach_fake_video(dataset):
    """One fake 'video' per image (a scene modality), stored as a numpy array."""
    return Modality("fakevideo", np.arange(dataset.n_images) * 10, np.arange(dataset.n_images),
                    "scene", info={"fps": 2})


register_modality("fakeaudio", attach_fake)
register_modality("fakevideo", attach_fake_video)


def plain(n=4, cpi=2):
    return CaptionDataset(images=np.zeros((n, 8, 8, 3), np.uint8),
                          captions=[f"c{j}" for j in range(n * cpi)],
                          caption_image=np.repeat(np.arange(n), cpi),
                          split=["train", "train", "val", "test"][:n])


@pytest.fixture(scope="module")
def shapes_small():
    return make_shapes(40, seed=3, cache=False)


def test_builtin_modalities_and_get():
    ds = plain()
    assert ds.modalities == ("image", "text")
    assert ds.get("image") is ds.images and ds.get("text") is ds.captions
    img, txt = ds.modality("image"), ds.modality("text")
    assert img.role == "scene" and txt.role == "description"
    assert txt.scene_index.tolist() == ds.caption_image.tolist()
    assert txt.content_index.tolist() == list(range(8)) and len(img) == 4
    assert ds.count("text") == 8 and ds.count("image") == 4
    with pytest.raises(ValueError, match=r"modality.*'image', 'text'.*'audio'"):
        ds.get("audio")
    with pytest.raises(ValueError, match="modality"):
        ds.get(3)


def test_with_modality_returns_a_new_dataset_and_is_lazy():
    ds = plain()
    ds2 = ds.with_modality("fakeaudio", rate=16000)
    assert ds.modalities == ("image", "text")  # unchanged: with_modality returns a new dataset
    assert ds2.modalities == ("image", "text", "fakeaudio") and ds2.images is ds.images
    items = ds2.get("fakeaudio")
    assert isinstance(items, LazyWaves) and items.rendered == 0 and len(items) == 8
    assert items[0][0] == 7.0 and ds2.sample_rate == 16000
    assert ds2.modality("fakeaudio").info == {"sample_rate": 16000}
    assert "8 fakeaudio" in repr(ds2)
    assert ds2.without_modality("fakeaudio").modalities == ("image", "text")
    direct = ds.with_modality(attach_fake(ds))
    assert direct.modalities == ds2.modalities


def test_sample_rate_without_audio_names_it():
    with pytest.raises(ValueError, match="sample_rate.*audio"):
        plain().sample_rate


def test_subset_carries_and_reindexes_modalities(shapes_small):
    ds = shapes_small.with_modality("fakeaudio").with_modality("fakevideo")
    test = ds.subset("test")
    audio, video = test.modality("fakeaudio"), test.modality("fakevideo")
    assert isinstance(audio.items, LazyWaves) and len(audio) == test.n_captions
    # each kept item still carries the caption it carried in the parent, now re-indexed
    parent_caps = np.flatnonzero(ds.split[ds.caption_image] == "test")
    for k in range(len(audio)):
        j = audio.content_index[k]
        assert test.captions[j] == ds.captions[audio.items.caption_ids[k]]
        assert audio.scene_index[k] == test.caption_image[j]
        assert audio.items.caption_ids[k] in parent_caps
    keep = np.flatnonzero(ds.split == "test")
    assert video.items.tolist() == (keep * 10).tolist()
    assert video.scene_index.tolist() == video.content_index.tolist() == list(range(len(keep)))
    sub = ds.subset(image_indices=[5, 2])
    assert sub.modality("fakevideo").items.tolist() == [20, 50]
    assert sub.modality("fakevideo").scene_index.tolist() == [1, 0]
    assert sorted(sub.modality("fakeaudio").scene_index.tolist()) == [0] * 5 + [1] * 5
    # the rule object travels with the subset
    assert sub.rule is ds.rule and test.relevance_rule == "shapes"


def test_take_items_kinds():
    assert M.take_items([1, 2, 3], [2, 0]) == [3, 1]
    assert M.take_items((1, 2, 3), [1]) == (2,)
    np.testing.assert_array_equal(M.take_items(np.arange(12).reshape(4, 3), [3]), [[9, 10, 11]])
    assert M.take_items(LazyWaves([4, 5]), [1]).caption_ids.tolist() == [5]


@pytest.mark.parametrize("kwargs, arg", [
    (dict(name="bad name", items=[1], scene_index=[0], content_index=[0]), "name"),
    (dict(name="x", items=[1], scene_index=[0], role="sound", content_index=[0]), "role"),
    (dict(name="x", items=[1, 2], scene_index=[0], content_index=[0]), "scene_index"),
    (dict(name="x", items=[1], scene_index=[0.5], content_index=[0]), "scene_index"),
    (dict(name="x", items=[1], scene_index=[0]), "content_index"),
    (dict(name="x", items=5, scene_index=[0], content_index=[0]), "items"),
    (dict(name="x", items=[1], scene_index=[0], content_index=[0], info=[]), "info"),
])
def test_modality_validation_names_the_argument(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        Modality(**kwargs)


def test_attached_indices_are_checked_against_the_dataset():
    ds = plain()
    with pytest.raises(ValueError, match="scene_index"):
        ds.with_modality(Modality("x", [0], [9], "description", [0]))
    with pytest.raises(ValueError, match="content_index"):
        ds.with_modality(Modality("x", [0], [0], "description", [99]))
    with pytest.raises(ValueError, match="scene_index.*belong"):  # caption 2 is of image 1
        ds.with_modality(Modality("x", [0], [0], "description", [2]))
    with pytest.raises(ValueError, match="name"):
        ds.with_modality("image")
    with pytest.raises(ValueError, match="name.*registered"):
        ds.with_modality("nosuchmodality")
    with pytest.raises(ValueError, match="extras"):
        CaptionDataset(images=ds.images, captions=ds.captions, caption_image=ds.caption_image,
                       split=ds.split, extras={"y": Modality("x", [0], [0], "description", [0])})


def test_register_modality_validation():
    with pytest.raises(ValueError, match="name"):
        register_modality("text", attach_fake)
    with pytest.raises(ValueError, match="attach"):
        register_modality("fakeother", "not callable")
    assert "fakeaudio" in M.registered_modalities()


def test_load_dataset_attaches_registered_modalities():
    ds = mmcourse.load_dataset("digits", modalities=("image", "text", "fakeaudio"))
    assert ds.modalities == ("image", "text", "fakeaudio") and ds.sample_rate == 8000
    assert mmcourse.load_dataset("digits", modalities=("image", "text")).modalities == ("image", "text")


@pytest.mark.parametrize("modalities, match", [
    (("image", "text", "nosuchmodality"), "modalities.*nosuchmodality"),
    (("image", "text", "text"), "modalities.*once"),
    (("image", "fakeaudio"), "modalities.*'text'"),
    ("image", "modalities.*tuple"),
    (("image", "text", 3), "modalities"),
])
def test_load_dataset_bad_modalities(modalities, match):
    with pytest.raises(ValueError, match=match):
        mmcourse.load_dataset("digits", modalities=modalities)


def test_unavailable_modality_names_modalities():
    def attach_never(dataset):
        raise ValueError(f"dataset: expected the shapes scenes, got {dataset.name!r}")

    def attach_no_file(dataset):
        raise FileNotFoundError("path: the material 'x.npz' does not exist")

    def attach_own_message(dataset):
        raise ValueError("modalities: 'fakeown' can only speak the shapes vocabulary")

    register_modality("fakeunavailable", attach_never)
    register_modality("fakenofile", attach_no_file)
    register_modality("fakeown", attach_own_message)
    with pytest.raises(ValueError, match="modalities.*'fakeunavailable'.*not available.*digits"):
        mmcourse.load_dataset("digits", modalities=("image", "text", "fakeunavailable"))
    with pytest.raises(ValueError, match="modalities.*'fakenofile'.*not available.*x.npz"):
        mmcourse.load_dataset("digits", modalities=("image", "text", "fakenofile"))
    with pytest.raises(ValueError, match="^modalities: 'fakeown' can only"):
        mmcourse.load_dataset("digits", modalities=("image", "text", "fakeown"))


def test_provider_module_is_imported_lazily(monkeypatch, tmp_path):
    """A modality's provider module (PROVIDERS[name], e.g. 'audio' -> mmcourse.data.speech) is
    imported only when the modality is requested, and registers it on import."""
    assert M.PROVIDERS["audio"] == "mmcourse.data.speech"
    (tmp_path / "fake_provider_mod.py").write_text(
        "from mmcourse.data import Modality, register_modality\n"
        "def attach(ds):\n"
        "    return Modality('fakelazy', list(range(ds.n_images)), list(range(ds.n_images)), 'scene')\n"
        "register_modality('fakelazy', attach)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(M.PROVIDERS, "fakelazy", "fake_provider_mod")
    monkeypatch.setitem(M.PROVIDERS, "fakeabsent", "fake_provider_mod_absent")
    monkeypatch.setattr(M, "_REGISTRY", dict(M._REGISTRY))  # registration undone after the test
    monkeypatch.delitem(sys.modules, "fake_provider_mod", raising=False)
    assert "fakelazy" not in M.registered_modalities()
    ds = mmcourse.load_dataset("digits", modalities=("image", "text", "fakelazy"))
    assert ds.modalities[-1] == "fakelazy" and len(ds.get("fakelazy")) == ds.n_images
    with pytest.raises(ValueError, match="modalities.*fakeabsent"):
        mmcourse.load_dataset("digits", modalities=("image", "text", "fakeabsent"))
