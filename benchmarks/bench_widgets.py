"""SearchExplorer responsiveness: query latency per direction and render cost, on a COCO-1K-
sized gallery (1,000 shapes images, 5,000 captions, 256-d embeddings).

    .venv/bin/python -m benchmarks bench_widgets      (or: python benchmarks/bench_widgets.py)

Embeddings are random (latency does not depend on their quality); the text encoder is a
bag-of-words with a fixed random projection to 256-d, so no framework is loaded. Each figure is
the median over repeated queries of one ``explorer.search...`` call: scoring, ranking, per-query
AP/NDCG, relevance lookup and updating the widget models (thumbnails come from the LRU cache
after the first render; the first-render cost is shown separately).
"""
from __future__ import annotations

import statistics
import time


def _median_ms(fn, repeats: int = 15) -> float:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def main() -> dict:
    import numpy as np

    from mmcourse.data import make_shapes
    from mmcourse.text import Vocabulary, bag_of_words
    from mmcourse.widgets import SearchExplorer

    ds = make_shapes(1000, seed=0, split_sizes=(0, 0, 1000), cache=False)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((ds.n_images, 256)).astype(np.float32)
    vocab = Vocabulary.build(ds.captions)
    proj = rng.standard_normal((len(vocab), 256)).astype(np.float32)

    def encode(texts):
        return bag_of_words(texts, vocab) @ proj

    t0 = time.perf_counter()
    ex = SearchExplorer(ds, images, encode, k=8)
    build_ms = (time.perf_counter() - t0) * 1000.0
    queries = ["a red circle", "a blue square to the left of a green star", "a small yellow cross",
               "a purple diamond", "a cyan triangle above an orange circle"]
    t0 = time.perf_counter()
    ex.search_text(queries[0])
    first_ms = (time.perf_counter() - t0) * 1000.0
    ex.search_image(0, direction="i2t")  # encodes the 5,000 captions once
    out = {
        "build SearchExplorer (ms)": build_ms,
        "first text query incl. 8 PNG thumbnails (ms)": first_ms,
        "text → image (ms)": _median_ms(lambda i: ex.search_text(queries[i % 5], direction="t2i")),
        "image → image (ms)": _median_ms(lambda i: ex.search_image(i, direction="i2i")),
        "image → text, 5,000 captions (ms)": _median_ms(lambda i: ex.search_image(i, direction="i2t")),
        "composed (ms)": _median_ms(lambda i: ex.search_text(queries[i % 5], direction="composed")),
        "PNG encodings in total": ex.thumbs.encoded,
    }
    width = max(len(k) for k in out)
    print("SearchExplorer on 1,000 images / 5,000 captions, 256-d, k=8 (median of 15 queries)")
    for name, value in out.items():
        print(f"  {name:<{width}}  {value:8.1f}" if isinstance(value, float) else f"  {name:<{width}}  {value:8d}")
    return out


if __name__ == "__main__":
    main()
