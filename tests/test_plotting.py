"""maat_detector.plotting, headless (Agg backend)."""

import builtins

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from maat_detector import plotting  # noqa: E402
from maat_detector.plotting import plot_attribution, plot_scores  # noqa: E402

N_ROWS, N_FEATURES = 120, 3


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    scores = np.abs(X).mean(axis=1)
    labels = np.zeros(N_ROWS, dtype=int)
    labels[20:30] = 1  # two separate segments
    labels[80:85] = 1
    return X, scores, labels


def _shades(ax):
    return [p for p in ax.patches if p.get_gid() == "maat-anomaly"]


def _threshold_lines(ax):
    return [line for line in ax.lines if line.get_gid() == "maat-threshold"]


def test_plot_scores_panels_threshold_and_shading(data):
    X, scores, labels = data
    fig = plot_scores(X, scores, threshold=1.2, labels=labels, title="t")
    assert isinstance(fig, Figure)
    series_ax, score_ax = fig.axes
    assert len(fig.axes) == 2
    # One shaded span per labelled segment, on both panels.
    assert len(_shades(series_ax)) == 2 and len(_shades(score_ax)) == 2
    first = _shades(score_ax)[0]
    assert (first.get_x(), first.get_x() + first.get_width()) == (19.5, 29.5)
    (line,) = _threshold_lines(score_ax)
    assert np.allclose(line.get_ydata(), 1.2)
    assert len(series_ax.lines) == N_FEATURES
    np.testing.assert_allclose(score_ax.lines[0].get_ydata(), scores)
    assert fig._suptitle.get_text() == "t"


def test_plot_scores_optional_parts_absent(data):
    X, scores, _ = data
    fig = plot_scores(X, scores)
    _, score_ax = fig.axes
    assert not _shades(score_ax) and not _threshold_lines(score_ax)


def test_plot_scores_max_channels_and_names(data):
    X, scores, _ = data
    fig = plot_scores(X, scores, max_channels=2, channel_names=["a", "b", "c"])
    series_ax = fig.axes[0]
    assert len(series_ax.lines) == 2
    assert [t.get_text() for t in series_ax.get_yticklabels()] == ["a", "b"]
    assert "2 of 3" in series_ax.get_ylabel()


def test_plot_scores_dataframe_columns_are_channel_names(data):
    pd = pytest.importorskip("pandas")
    X, scores, labels = data
    frame = pd.DataFrame(X, columns=["cpu", "mem", "disk"])
    fig = plot_scores(frame, pd.Series(scores), labels=pd.Series(labels))
    names = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert names == ["cpu", "mem", "disk"]


def test_plot_scores_one_channel_and_bool_labels():
    x = np.sin(np.arange(50) / 3)
    labels = np.zeros(50, dtype=bool)
    labels[-3:] = True
    fig = plot_scores(x, np.abs(x), labels=labels, score_scale="symlog")
    assert len(fig.axes[0].lines) == 1 and len(_shades(fig.axes[1])) == 1
    assert fig.axes[1].get_yscale() == "symlog"


def test_plot_scores_into_given_axes(data):
    X, scores, _ = data
    fig, axes = plt.subplots(2, 1)
    assert plot_scores(X, scores, ax=axes) is fig
    with pytest.raises(ValueError, match="sequence of 2 matplotlib Axes"):
        plot_scores(X, scores, ax=axes[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(scores=np.zeros(N_ROWS - 1)), r"scores must have shape \(120,\)"),
        (dict(scores=np.zeros((N_ROWS, 2))), r"scores must have shape \(120,\)"),
        (dict(labels=np.zeros(7)), r"labels must have shape \(120,\)"),
        (dict(labels=np.full(N_ROWS, -1)), "to_binary_labels"),
        (dict(channel_names=["a"]), "channel_names has 1 names but X has 3"),
        (dict(threshold=np.nan), "threshold must be a finite number"),
        (dict(max_channels=0), "max_channels=0 must be at least 1"),
    ],
)
def test_plot_scores_bad_inputs(data, kwargs, message):
    X, scores, _ = data
    kwargs = {"scores": scores, **kwargs}
    with pytest.raises(ValueError, match=message):
        plot_scores(X, **kwargs)


def test_plot_scores_bad_X_shape():
    with pytest.raises(ValueError, match=r"X must have shape \(n_rows, n_features\)"):
        plot_scores(np.zeros((4, 3, 2)), np.zeros(4))


def test_plot_attribution_panels(data):
    X, scores, labels = data
    contributions = X**2
    fig = plot_attribution(
        X, contributions, scores=scores, threshold=1.2, labels=labels
    )
    assert isinstance(fig, Figure)
    # series, scores, heat map, colour bar
    assert len(fig.axes) == 4
    series_ax, score_ax, heat_ax = fig.axes[:3]
    assert len(_shades(series_ax)) == 2 and len(_shades(score_ax)) == 2
    assert len(_threshold_lines(score_ax)) == 1
    (image,) = heat_ax.images
    assert image.get_array().shape == (N_FEATURES, N_ROWS)
    # Heat-map rows sorted by total contribution, largest first.
    totals = image.get_array().sum(axis=1)
    assert np.all(np.diff(totals) <= 0)
    # Segment edges outlined on the heat map.
    assert len([ln for ln in heat_ax.lines if ln.get_gid() == "maat-anomaly"]) == 4


def test_plot_attribution_without_scores_and_top_k(data):
    pd = pytest.importorskip("pandas")
    X, _, _ = data
    frame = pd.DataFrame(X, columns=["cpu", "mem", "disk"])
    contributions = np.zeros_like(X)
    contributions[:, 2] = 5.0  # "disk" dominates, then "cpu"
    contributions[:, 0] = 1.0
    fig = plot_attribution(frame, contributions, top_k=2)
    assert len(fig.axes) == 3  # series, heat map, colour bar
    heat_ax = fig.axes[1]
    assert heat_ax.images[0].get_array().shape == (2, N_ROWS)
    assert [t.get_text() for t in heat_ax.get_yticklabels()] == ["disk", "cpu"]


def test_plot_attribution_signed_values_use_symmetric_limits(data):
    X, _, _ = data
    fig = plot_attribution(X, X)
    vmin, vmax = fig.axes[1].images[0].get_clim()
    assert vmin == -vmax


@pytest.mark.parametrize(
    ("contributions", "kwargs", "message"),
    [
        (np.zeros((N_ROWS, 2)), {}, r"contributions must have shape .*\(120, 3\)"),
        (np.zeros((N_FEATURES, N_ROWS)), {}, r"got shape \(3, 120\)"),
        (np.full((N_ROWS, N_FEATURES), np.nan), {}, "NaN or infinite"),
        (np.zeros((N_ROWS, N_FEATURES)), dict(top_k=0), "top_k must be a positive"),
        (np.zeros((N_ROWS, N_FEATURES)), dict(scores=np.zeros(3)), "scores must"),
    ],
)
def test_plot_attribution_bad_inputs(data, contributions, kwargs, message):
    X, _, _ = data
    with pytest.raises(ValueError, match=message):
        plot_attribution(X, contributions, **kwargs)


def test_missing_matplotlib_says_how_to_install(monkeypatch, data):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    X, scores, _ = data
    with pytest.raises(ImportError, match=r'pip install "maat-detector\[plot\]"'):
        plotting.plot_scores(X, scores)
