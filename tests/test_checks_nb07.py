"""The checkers of notebook 07 (spoken queries) accept the solution notebook's own answers, reject
classic mistakes with a hint, give 0 to an answer that delegates to ``mmcourse.audio``, and never
raise, whatever the answer does."""
from __future__ import annotations

import numpy as np
import pytest

import mmcourse
from mmcourse import audio
from mmcourse.grading.check import known_ids
from solution_answers import answers

_SOL = answers("07_spoken_queries")
_NAMES = {"nb07-frames": "make_frames", "nb07-power": "windowed_power", "nb07-mel": "mel_filters",
          "nb07-dct": "dct2", "nb07-cmvn": "normalise_cmvn"}
#: the solution notebook's answers (written with numpy, never delegating to the package)
RIGHT = {gid: _SOL[gid][name] for gid, name in _NAMES.items()}
_r = RIGHT


def _frames_off_by_one(x, frame_length, hop_length):
    x = np.asarray(x)
    if len(x) < frame_length:
        raise ValueError("frame_length: too long")
    return np.array([x[i:i + frame_length] for i in range(0, len(x) - frame_length, hop_length)])


def _frames_no_error(x, frame_length, hop_length):
    x = np.asarray(x)
    x = np.pad(x, (0, max(0, frame_length - len(x))))
    return _r["nb07-frames"](x, frame_length, hop_length)


def _mel_linear(sample_rate, n_fft, n_mels):
    edges = np.linspace(0.0, sample_rate / 2, n_mels + 2)
    freqs = np.arange(1 + n_fft // 2) * sample_rate / n_fft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))


def _mel_area_normalised(sample_rate, n_fft, n_mels):
    to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    edges = 700.0 * (10.0 ** (np.linspace(0.0, to_mel(sample_rate / 2), n_mels + 2) / 2595.0) - 1)
    return _r["nb07-mel"](sample_rate, n_fft, n_mels) * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def _dct_unscaled(x, n_out):
    x = np.asarray(x, dtype=np.float64)
    N = x.shape[-1]
    basis = np.cos(np.pi * np.arange(n_out)[:, None] * (2 * np.arange(N)[None] + 1) / (2 * N))
    return x @ basis.T


WRONG = {
    "nb07-frames": [_frames_off_by_one, _frames_no_error,
                    lambda x, L, H: _r["nb07-frames"](x, L, H).T],               # frequency first
    "nb07-power": [
        lambda f, n: np.abs(np.fft.rfft(np.asarray(f) * np.hamming(np.shape(f)[1]), n=n)) ** 2,
        lambda f, n: np.abs(np.fft.rfft(np.asarray(f), n=n)) ** 2,                  # no window
        lambda f, n: np.sqrt(_r["nb07-power"](f, n)),                             # magnitude
        lambda f, n: np.abs(np.fft.rfft(np.asarray(f) * np.hanning(np.shape(f)[1]), n=n)) ** 2],
    "nb07-mel": [_mel_linear,
                 _mel_area_normalised,
                 lambda sr, n_fft, n_mels: _r["nb07-mel"](sr, n_fft, n_mels)[:, :-1]],
    "nb07-dct": [_dct_unscaled, lambda x, n: _r["nb07-dct"](x, n)[..., ::-1],
                 lambda x, n: _r["nb07-dct"](np.swapaxes(x, 0, -1), n)],
    "nb07-cmvn": [lambda f: (np.asarray(f) - np.mean(f, 0)) / np.std(f, 0, ddof=1),
                  lambda f: (np.asarray(f) - np.mean(f, 1, keepdims=True))
                  / np.std(f, 1, keepdims=True),                                  # over features
                  lambda f: (np.asarray(f) - np.mean(f, 0)) / np.std(f, 0),        # 0 / 0 = nan
                  lambda f: np.asarray(f) - np.mean(f, 0)],                        # mean only
}

#: answers that hand the exercise to mmcourse.audio (each must score 0)
DELEGATING = {
    "nb07-frames": lambda x, L, H: audio.frame_signal(x, L, H),
    "nb07-power": lambda f, n: audio.power_spectrum(np.asarray(f) * audio.window("hamming", np.shape(f)[1]), n),
    "nb07-mel": lambda sr, n_fft, n_mels: audio.mel_filterbank(sr, n_fft, n_mels, htk=True, norm=None),
    "nb07-dct": lambda x, n: audio.dct_ii(x, n),
    "nb07-cmvn": lambda f: audio.cmvn(np.asarray(f, dtype=np.float64)),
}


def test_every_exercise_of_the_notebook_has_a_checker():
    ids = {gid for gid in known_ids() if gid.startswith("nb07-")}
    assert ids == set(RIGHT)


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
def test_reference_answer_passes(grade_id, capsys):
    assert mmcourse.check(grade_id, RIGHT[grade_id]), capsys.readouterr().out


@pytest.mark.parametrize("grade_id, i", [(g, i) for g in sorted(WRONG) for i in range(len(WRONG[g]))])
def test_classic_mistake_fails_with_a_hint(grade_id, i, capsys):
    assert mmcourse.check(grade_id, WRONG[grade_id][i]) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {grade_id}: "), out
    assert "Hint:" in out or "raised" in out, out


@pytest.mark.parametrize("grade_id", sorted(DELEGATING))
def test_delegating_answer_scores_zero(grade_id, capsys):
    assert mmcourse.check(grade_id, DELEGATING[grade_id]) is False
    out = capsys.readouterr().out
    assert "mmcourse's own" in out and "scores 0" in out, out
    # the package itself is left working (the sentinels are gone)
    assert audio.dct_ii(np.ones((1, 4)), 1).shape == (1, 1)
    assert mmcourse.check(grade_id, RIGHT[grade_id]) is True


def _not_done(*args, **kwargs):
    raise NotImplementedError()


def _crashes(*args, **kwargs):
    return {}["missing"]


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
@pytest.mark.parametrize("answer", [_not_done, _crashes, lambda *a, **k: None,
                                    lambda *a, **k: "text", lambda *a, **k: np.zeros(3)])
def test_bad_answers_fail_without_raising(grade_id, answer, capsys):
    assert mmcourse.check(grade_id, answer) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {grade_id}: ")
    if answer is _not_done:
        assert "not implemented" in out


def test_the_check_of_a_value_instead_of_a_function_fails_cleanly(capsys):
    assert mmcourse.check("nb07-frames", np.zeros((3, 4))) is False
    assert mmcourse.check("nb07-frames") is False
