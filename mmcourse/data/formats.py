"""Real image–caption datasets from a local folder: COCO captions, Karpathy split JSON, Flickr8k.

Nothing is downloaded. Images are loaded with PIL, centre-cropped to a square and resized to
``image_size`` px. Splits come from the source (Karpathy's ``split`` field with ``restval`` →
train; Flickr8k's ``Flickr_8k.{train,dev,test}Images.txt``), else a seeded 80/10/10 split.

Robustness: an unreadable or malformed annotation file raises ``ValueError`` naming the file.
Bad items — a missing or unreadable image, a malformed line (Flickr8k's known ``.jpg.1`` keys),
a caption whose image is not listed, an image without captions — are skipped, counted in
``dataset.info["skipped"]`` (reason → count, examples in ``info["skipped_examples"]``) and
reported with one ``warnings.warn``; ``strict=True`` raises on the first one instead.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .._validation import check_choice, check_int, describe
from .dataset import CaptionDataset

FORMATS = ("coco", "karpathy", "flickr8k")
IMAGE_DIR_NAMES = ("images", "Images", "Flicker8k_Dataset", "Flickr8k_Dataset")
FLICKR_SPLIT_FILES = {"train": "Flickr_8k.trainImages.txt", "val": "Flickr_8k.devImages.txt",
                      "test": "Flickr_8k.testImages.txt"}
_FLICKR_KEY = re.compile(r"^(?P<file>[^#\s]+\.(?:jpe?g|png))#(?P<n>\d+)$", re.IGNORECASE)


class Skips:
    """Counts skipped items per reason (or raises at once when ``strict``)."""

    def __init__(self, source: Path, strict: bool):
        self.source, self.strict = source, strict
        self.examples: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}

    def add(self, reason: str, example: str) -> None:
        if self.strict:
            raise ValueError(f"{self.source}: {reason}: {example} (strict=True; pass strict=False "
                             f"to skip such items with a warning)")
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(example)

    def report(self) -> None:
        if self.counts:
            parts = "; ".join(f"{c} {r} (e.g. {', '.join(self.examples[r])})"
                              for r, c in self.counts.items())
            warnings.warn(f"{self.source}: skipped {sum(self.counts.values())} items: {parts}",
                          UserWarning, stacklevel=3)


# ---------------------------------------------------------------------------- files and images
def _existing_file(path, name: str) -> Path:
    if not isinstance(path, (str, Path)):
        raise ValueError(f"{name}: expected a file path, got {describe(path)}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"{name}: expected an existing file, got {str(path)!r} (no such file)")
    return path


def _existing_dir(path, name: str) -> Path:
    if not isinstance(path, (str, Path)):
        raise ValueError(f"{name}: expected a folder path, got {describe(path)}")
    path = Path(path).expanduser()
    if not path.is_dir():
        raise ValueError(f"{name}: expected an existing folder of images, got {str(path)!r}")
    return path


def _read_json(path: Path, name: str):
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: {path} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: {path} is not UTF-8 text ({exc})") from None


def load_image(path, image_size: int) -> np.ndarray:
    """An image file as uint8 RGB (image_size, image_size, 3): centre-cropped square, resized."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
        im = im.resize((image_size, image_size), Image.BICUBIC, reducing_gap=3.0)
        return np.asarray(im, dtype=np.uint8)


def seeded_split(n: int, seed: int = 0) -> np.ndarray:
    """A reproducible 80/10/10 train/val/test split of ``n`` items."""
    rng = np.random.default_rng(seed)
    n_val = n_test = int(round(0.1 * n))
    split = np.full(n, "train", dtype="<U5")
    perm = rng.permutation(n)
    split[perm[:n_val]] = "val"
    split[perm[n_val:n_val + n_test]] = "test"
    return split


def _build(records, image_dir: Path, *, image_size: int, max_images, skips: Skips, name: str,
           fmt: str, seed: int, progress: bool) -> CaptionDataset:
    """Load the images of ``records`` = [(relative path or candidates, captions, split or None)]."""
    images, captions, caption_image, splits, ids = [], [], [], [], []
    bar = tqdm(records, desc=f"loading {name} images", unit="img",
               disable=not progress or len(records) < 200, leave=False)
    for rel, caps, split in bar:
        if max_images is not None and len(images) >= max_images:
            break
        candidates = rel if isinstance(rel, tuple) else (rel,)
        path = next((image_dir / c for c in candidates if (image_dir / c).is_file()), None)
        if path is None:
            skips.add("missing image file", str(image_dir / candidates[0]))
            continue
        if not caps:
            skips.add("image without captions", str(candidates[0]))
            continue
        try:
            img = load_image(path, image_size)
        except Exception as exc:  # PIL raises many types for corrupt files
            skips.add("unreadable image file", f"{path.name} ({type(exc).__name__})")
            continue
        k = len(images)
        images.append(img)
        captions += caps
        caption_image += [k] * len(caps)
        splits.append(split)
        ids.append(str(candidates[-1]))
    bar.close()
    skips.report()
    if not images:
        raise ValueError(f"{skips.source}: no usable image–caption pairs found in {image_dir} "
                         f"(skipped: {skips.counts or 'nothing'})")
    if all(s is None for s in splits):
        split_arr, split_source = seeded_split(len(images), seed), f"seeded 80/10/10 (seed={seed})"
    else:
        split_arr, split_source = np.array(splits, dtype="<U5"), "source"
    return CaptionDataset(
        images=np.stack(images), captions=captions, caption_image=np.array(caption_image),
        split=split_arr, image_ids=ids, name=name,
        info={"source": str(skips.source), "format": fmt, "image_dir": str(image_dir),
              "image_size": image_size, "split_source": split_source,
              "skipped": dict(skips.counts), "skipped_examples": dict(skips.examples)})


def _common(image_dir, image_size, max_images, strict):
    image_dir = _existing_dir(image_dir, "image_dir")
    image_size = check_int(image_size, "image_size", minimum=8, maximum=1024)
    if max_images is not None:
        max_images = check_int(max_images, "max_images", minimum=1)
    if not isinstance(strict, bool):
        raise ValueError(f"strict: expected True or False, got {describe(strict)}")
    return image_dir, image_size, max_images


# ---------------------------------------------------------------------------- the three formats
def load_coco_captions(annotation_json, image_dir, image_size: int = 64, max_images=None,
                       strict: bool = False, seed: int = 0, progress: bool = True) -> CaptionDataset:
    """COCO captions (``captions_train2014.json`` …): ``images`` [{id, file_name}] and
    ``annotations`` [{image_id, caption}]. One file is one source split, so the split is seeded."""
    path = _existing_file(annotation_json, "annotation_json")
    image_dir, image_size, max_images = _common(image_dir, image_size, max_images, strict)
    data = _read_json(path, "annotation_json")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise ValueError(f"annotation_json: {path} is not a COCO captions file (expected an object "
                         f"with 'images' and 'annotations' lists)")
    skips = Skips(path, strict)
    by_id: dict = {}
    order = []
    for k, im in enumerate(data["images"]):
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            skips.add("malformed image entry", f"images[{k}]")
            continue
        by_id[im["id"]] = []
        order.append((im["id"], im["file_name"]))
    for k, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not isinstance(ann.get("caption"), str) \
                or not ann["caption"].strip():
            skips.add("malformed annotation", f"annotations[{k}]")
        elif ann.get("image_id") not in by_id:
            skips.add("caption without an image", f"annotations[{k}] (image_id={ann.get('image_id')!r})")
        else:
            by_id[ann["image_id"]].append(" ".join(ann["caption"].split()))
    records = [(fname, by_id[i], None) for i, fname in order]
    return _build(records, image_dir, image_size=image_size, max_images=max_images, skips=skips,
                  name=path.stem, fmt="coco", seed=seed, progress=progress)


def load_karpathy(json_path, image_dir, image_size: int = 64, max_images=None, strict: bool = False,
                  seed: int = 0, progress: bool = True) -> CaptionDataset:
    """Karpathy split JSON (``dataset_flickr8k.json``, ``dataset_coco.json`` …): ``images`` with
    ``filename`` (and ``filepath`` for COCO), ``split`` (restval → train) and ``sentences``."""
    path = _existing_file(json_path, "json_path")
    image_dir, image_size, max_images = _common(image_dir, image_size, max_images, strict)
    data = _read_json(path, "json_path")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"json_path: {path} is not a Karpathy split file (expected an object with "
                         f"an 'images' list)")
    skips = Skips(path, strict)
    split_map = {"train": "train", "restval": "train", "val": "val", "test": "test"}
    records = []
    for k, im in enumerate(data["images"]):
        if not isinstance(im, dict) or not isinstance(im.get("filename"), str):
            skips.add("malformed image entry", f"images[{k}]")
            continue
        if im.get("split") not in split_map:
            skips.add("unknown split", f"{im['filename']} (split={im.get('split')!r})")
            continue
        caps = []
        for s in im.get("sentences") or []:
            raw = s.get("raw") if isinstance(s, dict) else None
            if not isinstance(raw, str) and isinstance(s, dict) and isinstance(s.get("tokens"), list):
                raw = " ".join(map(str, s["tokens"]))
            if isinstance(raw, str) and raw.strip():
                caps.append(" ".join(raw.split()))
        rel = im["filename"]
        if isinstance(im.get("filepath"), str):
            rel = (str(Path(im["filepath"]) / im["filename"]), im["filename"])
        records.append((rel, caps, split_map[im["split"]]))
    return _build(records, image_dir, image_size=image_size, max_images=max_images, skips=skips,
                  name=str(data.get("dataset") or path.stem), fmt="karpathy", seed=seed,
                  progress=progress)


def load_flickr8k(token_file, image_dir, image_size: int = 64, max_images=None, strict: bool = False,
                  seed: int = 0, progress: bool = True) -> CaptionDataset:
    """Flickr8k's ``Flickr8k.token.txt`` (``<file>.jpg#<n>\\t<caption>`` per line). Splits from
    ``Flickr_8k.{train,dev,test}Images.txt`` next to it when present, else seeded."""
    path = _existing_file(token_file, "token_file")
    image_dir, image_size, max_images = _common(image_dir, image_size, max_images, strict)
    skips = Skips(path, strict)
    caps: dict[str, list[str]] = {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(f"token_file: {path} is not UTF-8 text ({exc})") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, sep, text = line.partition("\t")
        match = _FLICKR_KEY.match(key.strip())
        if not sep or match is None or not text.strip():
            skips.add("malformed line", f"line {lineno}: {line[:60]!r}")
            continue
        caps.setdefault(match["file"], []).append(" ".join(text.split()))
    split_of = {}
    split_files = {s: path.parent / f for s, f in FLICKR_SPLIT_FILES.items()}
    if any(f.is_file() for f in split_files.values()):
        for split, f in split_files.items():
            if f.is_file():
                for name in f.read_text(encoding="utf-8").split():
                    split_of[name] = split
    records = []
    for fname, cs in caps.items():
        if split_of and fname not in split_of:
            skips.add("image not listed in any split file", fname)
            continue
        records.append((fname, cs, split_of.get(fname)))
    if not caps and not skips.counts:
        raise ValueError(f"token_file: {path} has no caption lines")
    return _build(records, image_dir, image_size=image_size, max_images=max_images, skips=skips,
                  name="flickr8k", fmt="flickr8k", seed=seed, progress=progress)


# ---------------------------------------------------------------------------- detection
def _find_image_dir(base: Path) -> Path:
    for name in IMAGE_DIR_NAMES:
        if (base / name).is_dir():
            return base / name
    return base


def detect_format(path, format=None) -> tuple[str, Path]:
    """``(format, annotation_file)`` for a file or a dataset folder (``format`` restricts the search)."""
    path = Path(path)
    if path.is_file() and format is not None:
        return format, path
    if path.is_file():
        if path.suffix.lower() == ".txt":
            return "flickr8k", path
        if path.suffix.lower() == ".json":
            data = _read_json(path, "name")
            if isinstance(data, dict) and isinstance(data.get("annotations"), list):
                return "coco", path
            if isinstance(data, dict) and isinstance(data.get("images"), list):
                return "karpathy", path
            raise ValueError(f"name: {path} is neither a COCO captions nor a Karpathy split file")
        raise ValueError(f"name: expected a .json or .txt annotation file, got {path.name!r}")
    found = {"karpathy": sorted(path.glob("dataset_*.json")),
             "flickr8k": sorted(path.glob("Flickr8k.token.txt"))
             + sorted(path.glob("Flickr8k_text/Flickr8k.token.txt")),
             "coco": sorted(path.glob("captions_*.json")) + sorted(path.glob("annotations/captions_*.json"))}
    for fmt in ((format,) if format else ("karpathy", "flickr8k", "coco")):
        if len(found[fmt]) == 1:
            return fmt, found[fmt][0]
        if len(found[fmt]) > 1:
            raise ValueError(f"name: {path} holds several {fmt} files "
                             f"({', '.join(p.name for p in found[fmt])}); pass one of them as the path")
    wanted = {"karpathy": "dataset_*.json", "coco": "captions_*.json",
              "flickr8k": "Flickr8k.token.txt"}
    names = wanted[format] if format else "dataset_*.json, captions_*.json or Flickr8k.token.txt"
    raise ValueError(f"name: no {names} in {path}")


def load_path(path, format=None, image_size: int = 64, max_images=None, strict: bool = False,
              image_dir=None, seed: int = 0, progress: bool = True) -> CaptionDataset:
    """Load a local dataset from a folder or an annotation file, detecting its format.

    ``format`` forces ``"coco"``, ``"karpathy"`` or ``"flickr8k"``; ``image_dir`` defaults to an
    ``images/`` (or ``Flicker8k_Dataset/``) folder next to the annotations, else their folder.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"name: expected an existing file or folder, got {str(path)!r}")
    if format is not None:
        check_choice(format, "format", FORMATS)
    fmt, ann = detect_format(path, format)
    if image_dir is None:
        base = ann.parent.parent if ann.parent.name in ("Flickr8k_text", "annotations") else ann.parent
        image_dir = _find_image_dir(base)
    loader = {"coco": load_coco_captions, "karpathy": load_karpathy, "flickr8k": load_flickr8k}[fmt]
    return loader(ann, image_dir, image_size=image_size, max_images=max_images, strict=strict,
                  seed=seed, progress=progress)
