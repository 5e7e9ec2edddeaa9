"""Matplotlib helpers for the notebooks: image grids, search results, video filmstrips,
training curves, precision–recall curves, trade-off plots and 2-D embedding maps.

A video clip is uint8 (T, H, W, 3): T frames of H × W RGB pixels. :func:`filmstrip` lays
chosen frames side by side in one image (numpy only, no pyplot) and :func:`show_filmstrips`
draws one strip per row; an animated GIF of a clip is :func:`mmcourse.widgets.animated_gif`.

Every function returns the matplotlib Figure (grids) or Axes (single plots) it drew on and
never calls ``plt.show()``: a notebook shows the figure of the last expression, and tests can
inspect it under the Agg backend. pyplot is imported lazily, so ``import mmcourse.plots``
stays cheap.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._validation import as_array, as_matrix, check_choice, check_images, check_int, describe

__all__ = ["show_images", "show_search_results", "filmstrip", "show_filmstrips", "evenly_spaced_frames",
           "plot_history", "plot_pr_curve", "plot_tradeoff", "plot_embedding_2d",
           "project_2d"]  # notebook authors may append more helpers below

_GOOD, _BAD = "#2e7d32", "#c62828"


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _titles(titles, n: int, name: str = "titles", per: str = "image") -> list:
    if titles is None:
        return [None] * n
    if isinstance(titles, str) or not hasattr(titles, "__len__"):
        raise ValueError(f"{name}: expected a list of {n} strings or None, got {describe(titles)}")
    if len(titles) != n:
        raise ValueError(f"{name}: expected {n} entries (one per {per}), got {len(titles)}")
    return [None if t is None else str(t) for t in titles]


def _grid(n: int, ncols: int, size: float, extra_rows: int = 0):
    plt = _plt()
    ncols = min(ncols, max(n, 1))
    nrows = extra_rows + max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * nrows),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    return fig, axes


def show_images(images, titles=None, ncols: int = 8, size: float = 1.6, suptitle: str | None = None):
    """A grid of images (n, H, W, 3) uint8 (or floats in [0, 1], or greyscale).

    ``titles``: one short string per image (or None); ``ncols`` images per row; ``size`` is
    the size of one cell in inches. Returns the Figure.
    """
    imgs = check_images(images, "images")
    ncols = check_int(ncols, "ncols", minimum=1)
    if not isinstance(size, numbers.Real) or size <= 0:
        raise ValueError(f"size: expected a positive number of inches, got {size!r}")
    labels = _titles(titles, len(imgs))
    fig, axes = _grid(len(imgs), ncols, size)
    for i, (img, label) in enumerate(zip(imgs, labels)):
        ax = axes.ravel()[i]
        ax.imshow(img, interpolation="nearest")
        if label:
            ax.set_title(label, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_search_results(query, images, scores, relevant=None, ncols: int = 8, size: float = 1.6,
                        score_label: str = "score"):
    """A query and its ranked results with scores and, if known, green/red relevance frames.

    ``query`` is the query text (str) or image (H, W, 3); ``images`` the k result images
    (k, H, W, 3), best first; ``scores`` (k,) their scores; ``relevant`` (k,) booleans or None.
    Returns the Figure (first row: the query; then the results).
    """
    imgs = check_images(images, "images")
    k = len(imgs)
    vals = as_array(scores, "scores", ndim=1, dtype=np.float64)
    if len(vals) != k:
        raise ValueError(f"scores: expected {k} values (one per result image), got {len(vals)}")
    marks = None
    if relevant is not None:
        marks = as_array(relevant, "relevant", ndim=1)
        if len(marks) != k:
            raise ValueError(f"relevant: expected {k} marks (one per result image), got {len(marks)}")
        marks = marks.astype(bool)
    ncols = check_int(ncols, "ncols", minimum=1)
    if isinstance(query, str):
        query_img = None
    else:
        query_img = check_images(np.asarray(query)[None], "query")[0]
    fig, axes = _grid(k, ncols, size, extra_rows=1)
    head = axes[0, 0]
    if query_img is not None:
        head.imshow(query_img, interpolation="nearest")
        head.set_title("query", fontsize=9, fontweight="bold")
    else:
        head.text(0.0, 0.5, f"query: “{query}”", fontsize=11, fontweight="bold",
                  transform=head.transAxes, va="center", ha="left")
    flat = axes[1:].ravel()
    for i in range(k):
        ax = flat[i]
        ax.imshow(imgs[i], interpolation="nearest")
        title = f"{i + 1}. {score_label} {vals[i]:.3f}"
        colour = "black"
        if marks is not None:
            colour = _GOOD if marks[i] else _BAD
            title = ("✓ " if marks[i] else "✗ ") + title
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(3)
        ax.set_title(title, fontsize=8, color=colour)
    fig.tight_layout()
    return fig


_GAP_COLOUR = 16  # the 1-px separator between the frames of a filmstrip (dark grey)


def _check_clip(clip, name: str = "clip") -> np.ndarray:
    """uint8 frames (T, H, W, 3) of one clip (floats in [0, 1] and (T, H, W, 1) are converted)."""
    arr = as_array(clip, name)
    if arr.ndim != 4:
        hint = "; for several clips use show_filmstrips" if arr.ndim == 5 else ""
        raise ValueError(f"{name}: expected one clip of shape (T, H, W, 3) (frames, height, width, "
                         f"RGB), got shape {arr.shape}{hint}")
    if arr.shape[-1] not in (1, 3):
        raise ValueError(f"{name}: expected 3 colour channels (T, H, W, 3) or 1, got {arr.shape[-1]} "
                         f"channels (shape {arr.shape})")
    return check_images(arr, name)


def _check_frames(frames, n_frames: int, name: str = "frames") -> np.ndarray:
    """int64 (k,) frame indices in [0, n_frames); None means all of them."""
    if frames is None:
        return np.arange(n_frames, dtype=np.int64)
    arr = np.asarray(frames)
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim != 1 or arr.size == 0 or arr.dtype == bool or arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected a non-empty list of frame indices (integers), "
                         f"got {describe(frames)}")
    if arr.min() < 0 or arr.max() >= n_frames:
        raise ValueError(f"{name}: expected indices in [0, {n_frames - 1}] (the clip has {n_frames} "
                         f"frames), got range [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def evenly_spaced_frames(n_frames: int, k: int = 4) -> np.ndarray:
    """``k`` frame indices (int64) spread evenly from the first frame to the last (fewer when
    the clip has fewer than ``k`` frames): ``evenly_spaced_frames(8, 4) == [0, 2, 5, 7]``."""
    n_frames = check_int(n_frames, "n_frames", minimum=1)
    k = check_int(k, "k", minimum=1)
    return np.unique(np.round(np.linspace(0, n_frames - 1, min(k, n_frames))).astype(np.int64))


def filmstrip(clip, frames=None) -> np.ndarray:
    """The frames of a clip side by side: uint8 (H, k·W + k − 1, 3).

    ``clip``: uint8 (T, H, W, 3) (or floats in [0, 1]); ``frames``: the k frame indices to
    show, in order (default: all T). Frames are separated by a 1-px dark gap.
    """
    arr = _check_clip(clip, "clip")
    idx = _check_frames(frames, len(arr))
    k, (_, h, w, c) = len(idx), arr.shape
    out = np.full((h, k * w + k - 1, c), _GAP_COLOUR, dtype=np.uint8)
    for slot, t in enumerate(idx):
        out[:, slot * (w + 1):slot * (w + 1) + w] = arr[t]
    return out


def show_filmstrips(clips, titles=None, frames=None, size: float = 1.2, suptitle: str | None = None):
    """One filmstrip per row: clips uint8 (n, T, H, W, 3) (or a list of n clips of one shape).

    ``titles``: one string per clip shown above its strip (e.g. its caption) or None;
    ``frames``: the frame indices shown of every clip (default all); ``size`` is the height of
    one row in inches. Returns the Figure.
    """
    if isinstance(clips, (list, tuple)) and clips:
        shapes = {np.shape(c) for c in clips}
        if len(shapes) > 1:
            raise ValueError(f"clips: expected clips of one shape (T, H, W, 3), got shapes {sorted(shapes)}")
    arr = as_array(clips, "clips")
    if arr.ndim != 5 or arr.shape[-1] not in (1, 3):
        hint = "; for one clip pass clip[None]" if arr.ndim == 4 else ""
        raise ValueError(f"clips: expected clips of shape (n, T, H, W, 3) (clips, frames, height, "
                         f"width, RGB), got shape {arr.shape}{hint}")
    if not isinstance(size, numbers.Real) or isinstance(size, bool) or size <= 0:
        raise ValueError(f"size: expected a positive number of inches, got {size!r}")
    idx = _check_frames(frames, arr.shape[1])
    labels = _titles(titles, len(arr), per="clip")
    strips = [filmstrip(clip, idx) for clip in arr]
    h, w = strips[0].shape[:2]
    fig, axes = _plt().subplots(len(strips), 1, figsize=(size * w / h, (size + 0.3) * len(strips)),
                                squeeze=False)
    for ax, strip, label in zip(axes[:, 0], strips, labels):
        ax.imshow(strip, interpolation="nearest")
        ax.axis("off")
        if label:
            ax.set_title(label, fontsize=8, loc="left")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def _history_dict(history) -> dict:
    """Normalise a training history to ``{name: float array}``."""
    if hasattr(history, "history") and isinstance(history.history, dict):  # keras History
        history = history.history
    if isinstance(history, (list, tuple)) and history and all(isinstance(h, dict) for h in history):
        keys = list(dict.fromkeys(k for h in history for k in h))
        history = {k: [h.get(k, np.nan) for h in history] for k in keys}
    if not isinstance(history, dict) or not history:
        raise ValueError(f"history: expected a dict of name -> list of numbers, a list of per-step "
                         f"dicts or a Keras History, got {describe(history)}")
    out = {}
    for name, values in history.items():
        try:
            arr = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            continue  # non-numeric entries (e.g. notes) are skipped
        if arr.size:
            out[str(name)] = arr
    if not out:
        raise ValueError(f"history: expected at least one numeric series, got keys {list(history)}")
    return out


_BOOKKEEPING = ("lr", "learning_rate", "temperature", "seconds", "time", "eval_seconds")


def _is_axis(name: str) -> bool:
    low = name.lower()
    return "step" in low or "epoch" in low


def plot_history(history, x: str | None = None, smooth: int = 1):
    """Training curves: losses on the left axes, every other metric on the right.

    ``history``: ``{"loss": [...], "val_R@1": [...], ...}`` (e.g. from ``train_dual_encoder``),
    a list of per-step dicts, or a Keras History. ``x`` names the x-axis series (default
    "step" or "epoch" when present); a series of another length is drawn against the
    step/epoch series of its own length (e.g. ``eval_step`` for validation metrics), else
    against its index. Bookkeeping series (step counters, seconds, lr, temperature) are not
    drawn. ``smooth`` > 1 draws a moving average over that many points (noisy per-step
    losses). Returns the Figure.
    """
    data = _history_dict(history)
    smooth = check_int(smooth, "smooth", minimum=1)
    if x is None:
        x = next((name for name in ("step", "epoch", "steps", "epochs") if name in data), None)
    elif x not in data:
        raise ValueError(f"x: expected one of the history's series {list(data)}, got {x!r}")
    axes_by_len = {len(v): v for k, v in data.items() if _is_axis(k) and k != x}
    if x:
        axes_by_len[len(data[x])] = data[x]
    series = {k: v for k, v in data.items() if not _is_axis(k) and k.lower() not in _BOOKKEEPING}
    if not series:
        raise ValueError(f"history: expected a loss or metric series besides {list(data)}")
    losses = {k: v for k, v in series.items() if "loss" in k.lower()}
    others = {k: v for k, v in series.items() if k not in losses}
    groups = [(g, label) for g, label in ((losses, "loss"), (others, "metric" if losses else "value")) if g]
    plt = _plt()
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 3.5), squeeze=False)
    for ax, (group, ylabel) in zip(axes[0], groups):
        for name, values in group.items():
            xv = axes_by_len.get(len(values), np.arange(1, len(values) + 1))
            if smooth > 1 and len(values) >= smooth:
                kernel = np.ones(smooth) / smooth
                values = np.convolve(values, kernel, mode="valid")
                xv = xv[smooth - 1:]
            ax.plot(xv, values, label=name, marker="." if len(values) < 40 else None)
        ax.set_xlabel(x or "step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_pr_curve(precision, recall, label: str | None = None, ax=None):
    """One precision–recall curve (as from ``mmcourse.metrics.precision_recall_curve``).

    ``precision`` and ``recall``: (L,) arrays in [0, 1]. Call again with the same ``ax`` to
    compare models. Returns the Axes.
    """
    p = as_array(precision, "precision", ndim=1, dtype=np.float64)
    r = as_array(recall, "recall", ndim=1, dtype=np.float64)
    if len(p) != len(r):
        raise ValueError(f"recall: expected {len(p)} values to match precision, got {len(r)}")
    for name, arr in (("precision", p), ("recall", r)):
        if arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"{name}: expected values in [0, 1], got range [{arr.min()}, {arr.max()}]")
    if ax is None:
        _, ax = _plt().subplots(figsize=(4.5, 3.8))
    ax.plot(r, p, marker="o", markersize=3, label=label)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if label:
        ax.legend(fontsize=8)
    return ax


def plot_tradeoff(x, y, labels, xlabel: str, ylabel: str, ax=None, logx: bool = False,
                  title: str | None = None):
    """A trade-off scatter (e.g. query time vs recall), one annotated point per setting.

    ``x``, ``y``: (n,) numbers; ``labels``: n strings; points are joined in the given order.
    ``logx`` puts x on a log scale (times, memory). Returns the Axes.
    """
    xs = as_array(x, "x", ndim=1, dtype=np.float64)
    ys = as_array(y, "y", ndim=1, dtype=np.float64)
    if len(ys) != len(xs):
        raise ValueError(f"y: expected {len(xs)} values to match x, got {len(ys)}")
    names = _titles(labels, len(xs), "labels")
    for name, value in (("xlabel", xlabel), ("ylabel", ylabel)):
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a string, got {describe(value)}")
    if logx and (xs <= 0).any():
        raise ValueError(f"x: expected positive values with logx=True, got min {xs.min()}")
    if ax is None:
        _, ax = _plt().subplots(figsize=(5.5, 3.8))
    ax.plot(xs, ys, marker="o", linestyle="-", alpha=0.8)
    for xi, yi, name in zip(xs, ys, names):
        if name:
            ax.annotate(name, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


def project_2d(X, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates (n, 2) of the rows of ``X`` (n, d) by PCA or t-SNE (seeded)."""
    X = as_matrix(X, "X", dtype=np.float64)
    check_choice(method, "method", ("pca", "tsne"))
    seed = check_int(seed, "seed", minimum=0)
    if len(X) < 3:
        raise ValueError(f"X: expected at least 3 rows to project, got shape {X.shape}")
    if method == "pca":
        centred = X - X.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        comps = vt[:2]
        # a deterministic sign: the largest-magnitude loading of each component is positive
        signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
        out = centred @ (comps * signs[:, None]).T
        if out.shape[1] < 2:
            out = np.hstack([out, np.zeros((len(out), 2 - out.shape[1]))])
        return out
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (len(X) - 1) / 3.0))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(X)


def plot_embedding_2d(X, labels, method: str = "pca", seed: int = 0, ax=None, max_legend: int = 12,
                      title: str | None = None):
    """Scatter of embeddings (n, d) projected to 2-D, coloured by ``labels`` (n,).

    ``method``: "pca" (fast, linear) or "tsne" (slower, local structure; seeded). Returns the
    Axes; the legend lists up to ``max_legend`` label values.
    """
    X = as_matrix(X, "X")
    labels = np.asarray(labels)
    if labels.shape != (len(X),):
        raise ValueError(f"labels: expected shape ({len(X)},) (one per row of X), got {labels.shape}")
    xy = project_2d(X, method, seed)
    if ax is None:
        _, ax = _plt().subplots(figsize=(5.5, 4.5))
    values = list(dict.fromkeys(labels.tolist()))
    cmap = _plt().get_cmap("tab20" if len(values) > 10 else "tab10")
    for i, value in enumerate(values):
        sel = labels == value
        ax.scatter(xy[sel, 0], xy[sel, 1], s=10, alpha=0.75, color=cmap(i % cmap.N),
                   label=str(value) if i < max_legend else None)
    ax.set_xlabel(f"{method.upper()} 1")
    ax.set_ylabel(f"{method.upper()} 2")
    if title:
        ax.set_title(title)
    if values:
        ax.legend(fontsize=7, markerscale=1.5, loc="best")
    return ax
