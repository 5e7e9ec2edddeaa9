"""The checkers of notebook 08 (video retrieval) accept the solution notebook's own answers, reject
classic mistakes with a hint, give 0 to an answer that delegates to ``mmcourse.video``, and never
raise, whatever the answer does."""
from __future__ import annotations

import numpy as np
import pytest

import mmcourse
from mmcourse import video
from mmcourse.grading.check import known_ids, twins_of
from solution_answers import answers

_SOL = answers("08_video_retrieval")
_NAMES = {"nb08-sample": "sample_frames", "nb08-meanpool": "mean_pool",
          "nb08-conv3d-shape": "conv3d_output_shape", "nb08-conv3d": "conv3d",
          "nb08-motion": "frame_differences", "nb08-probe": "pairwise_accuracy"}
#: the twin in mmcourse.video of each exercise (what a delegating answer calls)
_TWINS = {"nb08-sample": "sample_frames", "nb08-meanpool": "temporal_mean_pool",
          "nb08-conv3d-shape": "conv3d_output_shape", "nb08-conv3d": "conv3d",
          "nb08-motion": "frame_differences", "nb08-probe": "pairwise_accuracy"}
#: the solution notebook's answers (written with numpy, never delegating to the package)
RIGHT = {gid: _SOL[gid][name] for gid, name in _NAMES.items()}
_r = RIGHT


# ------------------------------------------------------------------------------------------------
# classic mistakes
# ------------------------------------------------------------------------------------------------
def _sample_first_k(n_frames, k):
    if k > n_frames:
        raise ValueError("k: too many")
    return np.arange(k)


def _sample_segment_starts(n_frames, k):                      # floor(i n / k): segment starts
    if k > n_frames:
        raise ValueError("k: too many")
    return np.floor(np.arange(k) * n_frames / k).astype(np.int64)


def _sample_rounded(n_frames, k):                             # round instead of floor
    if k > n_frames:
        raise ValueError("k: too many")
    return np.round((np.arange(k) + 0.5) * n_frames / k).astype(np.int64)


def _sample_floats(n_frames, k):                              # forgets the integer dtype
    if k > n_frames:
        raise ValueError("k: too many")
    return np.floor((np.arange(k) + 0.5) * n_frames / k)


def _sample_no_error(n_frames, k):                            # k > n_frames repeats frames silently
    return np.floor((np.arange(k) + 0.5) * n_frames / k).astype(np.int64)


def _mask(f, lengths):
    return np.arange(f.shape[1])[None, :] < np.asarray(lengths)[:, None]


def _pool_divide_by_T(features, lengths):
    f = np.asarray(features, dtype=np.float64)
    return (f * _mask(f, lengths)[..., None]).sum(axis=1) / f.shape[1]


def _conv_flipped(x, weight, bias=None, stride=1, padding=0):   # a true convolution
    return _r["nb08-conv3d"](x, np.asarray(weight)[:, :, ::-1, ::-1, ::-1], bias, stride, padding)


def _shape_no_padding(input_shape, kernel_size, stride, padding):
    return tuple((x - k) // s + 1 for x, k, s in zip(input_shape, kernel_size, stride))


def _shape_padding_once(input_shape, kernel_size, stride, padding):
    return tuple((x + p - k) // s + 1 for x, k, s, p in zip(input_shape, kernel_size, stride, padding))


def _motion_uint8(clip):                                      # uint8 subtraction wraps around
    c = np.asarray(clip)
    if c.shape[0] < 2:
        raise ValueError("clip: one frame")
    return np.abs(c[1:] - c[:-1]).mean(axis=-1)


def _motion_float(clip):
    c = np.asarray(clip, dtype=np.float64)
    if c.shape[0] < 2:
        raise ValueError("clip: one frame")
    return np.abs(c[1:] - c[:-1])


def _probe_no_shape_check(p, n):
    p, n = np.asarray(p, float), np.asarray(n, float)
    return float(np.mean((p > n) + 0.5 * (p == n)))


WRONG = {
    "nb08-sample": [_sample_first_k, _sample_segment_starts, _sample_rounded, _sample_floats,
                    _sample_no_error],
    "nb08-meanpool": [
        _pool_divide_by_T,
        lambda f, lengths: np.asarray(f, dtype=np.float64).mean(axis=1),           # ignores lengths
        lambda f, lengths: np.asarray(f, dtype=np.float64).mean(axis=0),           # over the clips
        lambda f, lengths: np.asarray(f, dtype=np.float64).mean(axis=2)],          # over features
    "nb08-conv3d-shape": [
        lambda i, k, s, p: tuple((x + 2 * q - kk) // ss for x, kk, ss, q in zip(i, k, s, p)),  # no +1
        lambda i, k, s, p: tuple(-(-(x + 2 * q - kk) // ss) + 1                                 # ceil
                                 for x, kk, ss, q in zip(i, k, s, p)),
        _shape_no_padding, _shape_padding_once],
    "nb08-conv3d": [
        _conv_flipped,
        lambda x, w, b=None, stride=1, padding=0: _r["nb08-conv3d"](x, w, None, stride, padding),
        lambda x, w, b=None, stride=1, padding=0: _r["nb08-conv3d"](x, w, b, 1, padding),
        lambda x, w, b=None, stride=1, padding=0: _r["nb08-conv3d"](x, w, b, stride, 0)],
    "nb08-motion": [
        _motion_uint8,
        lambda clip: _motion_float(clip).sum(axis=-1),                             # sums channels
        _motion_float,                                                             # keeps channels
        lambda clip: _motion_float(clip).max(axis=-1),                             # max, not mean
        lambda clip: np.abs(np.diff(np.asarray(clip, float), axis=0, prepend=np.asarray(clip, float)[:1]))
        .mean(axis=-1)],                                                           # T outputs
    "nb08-probe": [
        lambda p, n: float(np.mean(np.asarray(p) > np.asarray(n))),                # ties count 0
        lambda p, n: float(np.mean(np.asarray(p) >= np.asarray(n))),               # ties count 1
        lambda p, n: float(np.mean(np.asarray(p) < np.asarray(n))
                           + 0.5 * np.mean(np.asarray(p) == np.asarray(n))),        # reversed
        _probe_no_shape_check],
}

#: answers that hand the exercise to mmcourse.video (each must score 0)
DELEGATING = {
    "nb08-sample": lambda n_frames, k: video.sample_frames(n_frames, k),
    "nb08-meanpool": lambda features, lengths: video.temporal_mean_pool(features, lengths),
    "nb08-conv3d-shape": lambda i, k, s, p: video.conv3d_output_shape(i, k, s, p),
    "nb08-conv3d": lambda x, w, b=None, stride=1, padding=0: video.conv3d(x, w, b, stride, padding),
    "nb08-motion": lambda clip: video.frame_differences(clip),
    "nb08-probe": lambda p, n: video.pairwise_accuracy(p, n),
}


def test_every_exercise_of_the_notebook_has_a_checker():
    ids = {gid for gid in known_ids() if gid.startswith("nb08-")}
    assert ids == set(RIGHT)


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
def test_each_checker_names_its_twin_in_mmcourse_video(grade_id):
    assert twins_of(grade_id) == (f"mmcourse.video:{_TWINS[grade_id]}",)


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
def test_reference_answer_passes(grade_id, capsys):
    ok = mmcourse.check(grade_id, RIGHT[grade_id])
    out = capsys.readouterr().out
    assert ok is True, out
    assert out.startswith(f"✓ {grade_id}"), out


@pytest.mark.parametrize("grade_id, i", [(g, i) for g in sorted(WRONG) for i in range(len(WRONG[g]))])
def test_classic_mistake_fails_with_a_hint(grade_id, i, capsys):
    assert mmcourse.check(grade_id, WRONG[grade_id][i]) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {grade_id}: "), out
    assert "Hint:" in out, out


@pytest.mark.parametrize("grade_id, wrong, words", [
    ("nb08-sample", _sample_first_k, "not the first k"),
    ("nb08-sample", _sample_segment_starts, "centre"),
    ("nb08-sample", _sample_floats, "integer"),
    ("nb08-sample", _sample_no_error, "raise ValueError('k: ...')"),
    # the checker tests f[:, :2].sum(1) / 3, not what dividing by T gives for lengths [1, 2]
    ("nb08-meanpool", _pool_divide_by_T, "divide by lengths[i], not by T"),
    ("nb08-meanpool", WRONG["nb08-meanpool"][1], "padding"),
    ("nb08-meanpool", WRONG["nb08-meanpool"][2], "not over the clips"),
    ("nb08-conv3d-shape", WRONG["nb08-conv3d-shape"][0], "the first window counts too"),
    ("nb08-conv3d-shape", WRONG["nb08-conv3d-shape"][1], "round down"),
    ("nb08-conv3d", _conv_flipped, "flipped kernel"),
    ("nb08-conv3d", WRONG["nb08-conv3d"][1], "bias"),
    ("nb08-motion", _motion_float, "average the absolute differences over the colour channels"),
    # the uint8 answer gives at most 196 on the checker's first clip, under its threshold of 200
    ("nb08-motion", _motion_uint8, "convert to float"),
    # T outputs for T frames fail the first case's shape before the "T - 1" hint is reached
    ("nb08-motion", WRONG["nb08-motion"][4], "T - 1"),
    ("nb08-probe", WRONG["nb08-probe"][0], "not 0"),
    ("nb08-probe", WRONG["nb08-probe"][1], "not 1"),
    ("nb08-probe", _probe_no_shape_check, "negative_scores"),
])
def test_classic_mistake_gets_its_own_hint(grade_id, wrong, words, capsys):
    assert mmcourse.check(grade_id, wrong) is False
    out = capsys.readouterr().out
    assert words in out, out


@pytest.mark.parametrize("grade_id", sorted(DELEGATING))
def test_delegating_answer_scores_zero(grade_id, capsys):
    assert mmcourse.check(grade_id, DELEGATING[grade_id]) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {grade_id}: "), out
    assert "mmcourse's own" in out and "scores 0" in out, out
    # the package itself is left working (the sentinels are gone)
    assert list(video.sample_frames(8, 4)) == [1, 3, 5, 7]
    assert video.temporal_mean_pool(np.ones((2, 3, 4)), [1, 3]).shape == (2, 4)
    assert video.conv3d_output_shape((8, 32, 32), 3, 1, 1) == (8, 32, 32)
    assert video.conv3d(np.ones((1, 1, 2, 2, 2)), np.ones((1, 1, 2, 2, 2))).item() == 8.0
    assert video.frame_differences(np.zeros((2, 1, 1, 3), np.uint8)).shape == (1, 1, 1)
    assert video.pairwise_accuracy([1.0], [1.0]) == 0.5
    assert getattr(video, _TWINS[grade_id]).__module__ == "mmcourse.video"
    assert mmcourse.check(grade_id, RIGHT[grade_id]) is True


@pytest.mark.parametrize("grade_id", sorted(DELEGATING))
def test_an_answer_that_is_the_twin_scores_zero(grade_id, capsys):
    assert mmcourse.check(grade_id, getattr(video, _TWINS[grade_id])) is False
    out = capsys.readouterr().out
    assert "mmcourse's own" in out and "scores 0" in out, out


def _not_done(*args, **kwargs):
    raise NotImplementedError()


def _crashes(*args, **kwargs):
    return {}["missing"]


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
@pytest.mark.parametrize("answer", [_not_done, _crashes, lambda *a, **k: None,
                                    lambda *a, **k: "text", lambda *a, **k: np.zeros(3),
                                    lambda *a, **k: np.zeros((2, 2, 2))])
def test_bad_answers_fail_without_raising(grade_id, answer, capsys):
    assert mmcourse.check(grade_id, answer) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {grade_id}: ")
    if answer is _not_done:
        assert "not implemented" in out


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
def test_the_check_of_a_value_instead_of_a_function_fails_cleanly(grade_id, capsys):
    assert mmcourse.check(grade_id, np.array([1, 3, 5, 7])) is False
    assert capsys.readouterr().out.startswith(f"✗ {grade_id}: ")
    assert mmcourse.check(grade_id) is False
    assert "nothing to check yet" in capsys.readouterr().out
