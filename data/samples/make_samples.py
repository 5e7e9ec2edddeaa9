"""Write the shipped Flickr8k-format sample (``data/samples/flickr8k/``): run once, commit the output.

    .venv/bin/python data/samples/make_samples.py

600 shapes scenes (seed 8, not the default dataset's scenes) saved as 32 px JPEGs in Flickr8k's own
layout: ``Flicker8k_Dataset/<name>.jpg``, ``Flickr8k.token.txt`` (``<name>.jpg#<k>\\t<caption>``,
five captions per image) and the split lists ``Flickr_8k.{train,dev,test}Images.txt`` (400 / 100 /
100 images). ``mmcourse.load_dataset(mmcourse.data.sample_path("flickr8k"), image_size=32)`` then
runs exactly the code a learner with the real Flickr8k runs: the loader knows only which image each
caption was written for (pairing relevance), as with any real dataset.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from mmcourse.data import make_shapes

OUT = Path(__file__).resolve().parent / "flickr8k"
SPLITS = {"train": 400, "dev": 100, "test": 100}


def main() -> None:
    ds = make_shapes(sum(SPLITS.values()), seed=8, image_size=32, captions_per_image=5, cache=False,
                     progress=False)
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "Flicker8k_Dataset").mkdir(parents=True)
    names = [f"shapes_{i:04d}.jpg" for i in range(ds.n_images)]
    for name, image in zip(names, ds.images):
        Image.fromarray(image).save(OUT / "Flicker8k_Dataset" / name, quality=95)
    lines = []
    for i, caps in enumerate(ds.image_captions()):
        lines += [f"{names[i]}#{k}\t{ds.captions[j]} ." for k, j in enumerate(caps)]
    (OUT / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    start = 0
    for split, n in SPLITS.items():
        (OUT / f"Flickr_8k.{split}Images.txt").write_text("\n".join(names[start:start + n]) + "\n")
        start += n
    print(f"wrote {ds.n_images} images, {len(lines)} captions to {OUT}")


if __name__ == "__main__":
    main()
