"""Tests for mmcourse.plots under the Agg backend: what is drawn, and input validation."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmcourse import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 255, (5, 8, 8, 3), dtype=np.uint8)


def drawn_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def test_show_images_grid_and_titles(images):
    fig = plots.show_images(images, titles=list("abcde"), ncols=3)
    assert isinstance(fig, Figure)
    axes = drawn_axes(fig)
    assert len(axes) == 5 and len(fig.axes) == 6  # 2 rows x 3 columns
    assert [ax.get_title() for ax in axes] == list("abcde")
    np.testing.assert_array_equal(axes[0].images[0].get_array(), images[0])
    grey = plots.show_images(np.zeros((2, 4, 4)), ncols=8)
    assert len(grey.axes) == 2  # ncols clipped to the number of images
    with pytest.raises(ValueError, match="titles"):
        plots.show_images(images, titles=["only one"])
    with pytest.raises(ValueError, match="ncols"):
        plots.show_images(images, ncols=0)
    with pytest.raises(ValueError, match="images"):
        plots.show_images(np.zeros((2, 4)))


def test_show_search_results_marks_and_scores(images):
    fig = plots.show_search_results("a red circle", images, [0.9, 0.8, 0.7, 0.6, 0.5],
                                    relevant=[1, 0, 1, 1, 0], ncols=5)
    axes = drawn_axes(fig)
    assert len(axes) == 5
    titles = [ax.get_title() for ax in axes]
    assert titles[0].startswith("✓ 1. score 0.900") and titles[1].startswith("✗ 2.")
    assert axes[1].spines["top"].get_edgecolor()[:3] == pytest.approx(matplotlib.colors.to_rgb("#c62828"))
    assert any("a red circle" in t.get_text() for ax in fig.axes for t in ax.texts)
    img_query = plots.show_search_results(images[0], images[1:], np.arange(4.0))
    assert len(drawn_axes(img_query)) == 5  # the query image + 4 results
    with pytest.raises(ValueError, match="scores"):
        plots.show_search_results("q", images, [1.0, 2.0])
    with pytest.raises(ValueError, match="relevant"):
        plots.show_search_results("q", images, np.ones(5), relevant=[1, 0])


def test_plot_history_forms():
    hist = {"step": [10, 20, 30], "loss": [3.0, 2.0, 1.5], "val_R@1": [0.1, 0.3, 0.4]}
    fig = plots.plot_history(hist)
    assert len(fig.axes) == 2
    loss_ax, metric_ax = fig.axes
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [10, 20, 30])
    np.testing.assert_array_equal(loss_ax.lines[0].get_ydata(), [3.0, 2.0, 1.5])
    assert metric_ax.get_legend().get_texts()[0].get_text() == "val_R@1"
    per_step = [{"loss": 1.0}, {"loss": 0.5}]
    assert len(plots.plot_history(per_step).axes) == 1

    class KerasHistory:
        history = {"loss": [1.0, 0.9], "accuracy": [0.5, 0.6]}

    assert len(plots.plot_history(KerasHistory()).axes) == 2
    with pytest.raises(ValueError, match="history"):
        plots.plot_history([])
    with pytest.raises(ValueError, match="history"):
        plots.plot_history({"step": [1, 2], "seconds": [0.1, 0.2]})
    with pytest.raises(ValueError, match="smooth"):
        plots.plot_history(hist, smooth=0)


def test_plot_history_of_train_dual_encoder_shape():
    """Per-step loss plus validation metrics recorded every few steps (eval_step)."""
    hist = {"step": list(range(1, 11)), "loss": list(np.linspace(3, 1, 10)), "lr": [1e-3] * 10,
            "temperature": [0.07] * 10, "seconds": list(np.arange(10) * 0.1),
            "eval_step": [5, 10], "val_R@10": [0.3, 0.6], "eval_seconds": [0.5, 1.0]}
    fig = plots.plot_history(hist, smooth=3)
    loss_ax, metric_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["loss"]
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), range(3, 11))  # 3-point average
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), np.convolve(hist["loss"], np.ones(3) / 3, "valid"))
    assert [line.get_label() for line in metric_ax.lines] == ["val_R@10"]
    np.testing.assert_array_equal(metric_ax.lines[0].get_xdata(), [5, 10])  # against eval_step
    compare = plots.plot_history({"run A": [1.0, 0.5], "run B": [1.2, 0.7]})
    assert len(compare.axes) == 1 and len(compare.axes[0].lines) == 2
    with pytest.raises(ValueError, match="x"):
        plots.plot_history(hist, x="time")


def test_plot_pr_curve_overlays_and_validates():
    from mmcourse.metrics import precision_recall_curve

    rng = np.random.default_rng(0)
    p, r = precision_recall_curve(rng.random((4, 20)), rng.random((4, 20)) > 0.7)
    ax = plots.plot_pr_curve(p, r, label="model A")
    plots.plot_pr_curve(p * 0.5, r, label="model B", ax=ax)
    assert isinstance(ax, Axes) and len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[0].get_ydata(), p)
    with pytest.raises(ValueError, match="recall"):
        plots.plot_pr_curve(p, r[:-1])
    with pytest.raises(ValueError, match="precision"):
        plots.plot_pr_curve(p + 2, r)


def test_plot_tradeoff_annotates_points():
    ax = plots.plot_tradeoff([1e-3, 1e-2, 1e-1], [0.5, 0.8, 0.99], ["hnsw", "ivf", "flat"],
                             "query time (s)", "recall@10", logx=True)
    assert [t.get_text() for t in ax.texts] == ["hnsw", "ivf", "flat"]
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "recall@10"
    with pytest.raises(ValueError, match="labels"):
        plots.plot_tradeoff([1, 2], [1, 2], ["a"], "x", "y")
    with pytest.raises(ValueError, match="x"):
        plots.plot_tradeoff([0, 1], [1, 2], ["a", "b"], "x", "y", logx=True)


def test_project_2d_pca_matches_scikit_learn_up_to_sign():
    from sklearn.decomposition import PCA

    X = np.random.default_rng(0).standard_normal((30, 6))
    ours = plots.project_2d(X, "pca")
    ref = PCA(2).fit_transform(X)
    for j in range(2):
        assert abs(np.corrcoef(ours[:, j], ref[:, j])[0, 1]) == pytest.approx(1.0, abs=1e-8)
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), atol=1e-8)


def test_plot_embedding_2d_colours_by_label():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (10, 5)), rng.normal(5, 1, (10, 5))])
    labels = np.array(["a"] * 10 + ["b"] * 10)
    ax = plots.plot_embedding_2d(X, labels)
    assert len(ax.collections) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="labels"):
        plots.plot_embedding_2d(X, labels[:5])
    with pytest.raises(ValueError, match="method"):
        plots.plot_embedding_2d(X, labels, method="umap")


@pytest.mark.slow
def test_plot_embedding_2d_tsne_is_seeded():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (10, 5)), rng.normal(5, 1, (10, 5))])
    labels = np.array(["a"] * 10 + ["b"] * 10)
    first = plots.plot_embedding_2d(X, labels, method="tsne", seed=0)
    again = plots.plot_embedding_2d(X, labels, method="tsne", seed=0)
    np.testing.assert_allclose(first.collections[0].get_offsets(), again.collections[0].get_offsets())
    # t-SNE keeps the two well-separated clusters apart
    a, b = (np.asarray(c.get_offsets()) for c in first.collections)
    assert np.linalg.norm(a.mean(0) - b.mean(0)) > max(a.std(0).max(), b.std(0).max())


# ------------------------------------------------------------------ video clips
@pytest.fixture
def clips():
    return np.random.default_rng(1).integers(0, 255, (3, 6, 5, 7, 3), dtype=np.uint8)  # (n, T, H, W, 3)


def test_filmstrip_lays_frames_side_by_side(clips):
    clip = clips[0]
    strip = plots.filmstrip(clip)
    assert strip.dtype == np.uint8 and strip.shape == (5, 6 * 7 + 5, 3)
    for t in range(6):
        np.testing.assert_array_equal(strip[:, t * 8:t * 8 + 7], clip[t])
    assert (strip[:, 7::8] == strip[0, 7, 0]).all() and strip[0, 7, 0] < 64  # dark 1-px gaps
    some = plots.filmstrip(clip, frames=[5, 0, 2])
    assert some.shape == (5, 3 * 7 + 2, 3)
    np.testing.assert_array_equal(some[:, :7], clip[5])
    np.testing.assert_array_equal(some[:, 8:15], clip[0])
    np.testing.assert_array_equal(some[:, 16:], clip[2])
    np.testing.assert_array_equal(plots.filmstrip(clip, frames=[3]), clip[3])
    floats = plots.filmstrip(clip / 255.0)
    np.testing.assert_array_equal(floats, strip)


def test_evenly_spaced_frames():
    np.testing.assert_array_equal(plots.evenly_spaced_frames(8, 4), [0, 2, 5, 7])
    np.testing.assert_array_equal(plots.evenly_spaced_frames(3, 4), [0, 1, 2])
    np.testing.assert_array_equal(plots.evenly_spaced_frames(1, 4), [0])
    with pytest.raises(ValueError, match="n_frames"):
        plots.evenly_spaced_frames(0)


@pytest.mark.parametrize("clip, frames, name", [
    (np.zeros((6, 5, 7)), None, "clip"),               # no channel axis: an image stack, not a clip
    (np.zeros((2, 6, 5, 7, 3)), None, "clip"),         # several clips
    (np.zeros((6, 5, 7, 4)), None, "clip"),            # 4 channels
    (np.zeros((0, 5, 7, 3)), None, "clip"),            # no frames
    (np.zeros((6, 5, 7, 3)), [], "frames"),
    (np.zeros((6, 5, 7, 3)), [0, 6], "frames"),        # out of range
    (np.zeros((6, 5, 7, 3)), [-1], "frames"),
    (np.zeros((6, 5, 7, 3)), [0.5], "frames"),
    (np.full((6, 5, 7, 3), 300.0), None, "clip"),      # not pixel values
])
def test_filmstrip_validation(clip, frames, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        plots.filmstrip(clip, frames)


def test_show_filmstrips_one_row_per_clip(clips):
    fig = plots.show_filmstrips(clips, titles=["a red circle", "b", None], frames=[0, 5])
    assert isinstance(fig, Figure)
    axes = drawn_axes(fig)
    assert len(axes) == 3 and len(fig.axes) == 3
    assert [ax.get_title(loc="left") for ax in axes] == ["a red circle", "b", ""]
    np.testing.assert_array_equal(axes[1].images[0].get_array(), plots.filmstrip(clips[1], [0, 5]))
    as_list = plots.show_filmstrips(list(clips[:2]))
    assert len(drawn_axes(as_list)) == 2
    assert drawn_axes(as_list)[0].images[0].get_array().shape == (5, 6 * 8 - 1, 3)


def test_show_filmstrips_validation(clips):
    with pytest.raises(ValueError, match="^clips:.*clip\\[None\\]"):
        plots.show_filmstrips(clips[0])  # one clip, not a batch
    with pytest.raises(ValueError, match="^clips:"):
        plots.show_filmstrips(clips[..., :2])
    with pytest.raises(ValueError, match="^clips:"):
        plots.show_filmstrips([])
    with pytest.raises(ValueError, match="^clips:.*one shape"):
        plots.show_filmstrips([clips[0], clips[1, :3]])
    with pytest.raises(ValueError, match="^titles:.*one per clip"):
        plots.show_filmstrips(clips, titles=["only one"])
    with pytest.raises(ValueError, match="^frames:"):
        plots.show_filmstrips(clips, frames=[9])
    with pytest.raises(ValueError, match="^size:"):
        plots.show_filmstrips(clips, size=0)
