"""faiss constructors for the compressed methods of ``mmcourse.index.build_index``.

Each method stores a short code per vector instead of ``4 d`` bytes of float32:

- ``"pq"``: product quantisation (Jégou et al., 2011): the vector is cut into ``m`` sub-vectors
  of ``d / m`` dimensions, and each is replaced by the id of its nearest centroid in a codebook of
  ``2 ** nbits`` centroids learned by k-means in that sub-space: ``m * nbits / 8`` bytes.
- ``"opq"``: the same after a learned rotation (Ge et al., 2013) that balances the variance
  over the sub-spaces.
- ``"ivfpq"``: an inverted file (``nlist`` k-means cells, ``nprobe`` of them searched) whose lists
  hold PQ codes of the residuals (vector minus its cell centroid), plus an 8-byte id per vector.
- ``"sq8"``: scalar quantisation, one byte per dimension (``d`` bytes).

For ``metric="cosine"`` the PQ methods index the unit vectors with squared L2, which ranks unit
vectors exactly like the inner product (``|q - x|^2 = 2 - 2 q.x``) and suits residual coding;
``score_from_distance`` turns faiss' numbers back into the course's higher-is-better scores.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_int

#: build-time parameters accepted by each compressed method
PARAMS = {"pq": ("m", "nbits", "train_size"), "opq": ("m", "nbits", "train_size"),
          "ivfpq": ("nlist", "nprobe", "m", "nbits", "seed", "train_size"), "sq8": ()}
#: OPQ's rotation is learned on at most this many vectors, alternating rotation and PQ this many
#: times (k-means iterations: first round, later rounds). faiss' defaults (256 * ksub points,
#: 50 alternations, 40 + 4 iterations) take tens of seconds on 20k x 128 on 2 cores; the
#: rotation settles in far fewer rounds.
OPQ_TRAIN_POINTS, OPQ_ITER, OPQ_PQ_ITER = 8_192, 8, (10, 4)


def default_m(d: int) -> int:
    """The largest divisor of ``d`` that is at most ``d / 8`` (sub-vectors of about 8 dimensions)."""
    target = max(1, d // 8)
    return max(m for m in range(1, target + 1) if d % m == 0)


def internal_metric(metric: str, method: str) -> str:
    """The metric faiss computes for ``metric`` with ``method``: "ip" or "l2" (squared)."""
    if metric == "l2" or (metric == "cosine" and method in ("pq", "opq", "ivfpq")):
        return "l2"
    return "ip"


def score_from_distance(dist: np.ndarray, metric: str, method: str) -> np.ndarray:
    """faiss' distances → higher-is-better scores (cosine, inner product, or -Euclidean)."""
    if internal_metric(metric, method) == "ip":
        return dist
    if metric == "cosine":
        return 1.0 - dist / 2.0          # unit vectors: q.x = 1 - |q - x|^2 / 2
    return -np.sqrt(np.maximum(dist, 0.0))


def _check_m(m, d: int) -> int:
    m = check_int(m, "m", minimum=1)
    if d % m:
        divisors = [v for v in range(1, d + 1) if d % v == 0]
        raise ValueError(f"m: expected a divisor of the dimension d={d} (the number of sub-vectors, "
                         f"e.g. one of {divisors}), got {m}")
    return m


def _check_training(n: int, need: int, why: str) -> None:
    if n < need:
        raise ValueError(f"vectors: expected at least {need} vectors to train {why}, got {n}")


def training_rows(x: np.ndarray, train_size, seed: int) -> np.ndarray:
    """All of ``x``, or a seeded random sample of ``train_size`` rows (codebooks and centroids
    need far fewer vectors than a large collection holds)."""
    if train_size is None or train_size >= len(x):
        return x
    rows = np.sort(np.random.default_rng(seed).choice(len(x), size=train_size, replace=False))
    return np.ascontiguousarray(x[rows])


def build(x: np.ndarray, metric: str, method: str, params: dict):
    """(trained faiss index, the parameters used) for a compressed ``method``.

    ``x`` (n, d) float32 is already normalised for cosine. The index is trained on ``x`` (or on
    ``train_size`` random rows of it) but holds no vector yet: the caller adds them.
    """
    import faiss  # noqa: PLC0415 - heavy, imported on first use

    n, d = x.shape
    train_size = params.get("train_size")
    if train_size is not None:
        train_size = check_int(train_size, "train_size", minimum=1)
    fmetric = faiss.METRIC_L2 if internal_metric(metric, method) == "l2" else faiss.METRIC_INNER_PRODUCT
    if method == "sq8":
        index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, fmetric)
        index.train(x)
        return index, {}
    used = {"m": _check_m(params.get("m", default_m(d)), d),
            "nbits": check_int(params.get("nbits", 8), "nbits", minimum=1, maximum=16)}
    ksub = 2 ** used["nbits"]
    n_train = n if train_size is None else min(n, train_size)
    if train_size is not None:
        used["train_size"] = train_size
    if method == "ivfpq":
        nlist = params.get("nlist", max(1, int(round(np.sqrt(n)))))
        used = {"nlist": check_int(nlist, "nlist", minimum=1, maximum=n_train),
                "nprobe": check_int(params.get("nprobe", 1), "nprobe"),
                **used, "seed": check_int(params.get("seed", 0), "seed", minimum=0)}
        _check_training(n_train, max(used["nlist"], ksub),
                        f"{used['nlist']} cells and 2**nbits = {ksub} centroids per sub-space")
        quantizer = faiss.IndexFlat(d, fmetric)
        index = faiss.IndexIVFPQ(quantizer, d, used["nlist"], used["m"], used["nbits"], fmetric)
        index.cp.seed = index.pq.cp.seed = used["seed"]
        index.cp.min_points_per_centroid = 1
        index.pq.cp.min_points_per_centroid = 1
        index.train(training_rows(x, train_size, used["seed"]))
        index.nprobe = used["nprobe"]
        return index, used
    _check_training(n_train, ksub, f"2**nbits = {ksub} centroids per sub-space (nbits={used['nbits']})")
    pq = faiss.IndexPQ(d, used["m"], used["nbits"], fmetric)
    pq.pq.cp.min_points_per_centroid = 1
    if method == "pq":
        pq.train(training_rows(x, train_size, 0))
        return pq, used
    opq = faiss.OPQMatrix(d, used["m"])
    opq.niter, opq.max_train_points = OPQ_ITER, OPQ_TRAIN_POINTS
    opq.niter_pq_0, opq.niter_pq = OPQ_PQ_ITER
    trainer = faiss.ProductQuantizer(d, used["m"], used["nbits"])   # OPQ's own PQ, no size warnings
    trainer.cp.min_points_per_centroid = 1
    opq.pq = trainer
    index = faiss.IndexPreTransform(opq, pq)
    index.train(training_rows(x, train_size, 0))
    opq.pq = None                        # the trainer is not needed (nor owned) after training
    return index, used
