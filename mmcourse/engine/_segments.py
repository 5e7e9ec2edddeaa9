"""Durable storage for the faiss backend: a folder of numbered segments plus a snapshot.

Each mutation is written before it returns, as one small file, so a store survives a crash or
a missing ``close()``: ``<seq>.add.npz`` (ids, vectors, one array per field) or ``<seq>.del.npy``
(ids). ``snapshot-<seq>.npz`` holds the whole store as of segment ``seq``; reopening loads the
newest snapshot and replays the later segments in order. ``compact`` writes a new snapshot and
removes what it replaces. Files are written under a temporary name and renamed (atomic on POSIX).
``meta.json`` records the dimension, the metric and the field kinds.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

_SEGMENT = re.compile(r"^(\d{9})\.(add\.npz|del\.npy)$")
_SNAPSHOT = re.compile(r"^snapshot-(\d{9})\.npz$")
META = "meta.json"


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_meta(folder: Path, meta: dict) -> None:
    _atomic(folder / META, lambda fh: fh.write(json.dumps(meta, indent=1).encode()))


def read_meta(folder: Path) -> dict | None:
    path = folder / META
    return json.loads(path.read_text()) if path.is_file() else None


def _pack(ids, vectors, columns) -> dict:
    return {"__ids": ids, "__vectors": vectors, **{f"f_{k}": v for k, v in columns.items()}}


def _unpack(npz) -> tuple:
    columns = {k[2:]: npz[k] for k in npz.files if k.startswith("f_")}
    return npz["__ids"], npz["__vectors"], columns


class SegmentLog:
    """Append-only segments in ``folder``; ``replay()`` yields ("add", ids, vectors, columns) and
    ("del", ids) in order, starting from the newest snapshot."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.seq = max([self._seq(p) for p in self.folder.iterdir()
                        if _SEGMENT.match(p.name) or _SNAPSHOT.match(p.name)], default=0)

    @staticmethod
    def _seq(path: Path) -> int:
        m = _SEGMENT.match(path.name) or _SNAPSHOT.match(path.name)
        return int(m.group(1))

    def _snapshot(self) -> Path | None:
        snaps = sorted(p for p in self.folder.iterdir() if _SNAPSHOT.match(p.name))
        return snaps[-1] if snaps else None

    def segments_since_snapshot(self) -> list[Path]:
        snap = self._snapshot()
        base = self._seq(snap) if snap else 0
        return sorted(p for p in self.folder.iterdir() if _SEGMENT.match(p.name) and self._seq(p) > base)

    def append_add(self, ids, vectors, columns) -> None:
        self.seq += 1
        arrays = _pack(ids, vectors, columns)
        _atomic(self.folder / f"{self.seq:09d}.add.npz", lambda fh: np.savez(fh, **arrays))

    def append_delete(self, ids) -> None:
        self.seq += 1
        _atomic(self.folder / f"{self.seq:09d}.del.npy", lambda fh: np.save(fh, ids))

    def replay(self):
        snap = self._snapshot()
        if snap is not None:
            with np.load(snap) as npz:
                yield ("add", *_unpack(npz))
        for path in self.segments_since_snapshot():
            if path.name.endswith(".del.npy"):
                yield ("del", np.load(path))
            else:
                with np.load(path) as npz:
                    yield ("add", *_unpack(npz))

    def compact(self, ids, vectors, columns) -> None:
        """Write the whole store as a snapshot at the current sequence; drop older files."""
        if not self.segments_since_snapshot():
            return
        arrays = _pack(ids, vectors, columns)
        _atomic(self.folder / f"snapshot-{self.seq:09d}.npz", lambda fh: np.savez(fh, **arrays))
        for path in self.folder.iterdir():
            if (_SEGMENT.match(path.name) or _SNAPSHOT.match(path.name)) and self._seq(path) < self.seq:
                path.unlink()
            elif _SEGMENT.match(path.name) and self._seq(path) == self.seq:
                path.unlink()
