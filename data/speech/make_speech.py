"""Regenerate the shipped spoken-caption material ``data/speech/phrases.npz`` with espeak-ng.

    python data/speech/make_speech.py            # needs `espeak-ng` (Debian: apt-get install espeak-ng)
    python data/speech/make_speech.py --check    # regenerate in memory, compare with the shipped file

Every unit of :func:`mmcourse.data.speech.phrase_inventory` (noun phrases, relations, prefixes,
single words) is synthesised in every shipped voice (:data:`mmcourse.data.speech.SHIPPED_VOICES`,
each with its own espeak-ng variant, speed and pitch), resampled 22,050 -> 16,000 Hz with
``scipy.signal.resample_poly``, trimmed of silence, faded at both ends and stored as 8-bit mu-law.
espeak-ng is deterministic, so the same espeak-ng version gives the same file (the version is
recorded in the file's ``meta``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mmcourse.data import speech  # noqa: E402


def build(threads: int = 2) -> dict:
    """All arrays of the material file (renders about 2,400 units; ~1 min on 2 cores)."""
    inventory = speech.phrase_inventory()
    jobs = [(v, text) for v in speech.SHIPPED_VOICES for _, text in inventory]
    with ThreadPoolExecutor(threads) as pool:
        clips = list(pool.map(lambda job: speech.espeak_render(job[1], job[0]), jobs))
    lengths = np.array([len(c) for c in clips], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    shape = (len(speech.SHIPPED_VOICES), len(inventory))
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
    meta = {"sample_rate": speech.SAMPLE_RATE, "codec": "mu-law 8-bit (mu=255)",
            "espeak_ng": version, "voices": {v: speech.VOICE_BY_NAME[v]._asdict()
                                             for v in speech.SHIPPED_VOICES},
            "generator": "data/speech/make_speech.py"}
    return {"mulaw": speech.mulaw_encode(np.concatenate(clips)),
            "starts": starts.reshape(shape), "lengths": lengths.reshape(shape).astype(np.int32),
            "units": np.array([t for _, t in inventory]), "kinds": np.array([k for k, _ in inventory]),
            "voices": np.array(speech.SHIPPED_VOICES), "meta": np.array(json.dumps(meta))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(speech.MATERIAL_PATH))
    parser.add_argument("--check", action="store_true",
                        help="compare a fresh render with the shipped file instead of writing")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if not speech.espeak_available():
        print("espeak-ng is not installed (Debian/Ubuntu: sudo apt-get install espeak-ng)")
        return 2
    t0 = time.perf_counter()
    arrays = build(args.threads)
    seconds = arrays["mulaw"].size / speech.SAMPLE_RATE
    print(f"rendered {arrays['units'].size} units x {arrays['voices'].size} voices = "
          f"{seconds / 60:.1f} min of speech in {time.perf_counter() - t0:.1f} s")
    if args.check:
        with np.load(args.out) as z:
            same_layout = all(np.array_equal(z[k], arrays[k]) for k in ("units", "voices", "lengths"))
            diff = (np.abs(z["mulaw"].astype(int) - arrays["mulaw"].astype(int)).max()
                    if z["mulaw"].shape == arrays["mulaw"].shape else None)
        print(f"same layout: {same_layout}; largest mu-law code difference: {diff}")
        return 0 if same_layout and diff is not None and diff <= 1 else 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
