"""Checkers for notebook 05 (hashing): LSH, bit packing, Hamming distance, ITQ, radius lookup.

References: ``mmcourse.hashing`` (``pack_bits``, ``hamming_distance``, ``itq_step``) and plain
numpy (``np.packbits`` / ``np.unpackbits``) as an independent second opinion.
"""
from __future__ import annotations

import numpy as np

from ..check import expect_close, expect_equal, fail, register


def _hamming_reference(a, b):
    """Hamming distances between packed codes by unpacking to bits (slow, obviously correct)."""
    ua = np.unpackbits(np.asarray(a, dtype=np.uint8), axis=1).astype(np.int64)
    ub = np.unpackbits(np.asarray(b, dtype=np.uint8), axis=1).astype(np.int64)
    return (ua[:, None, :] != ub[None, :, :]).sum(-1)


@register("nb05-lsh", twins=("mmcourse.hashing:RandomHyperplaneLSH.encode", "mmcourse.hashing:RandomHyperplaneLSH.fit",),
          why="Each random hyperplane cuts space in two; nearby vectors usually fall "
                         "on the same side, so they share most bits.")
def check_lsh(fn):
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.5, -3.0]], dtype=np.float32)
    planes = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=np.float32)  # (d=2, bits=3)
    expected = np.array([[1, 1, 1], [0, 1, 0], [1, 0, 0]], dtype=np.uint8)
    got = np.asarray(fn(X, planes))
    expect_equal(got.shape, expected.shape, "3 points, 3 hyperplanes (shape)",
                 "one row per point, one bit (column) per hyperplane: X @ planes is (n, bits)")
    expect_equal(got.astype(np.int64), expected.astype(np.int64), "3 points, 3 hyperplanes",
                 "bit j is 1 when the point is on the positive side of plane j: X @ planes >= 0")
    if got.dtype != np.uint8:
        fail("3 points, 3 hyperplanes", "dtype uint8", f"dtype {got.dtype}",
             "convert the boolean result with .astype(np.uint8)")
    on_plane = np.asarray(fn(np.array([[0.0, 1.0]]), np.array([[1.0], [0.0]])))
    expect_equal(on_plane.astype(np.int64).tolist(), [[1]], "a point exactly on the hyperplane",
                 "projection 0 counts as the positive side (>= 0), as in mmcourse.hashing")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 16)).astype(np.float32)
    planes = rng.normal(size=(16, 32)).astype(np.float32)
    expect_equal(np.asarray(fn(X, planes)).astype(np.int64),
                 (X @ planes >= 0).astype(np.int64), "50 points in 16-D, 32 planes")
    expect_equal(np.asarray(fn(X * 7.0, planes)).astype(np.int64),
                 np.asarray(fn(X, planes)).astype(np.int64), "the same points scaled by 7",
                 "the side of a hyperplane through the origin does not depend on length")


@register("nb05-pack", twins=("mmcourse.hashing:pack_bits",),
          why="Eight bits per byte: a 64-bit code costs 8 bytes instead of 256 "
                          "bytes for 64 float32 numbers.")
def check_pack(fn):
    from mmcourse.hashing import pack_bits

    bits = np.array([[1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]], dtype=np.uint8)
    got = np.asarray(fn(bits))
    expect_equal(got.shape, (1, 2), "16 bits of one code (shape)", "8 bits per byte")
    expect_equal(got.astype(np.int64), np.array([[129, 255]]), "bits 10000001 11111111",
                 "the first bit of each group of 8 is the most significant (like np.packbits)")
    if got.dtype != np.uint8:
        fail("bits 10000001 11111111", "dtype uint8", f"dtype {got.dtype}")
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 2, size=(20, 64)).astype(np.uint8)
    expect_equal(np.asarray(fn(codes)), pack_bits(codes), "20 random 64-bit codes")
    pm = (2 * codes.astype(np.int8) - 1)
    expect_equal(np.asarray(fn(pm)), np.packbits(codes, axis=1),
                 "the same codes written as -1/+1", "map -1 to 0 first: np.packbits treats every "
                 "non-zero value (also -1) as a 1")
    expect_equal(np.asarray(fn(codes.astype(bool))), np.packbits(codes, axis=1),
                 "the same codes as booleans")


@register("nb05-hamming", twins=("mmcourse.hashing:hamming_distance",),
          why="XOR marks the differing bits and popcount counts them: a few CPU "
                             "instructions per 64-bit code.")
def check_hamming(fn):
    from mmcourse.hashing import hamming_distance

    a = np.array([[0b10110000], [0b11111111]], dtype=np.uint8)
    b = np.array([[0b10110000], [0b00000000], [0b10000001]], dtype=np.uint8)
    expected = np.array([[0, 3, 3], [5, 8, 6]])
    got = np.asarray(fn(a, b))
    expect_equal(got.shape, (2, 3), "2 vs 3 one-byte codes (shape)", "(n_a, n_b) distances")
    expect_equal(got.astype(np.int64), expected, "2 vs 3 one-byte codes",
                 "count differing BITS (XOR then popcount), not differing bytes")
    if got.dtype.kind not in "iu":
        fail("2 vs 3 one-byte codes", "an integer array", f"dtype {got.dtype}")
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, size=(12, 8), dtype=np.uint8)
    b = rng.integers(0, 256, size=(30, 8), dtype=np.uint8)
    want = hamming_distance(a, b)
    expect_equal(np.asarray(fn(a, b)).astype(np.int64), np.asarray(want).astype(np.int64),
                 "12 vs 30 random 64-bit codes")
    expect_equal(np.asarray(want).astype(np.int64), _hamming_reference(a, b),
                 "reference self-test")
    expect_equal(np.asarray(fn(a[:1], a[:1])).astype(np.int64), np.array([[0]]),
                 "a code against itself")
    ones = np.full((1, 64), 255, dtype=np.uint8)
    zeros = np.zeros((1, 64), dtype=np.uint8)
    expect_equal(np.asarray(fn(ones, zeros)).astype(np.int64), np.array([[512]]),
                 "all 512 bits differ", "uint8 arithmetic overflows at 255: sum in a wider "
                 "integer type")


@register("nb05-itq-step", twins=("mmcourse.hashing:itq_step", "mmcourse.hashing:ITQ.fit",),
          why="ITQ alternates: fix the rotation and take signs, then fix the signs "
                              "and solve for the best rotation (orthogonal Procrustes, one SVD).")
def check_itq_step(fn):
    from mmcourse.hashing import itq_step

    rng = np.random.default_rng(8)
    V = rng.normal(size=(200, 8)).astype(np.float64)
    V -= V.mean(0)
    R0, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    V0, R00 = V.copy(), R0.copy()
    R1 = np.asarray(fn(V, R0), dtype=np.float64)
    if not (np.array_equal(V, V0) and np.array_equal(R0, R00)):
        fail("200 centred points, 8 bits", "inputs left unchanged", "inputs modified in place")
    expect_equal(R1.shape, (8, 8), "200 centred points, 8 bits (shape)", "R is (bits, bits)")
    expect_close(R1 @ R1.T, np.eye(8), "R_new @ R_new.T", "the new rotation must be orthogonal: "
                 "R = U @ Wt from the SVD, no singular values in between", atol=1e-6)
    ref = itq_step(V, R0)
    ref_R = np.asarray(ref[0] if isinstance(ref, tuple) else ref, dtype=np.float64)
    expect_close(R1, ref_R, "200 centred points, 8 bits (vs mmcourse.hashing.itq_step)",
                 "B = sign(V @ R); U, S, Wt = svd(V.T @ B); R = U @ Wt (svd of B.T @ V "
                 "gives the transpose)", rtol=1e-5, atol=1e-6)

    def loss(R):
        B = np.where(V @ R >= 0, 1.0, -1.0)
        return float(np.sum((B - V @ R) ** 2))

    if loss(R1) > loss(R0) + 1e-6:
        fail("the quantisation loss ||B - V R||^2", f"at most {loss(R0):.3f}",
             f"{loss(R1):.3f}", "one step must never increase the loss")
    V2 = rng.normal(size=(50, 4))
    V2 -= V2.mean(0)
    ref2 = itq_step(V2, np.eye(4))
    ref2 = np.asarray(ref2[0] if isinstance(ref2, tuple) else ref2, dtype=np.float64)
    expect_close(np.asarray(fn(V2, np.eye(4)), dtype=np.float64), ref2,
                 "50 points, 4 bits, starting from the identity", rtol=1e-5, atol=1e-6)


@register("nb05-radius", why="Hash lookup returns everything within a Hamming ball; unlike "
                            "ranking, it may return nothing or far too much.")
def check_radius(fn):
    codes = np.array([[0b00000000], [0b00000001], [0b00000011], [0b11111111], [0b00000000]],
                     dtype=np.uint8)
    q = np.array([0b00000000], dtype=np.uint8)
    for r, want in ((0, [0, 4]), (1, [0, 1, 4]), (2, [0, 1, 2, 4]), (8, [0, 1, 2, 3, 4])):
        got = np.asarray(fn(q, codes, r))
        expect_equal(got.astype(np.int64).tolist(), want, f"radius {r} around 00000000",
                     "indices of codes with Hamming distance <= radius, in increasing order")
    got = np.asarray(fn(np.array([0b10101010], dtype=np.uint8), codes[:3], 1))
    if got.size != 0:
        fail("no code within radius 1", "an empty array", got)
    if got.dtype.kind not in "iu":
        fail("no code within radius 1", "an empty integer array", f"dtype {got.dtype}",
             "np.flatnonzero returns integer indices even when nothing matches")
    rng = np.random.default_rng(9)
    db = rng.integers(0, 256, size=(500, 4), dtype=np.uint8)
    qq = db[17].copy()
    dist = _hamming_reference(qq[None], db)[0]
    expect_equal(np.asarray(fn(qq, db, 10)).astype(np.int64), np.flatnonzero(dist <= 10),
                 "500 random 32-bit codes, radius 10")
