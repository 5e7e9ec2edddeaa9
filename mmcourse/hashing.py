"""Binary codes for fast search: bit packing, Hamming distance, LSH, ITQ, cross-modal hashing.

A code is a row of ``bits`` values in {0, 1} (uint8, shape (n, bits)); packed codes hold 8 bits
per byte (uint8, shape (n, bits / 8)) as ``faiss.IndexBinaryFlat`` and
:func:`mmcourse.index.build_binary_index` expect. Hamming distance = number of differing bits;
ranking by *smallest* distance follows the course's tie policy (ties by lower item index), so
rank with ``top_k(-hamming_distance(q, db), k)``.

Every hasher has ``fit(X)`` then ``encode(X) -> uint8 {0,1} (n, bits)``; all randomness comes
from ``seed``.
"""
from __future__ import annotations

import numpy as np

from ._validation import as_array, as_matrix, check_int, check_same_dim, describe

__all__ = ["pack_bits", "unpack_bits", "hamming_distance", "RandomHyperplaneLSH", "ITQ",
           "itq_step", "quantization_loss", "CrossModalHashing"]

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


# --------------------------------------------------------------------------- packing
def pack_bits(codes) -> np.ndarray:
    """Pack codes (n, bits) with values in {0, 1} (or {-1, +1}, or bool) into uint8 (n, bits/8).

    ``bits`` must be a multiple of 8. Bit j of a code is bit ``7 - j % 8`` of byte ``j // 8``
    (numpy's big-endian ``packbits`` order); any consistent order gives the same Hamming distances.
    """
    arr = as_matrix(codes, "codes")
    if arr.dtype == np.bool_:
        bits01 = arr
    else:
        values = np.unique(arr)
        if np.isin(values, (0, 1)).all():
            bits01 = arr > 0
        elif np.isin(values, (-1, 1)).all():
            bits01 = arr > 0
        else:
            raise ValueError(f"codes: expected values in {{0, 1}} or {{-1, +1}}, got values "
                             f"{values[:6].tolist()}{' ...' if len(values) > 6 else ''}")
    if arr.shape[1] % 8:
        raise ValueError(f"codes: expected a number of bits that is a multiple of 8, got "
                         f"{arr.shape[1]} columns")
    return np.packbits(bits01, axis=1)


def unpack_bits(packed, bits: int | None = None) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint8 (n, bytes) -> uint8 {0, 1} (n, bits = 8 * bytes)."""
    arr = _check_packed(packed, "packed")
    out = np.unpackbits(arr, axis=1)
    if bits is not None:
        bits = check_int(bits, "bits", minimum=1, maximum=out.shape[1])
        out = out[:, :bits]
    return out


def _check_packed(x, name: str) -> np.ndarray:
    arr = as_matrix(x, name)
    if arr.dtype != np.uint8:
        raise ValueError(f"{name}: expected packed codes of dtype uint8 (from pack_bits), got "
                         f"{describe(arr)}")
    return arr


# --------------------------------------------------------------------------- Hamming distance
def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0: hardware popcount
        return np.bitwise_count(x)
    return _POPCOUNT8[x.view(np.uint8)].reshape(*x.shape, -1).sum(-1)  # pragma: no cover


def _words(packed: np.ndarray) -> np.ndarray:
    """View packed bytes as the widest unsigned words that divide the row length."""
    n_bytes = packed.shape[1]
    for width, dt in ((8, np.uint64), (4, np.uint32), (2, np.uint16)):
        if n_bytes % width == 0:
            return np.ascontiguousarray(packed).view(dt)
    return np.ascontiguousarray(packed)


def hamming_distance(a_packed, b_packed) -> np.ndarray:
    """Number of differing bits between every pair of packed codes: int32 (na, nb).

    XOR then popcount on 64-bit words, in row blocks of ``a`` to bound memory.
    """
    a = _check_packed(a_packed, "a_packed")
    b = _check_packed(b_packed, "b_packed")
    check_same_dim(a, b, "a_packed", "b_packed")
    wa, wb = _words(a), _words(b)
    out = np.empty((len(a), len(b)), dtype=np.int32)
    rows = max(1, (1 << 22) // max(1, len(b) * wa.shape[1]))
    for s in range(0, len(a), rows):
        x = wa[s:s + rows, None, :] ^ wb[None, :, :]
        out[s:s + rows] = _popcount(x).sum(axis=-1, dtype=np.int32)
    return out


# --------------------------------------------------------------------------- hashers
def _check_features(x, name: str, dim: int | None = None) -> np.ndarray:
    arr = as_matrix(x, name).astype(np.float64)
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name}: expected {dim} columns (as in fit), got shape {arr.shape}")
    return arr


def _check_fitted(obj, attr: str) -> None:
    if getattr(obj, attr, None) is None:
        raise ValueError(f"{type(obj).__name__}: not fitted yet; call fit(...) before encoding")


def _to_bits(projected: np.ndarray) -> np.ndarray:
    return (projected >= 0).astype(np.uint8)


def _random_rotation(bits: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((bits, bits)))
    return q * np.sign(np.diag(r))[None, :]  # a uniformly random orthogonal matrix


class RandomHyperplaneLSH:
    """Sign of random projections (SimHash): codes preserve angles between vectors.

    ``fit(X)`` draws ``bits`` Gaussian hyperplanes (seeded) and, with ``center=True``, stores the
    mean of X so the planes cut through the data — embeddings that all point into one cone
    would otherwise get nearly identical codes. The chance two vectors differ in a bit is
    (angle between them) / pi.
    """

    def __init__(self, bits: int, seed: int = 0, center: bool = True):
        self.bits = check_int(bits, "bits", minimum=1)
        self.seed = check_int(seed, "seed", minimum=0)
        self.center = bool(center)
        self.mean_ = self.planes_ = None

    def fit(self, X) -> "RandomHyperplaneLSH":
        X = _check_features(X, "X")
        rng = np.random.default_rng(self.seed)
        self.mean_ = X.mean(axis=0) if self.center else np.zeros(X.shape[1])
        self.planes_ = rng.standard_normal((X.shape[1], self.bits))
        return self

    def encode(self, X) -> np.ndarray:
        """uint8 {0, 1} codes (n, bits)."""
        _check_fitted(self, "planes_")
        X = _check_features(X, "X", self.planes_.shape[0])
        return _to_bits((X - self.mean_) @ self.planes_)


def quantization_loss(V, R) -> float:
    """ITQ's objective ||B - V R||_F^2 with B = sign(V R), averaged over rows."""
    V = as_matrix(V, "V").astype(np.float64)
    R = as_matrix(R, "R").astype(np.float64)
    P = V @ R
    B = np.where(P >= 0, 1.0, -1.0)
    return float(((B - P) ** 2).sum() / len(V))


def itq_step(V, R) -> np.ndarray:
    """One ITQ iteration: returns the new rotation (c, c).

    Fix the codes B = sign(V R) (in {-1, +1}), then solve the orthogonal Procrustes problem
    min_R ||B - V R||_F: with the SVD V^T B = U S W^T, the best rotation is R = U W^T.
    ``V`` (n, c) are the centred PCA projections, ``R`` (c, c) the current rotation.
    """
    V = as_matrix(V, "V").astype(np.float64)
    R = as_matrix(R, "R").astype(np.float64)
    if R.shape != (V.shape[1], V.shape[1]):
        raise ValueError(f"R: expected a square ({V.shape[1]}, {V.shape[1]}) rotation to match "
                         f"V's {V.shape[1]} columns, got shape {R.shape}")
    B = np.where(V @ R >= 0, 1.0, -1.0)
    U, _, Wt = np.linalg.svd(V.T @ B)
    return U @ Wt


def _itq_rotation(V: np.ndarray, n_iter: int, rng: np.random.Generator):
    """``n_iter`` ITQ steps from a seeded rotation: (R, losses). The same arithmetic as
    :func:`itq_step` and :func:`quantization_loss`, with one projection ``V R`` per step."""
    V = np.asarray(V, dtype=np.float64)
    R = _random_rotation(V.shape[1], rng)
    losses = []
    for step in range(n_iter + 1):
        P = V @ R
        B = np.where(P >= 0, 1.0, -1.0)
        losses.append(float(((B - P) ** 2).sum() / len(V)))
        if step < n_iter:
            U, _, Wt = np.linalg.svd(V.T @ B)
            R = U @ Wt
    return R, losses


class ITQ:
    """Iterative Quantization (Gong & Lazebnik, 2011): PCA to ``bits`` dims, then a rotation.

    ``fit(X)``: centre (``mean_``), project on the top ``bits`` principal directions
    (``pca_``, (d, bits)), then alternate ``itq_step`` ``n_iter`` times from a seeded random
    rotation (``rotation_``, (bits, bits)) to minimise the quantisation loss
    (``loss_history_``). ``encode(X) = [(X - mean_) pca_ rotation_ >= 0]``.
    """

    def __init__(self, bits: int, n_iter: int = 50, seed: int = 0):
        self.bits = check_int(bits, "bits", minimum=1)
        self.n_iter = check_int(n_iter, "n_iter", minimum=0)
        self.seed = check_int(seed, "seed", minimum=0)
        self.mean_ = self.pca_ = self.rotation_ = None
        self.loss_history_: list[float] = []

    def fit(self, X) -> "ITQ":
        X = _check_features(X, "X")
        n, d = X.shape
        if self.bits > min(n, d):
            raise ValueError(f"bits: expected at most min(n_samples, n_features) = {min(n, d)} "
                             f"for PCA, got {self.bits} (X has shape {X.shape})")
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        _, _, vt = np.linalg.svd(Xc, full_matrices=False)
        self.pca_ = _fix_signs(vt[:self.bits].T)
        rng = np.random.default_rng(self.seed)
        self.rotation_, self.loss_history_ = _itq_rotation(Xc @ self.pca_, self.n_iter, rng)
        return self

    def project(self, X) -> np.ndarray:
        """Real-valued rotated projections (n, bits) whose signs are the codes."""
        _check_fitted(self, "rotation_")
        X = _check_features(X, "X", len(self.mean_))
        return (X - self.mean_) @ self.pca_ @ self.rotation_

    def encode(self, X) -> np.ndarray:
        """uint8 {0, 1} codes (n, bits)."""
        return _to_bits(self.project(X))


def _fix_signs(w: np.ndarray) -> np.ndarray:
    """Make each column's largest-magnitude entry positive: SVD signs are arbitrary."""
    idx = np.abs(w).argmax(axis=0)
    return w * np.sign(w[idx, np.arange(w.shape[1])])[None, :]


def _inv_sqrt(c: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(c)
    return (vecs / np.sqrt(np.maximum(vals, 1e-12))) @ vecs.T


class CrossModalHashing:
    """Image and text codes in one Hamming space, from paired features (CCA + ITQ).

    ``fit(image_features (n, dx), text_features (n, dy), labels=None)``: row i of both is a
    matching pair (repeat an image's row for each of its captions). Multi-view CCA (Gong et
    al., 2014) finds projections of each view that are maximally correlated; with ``labels``
    (n, L) (e.g. multi-hot shape–colour pairs) the labels join as a third view, pulling pairs
    that share labels together. Each view is centred and whitened (ridge ``reg``), the top
    ``bits`` directions are scaled by their eigenvalue ** ``power`` (4 as in the paper: strongly
correlated directions dominate the rotation), and one ITQ rotation,
    learned on both modalities' projections stacked, maps them to shared codes.
    ``encode_image`` / ``encode_text`` give uint8 {0, 1} (n, bits).
    """

    def __init__(self, bits: int, seed: int = 0, n_iter: int = 50, reg: float = 1e-4,
                 power: float = 4.0):
        self.bits = check_int(bits, "bits", minimum=1)
        self.seed = check_int(seed, "seed", minimum=0)
        self.n_iter = check_int(n_iter, "n_iter", minimum=0)
        for name, v in (("reg", reg), ("power", power)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{name}: expected a non-negative number, got {describe(v)}")
        self.reg, self.power = float(reg), float(power)
        self.means_ = self.projections_ = self.rotation_ = self.eigenvalues_ = None

    def fit(self, image_features, text_features, labels=None) -> "CrossModalHashing":
        views = [_check_features(image_features, "image_features"),
                 _check_features(text_features, "text_features")]
        if len(views[1]) != len(views[0]):
            raise ValueError(f"text_features: expected {len(views[0])} rows (one per image row, "
                             f"paired), got {len(views[1])}")
        if labels is not None:
            lab = as_array(labels, "labels", dtype=np.float64)
            lab = lab[:, None] if lab.ndim == 1 else lab
            if lab.ndim != 2 or len(lab) != len(views[0]):
                raise ValueError(f"labels: expected ({len(views[0])}, L) multi-hot labels, got "
                                 f"shape {lab.shape}")
            views.append(lab)
        dims = [v.shape[1] for v in views]
        if self.bits > min(dims[:2]):
            raise ValueError(f"bits: expected at most min(image dims, text dims) = "
                             f"{min(dims[:2])}, got {self.bits}")
        self.means_ = [v.mean(axis=0) for v in views]
        centred = [v - m for v, m in zip(views, self.means_)]
        whiten = []
        for c in centred:  # scale-free ridge: reg relative to the view's mean variance
            cov = c.T @ c / len(c)
            whiten.append(_inv_sqrt(cov + self.reg * (np.trace(cov) / len(cov) + 1e-12)
                                    * np.eye(len(cov))))
        z = np.hstack([c @ w for c, w in zip(centred, whiten)])
        vals, vecs = np.linalg.eigh(z.T @ z / len(z))
        top = np.argsort(vals)[::-1][:self.bits]
        vecs = _fix_signs(vecs[:, top])
        self.eigenvalues_ = vals[top]
        scale = np.maximum(vals[top], 1e-12) ** self.power
        bounds = np.cumsum([0] + dims)
        self.projections_ = [w @ vecs[bounds[i]:bounds[i + 1]] * scale[None, :]
                             for i, w in enumerate(whiten[:2])]
        stacked = np.vstack([centred[i] @ self.projections_[i] for i in range(2)])
        rng = np.random.default_rng(self.seed)
        self.rotation_, self.loss_history_ = _itq_rotation(stacked, self.n_iter, rng)
        return self

    def _encode(self, X, view: int, name: str) -> np.ndarray:
        _check_fitted(self, "rotation_")
        X = _check_features(X, name, len(self.means_[view]))
        return _to_bits((X - self.means_[view]) @ self.projections_[view] @ self.rotation_)

    def encode_image(self, X) -> np.ndarray:
        """uint8 {0, 1} codes (n, bits) for image features (n, dx)."""
        return self._encode(X, 0, "X")

    def encode_text(self, X) -> np.ndarray:
        """uint8 {0, 1} codes (n, bits) for text features (n, dy)."""
        return self._encode(X, 1, "X")
