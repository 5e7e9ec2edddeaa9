"""Measure the shipped spoken captions: realism against whole-sentence espeak-ng, load and render cost.

    python data/speech/measure_speech.py [--n 200]     # realism needs espeak-ng and librosa (dev)

Realism: for ``n`` seeded test captions, the phrase-bank utterance (no augmentation, edges
trimmed) in the caption's own test voice is compared
with espeak-ng's whole-sentence synthesis of the same caption in the same voice, and so is a pure
word bank (each word rendered alone, joined with the same pauses) as the baseline:

* duration ratio (assembled / whole sentence);
* log-mel DTW distance: 40-band log-mel (25 ms / 10 ms, ``mmcourse.audio``), each utterance
  mean/variance normalised per band, DTW (librosa) with Euclidean frame costs, divided by the
  path length. For scale, the same distance between two *different* test voices saying the same
  whole sentence, and between the whole sentence and another caption in the same voice.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import mmcourse  # noqa: E402
from mmcourse.audio import log_mel_spectrogram  # noqa: E402
from mmcourse.data import speech  # noqa: E402


def _feats(x):
    f = log_mel_spectrogram(x, speech.SAMPLE_RATE, n_mels=40)
    return (f - f.mean(0)) / (f.std(0) + 1e-5)


def dtw_distance(a, b) -> float:
    import librosa

    fa, fb = _feats(a), _feats(b)
    acc, path = librosa.sequence.dtw(X=fa.T, Y=fb.T, metric="euclidean")
    return float(acc[-1, -1] / len(path))


def word_bank(text, voice, rng, cache):
    parts = [np.zeros(int(0.05 * 16000), np.float32)]
    for tok in speech._tokens(text):
        if tok == ",":
            parts.append(np.zeros(int(16000 * rng.uniform(0.1, 0.2)), np.float32))
            continue
        if (tok, voice) not in cache:
            cache[tok, voice] = speech.espeak_render("[[a#]]" if tok == "a" else tok, voice)
        parts += [cache[tok, voice], np.zeros(int(16000 * rng.uniform(0.015, 0.06)), np.float32)]
    return np.concatenate(parts)


def realism(ds, n: int) -> None:
    test = ds.subset("test")
    audio = test.get("audio")
    mat = speech.load_material()
    rng = np.random.default_rng(0)
    picks = rng.choice(test.n_captions, n, replace=False)
    rows = {k: [] for k in ("dur_phrase", "dur_word", "dtw_phrase", "dtw_word", "dtw_voices",
                            "dtw_other_caption")}
    cache: dict = {}
    for j in picks:
        text, voice = test.captions[j], audio.voice_of(int(j))
        whole = speech.synthesize_sentence(text, voice)
        # both assembled versions without augmentation and with their edge silence trimmed, as
        # the whole sentence is
        phrase = speech.trim_silence(speech.assemble(text, voice, rng, mat, augment=False))
        words = speech.trim_silence(word_bank(text, voice, rng, cache))
        other_voice = [v for v in speech.TEST_VOICES if v != voice][0]
        other_text = test.captions[(int(j) + 7) % test.n_captions]
        rows["dur_phrase"].append(len(phrase) / len(whole))
        rows["dur_word"].append(len(words) / len(whole))
        rows["dtw_phrase"].append(dtw_distance(phrase, whole))
        rows["dtw_word"].append(dtw_distance(words, whole))
        rows["dtw_voices"].append(dtw_distance(speech.synthesize_sentence(text, other_voice), whole))
        rows["dtw_other_caption"].append(dtw_distance(speech.synthesize_sentence(other_text, voice),
                                                      whole))
    print(f"realism over {n} test captions (median [IQR]):")
    for k, v in rows.items():
        q = np.percentile(v, [25, 50, 75])
        print(f"  {k:18s} {q[1]:.3f} [{q[0]:.3f}, {q[2]:.3f}]")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args(argv)
    size = speech.MATERIAL_PATH.stat().st_size / 1e6
    t0 = time.perf_counter()
    speech.load_material()
    print(f"material {speech.MATERIAL_PATH.name}: {size:.1f} MB; decoded in "
          f"{time.perf_counter() - t0:.2f} s")
    ds = mmcourse.load_dataset("shapes", modalities=("image", "text", "audio"), progress=False)
    test = ds.subset("test").get("audio")
    t0, c0 = time.perf_counter(), time.process_time()
    seconds = sum(len(x) for x in test) / speech.SAMPLE_RATE
    print(f"rendered {len(test)} test utterances ({seconds / 60:.1f} min of audio): wall "
          f"{time.perf_counter() - t0:.1f} s, cpu {time.process_time() - c0:.1f} s, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"peak memory (max RSS) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")
    if speech.espeak_available():
        realism(ds, args.n)
    else:
        print("realism skipped: espeak-ng is not installed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
