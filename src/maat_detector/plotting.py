"""Plots of a series, its anomaly scores and per-channel attributions.

matplotlib is an optional dependency, imported inside the functions: install it
with ``pip install "maat-detector[plot]"``. Every function returns a
:class:`matplotlib.figure.Figure` and never calls ``plt.show()``.

Conventions shared by the functions here:

- ``X`` is ``(n_rows, n_features)``, one row per time step (a 1-D array is one
  channel); a :class:`pandas.DataFrame` gives its column names as channel
  names. The x axis is the row number.
- ``scores`` are **anomaly** scores, higher = more anomalous:
  :meth:`MAATDetector.anomaly_score <maat_detector.MAATDetector.anomaly_score>`
  or ``-score_samples``. ``threshold`` is on the same scale, e.g.
  ``detector.threshold_``.
- ``labels`` are ground truth, 0 (normal) / 1 (anomaly); every run of 1s is
  shaded on all panels. Convert scikit-learn's +1/-1 predictions first with
  :func:`maat_detector.metrics.to_binary_labels`.
- Channels are drawn normalised (median 0, unit robust spread) and stacked
  with an offset of one unit per channel, so they share one panel without
  overlapping.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_scores", "plot_attribution"]

_INSTALL_HINT = 'pip install "maat-detector[plot]"'
_ANOMALY_GID = "maat-anomaly"
_THRESHOLD_GID = "maat-threshold"
_SHADE = dict(color="tab:red", alpha=0.15, linewidth=0)


def _pyplot():
    """Import matplotlib.pyplot, or raise with the install command."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "maat_detector.plotting needs matplotlib, which is not installed; "
            f"install it with: {_INSTALL_HINT}"
        ) from exc
    return plt


# --------------------------------------------------------------------------- #
# Input checks
# --------------------------------------------------------------------------- #
def _series(X, channel_names):
    """``X`` as a float (n, C) array and its channel names."""
    columns = getattr(X, "columns", None)
    values = np.asarray(X, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(
            f"X must have shape (n_rows, n_features) or (n_rows,); got an array "
            f"of shape {values.shape}."
        )
    if values.shape[0] == 0:
        raise ValueError("X has no rows; pass at least one time step.")
    n_features = values.shape[1]
    if channel_names is None:
        if columns is not None and len(columns) == n_features:
            channel_names = [str(c) for c in columns]
        else:
            channel_names = [f"channel {j}" for j in range(n_features)]
    else:
        channel_names = [str(c) for c in channel_names]
        if len(channel_names) != n_features:
            raise ValueError(
                f"channel_names has {len(channel_names)} names but X has "
                f"{n_features} channels; pass one name per column of X."
            )
    return values, channel_names


def _per_row(values, n_rows, name):
    """A 1-D array of one value per row, or a ValueError saying what is wrong."""
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise ValueError(
            f"{name} must have shape ({n_rows},), one value per row of X; got "
            f"shape {arr.shape}."
        )
    return arr


def _binary_labels(labels, n_rows):
    arr = _per_row(labels, n_rows, "labels")
    if arr is None:
        return None
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
        found = np.unique(arr)[:5].tolist()
        raise ValueError(
            "labels must hold 0 (normal) and 1 (anomaly); found the values "
            f"{found}. Convert scikit-learn's +1/-1 predictions with "
            "maat_detector.metrics.to_binary_labels."
        )
    return arr.astype(bool)


def _check_threshold(threshold):
    if threshold is None:
        return None
    value = float(threshold)
    if not np.isfinite(value):
        raise ValueError(f"threshold must be a finite number; got {threshold!r}.")
    return value


def _check_max_channels(max_channels):
    if isinstance(max_channels, bool) or not isinstance(
        max_channels, (int, np.integer)
    ):
        raise ValueError(
            f"max_channels must be a positive integer; got {max_channels!r}."
        )
    if max_channels < 1:
        raise ValueError(
            f"max_channels={max_channels} must be at least 1; pass the number of "
            "channels to draw."
        )
    return int(max_channels)


def _runs(mask):
    """``(start, stop)`` of every maximal run of True, stop exclusive."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


# --------------------------------------------------------------------------- #
# Drawing helpers
# --------------------------------------------------------------------------- #
def _axes(ax, n_panels, figsize, height_ratios):
    """New figure with ``n_panels`` stacked axes sharing x, or the given axes."""
    plt = _pyplot()
    if ax is None:
        if figsize is None:
            figsize = (10.0, 1.6 + 1.4 * sum(height_ratios))
        fig, axes = plt.subplots(
            n_panels,
            1,
            sharex=True,
            figsize=figsize,
            layout="constrained",
            gridspec_kw={"height_ratios": height_ratios},
        )
        return fig, list(np.atleast_1d(axes))
    axes = list(np.ravel(ax)) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) != n_panels:
        raise ValueError(
            f"ax must be a sequence of {n_panels} matplotlib Axes for this plot "
            f"(top to bottom); got {len(axes)}."
        )
    return axes[0].figure, axes


def _normalised(values):
    """Each channel centred on its median and divided by a robust spread."""
    center = np.nanmedian(values, axis=0)
    q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
    spread = (q75 - q25) / 1.349
    fallback = np.nanstd(values, axis=0)
    spread = np.where(spread > 0, spread, fallback)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    # Clip so one huge spike does not flatten its neighbours' traces.
    return np.clip((values - center) / spread, -4.0, 4.0) / 8.0


def _draw_series(ax, values, names, channels, n_total):
    rows = np.arange(values.shape[0])
    normalised = _normalised(values[:, channels])
    for position, column in enumerate(normalised.T):
        ax.plot(rows, column - position, linewidth=0.8, color=f"C{position % 10}")
    ax.set_yticks(-np.arange(len(channels)), [names[j] for j in channels])
    ax.set_ylim(-len(channels) + 0.4, 0.6)
    shown = (
        f"series ({len(channels)} of {n_total} channels)"
        if len(channels) < n_total
        else "series"
    )
    ax.set_ylabel(shown)
    ax.tick_params(axis="y", labelsize="small")


def _draw_scores(ax, scores, threshold, score_scale):
    rows = np.arange(scores.shape[0])
    ax.plot(rows, scores, color="black", linewidth=0.8, label="anomaly score")
    if threshold is not None:
        ax.axhline(
            threshold,
            color="tab:red",
            linestyle="--",
            linewidth=1.0,
            label="threshold",
            gid=_THRESHOLD_GID,
        )
        above = scores > threshold
        if above.any():
            ax.plot(
                rows[above],
                scores[above],
                linestyle="none",
                marker=".",
                markersize=3,
                color="tab:red",
                label="above threshold",
            )
    ax.set_yscale(score_scale)
    ax.set_ylabel("anomaly score")


def _shade(axes, labels):
    """Shade each run of true anomalies on every axis; one legend entry."""
    if labels is None:
        return 0
    runs = _runs(labels)
    for ax in axes:
        for index, (start, stop) in enumerate(runs):
            ax.axvspan(
                start - 0.5,
                stop - 0.5,
                gid=_ANOMALY_GID,
                label="labelled anomaly" if index == 0 else None,
                **_SHADE,
            )
    return len(runs)


def _legend(ax):
    handles, names = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, names, loc="upper right", fontsize="small", framealpha=0.8)


# --------------------------------------------------------------------------- #
# Public functions
# --------------------------------------------------------------------------- #
def plot_scores(
    X,
    scores,
    *,
    threshold=None,
    labels=None,
    channel_names=None,
    max_channels=8,
    score_scale="linear",
    ax=None,
    figsize=None,
    title=None,
):
    """Plot a series above its anomaly scores, with threshold and true anomalies.

    The top panel draws up to ``max_channels`` channels of ``X``, normalised
    and stacked; the bottom panel draws the scores, the threshold as a dashed
    line and the rows above it as red dots. Labelled anomaly segments are
    shaded on both panels.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_features) or (n_rows,)
        The series, one row per time step. A DataFrame's column names become
        the channel names.
    scores : array-like of shape (n_rows,)
        Anomaly scores, higher = more anomalous (e.g.
        ``detector.anomaly_score(X)``).
    threshold : float, optional
        Threshold on ``scores``, e.g. ``detector.threshold_``.
    labels : array-like of shape (n_rows,), optional
        Ground truth, 0/1 or bool, 1 = anomaly.
    channel_names : sequence of str, optional
        One name per column of ``X``; overrides a DataFrame's columns.
    max_channels : int, default=8
        Draw the first ``max_channels`` channels only.
    score_scale : {"linear", "log", "symlog"}, default="linear"
        Scale of the score axis. MAAT's energies are heavy-tailed: "log"
        shows their low range (scores must then be positive).
    ax : sequence of 2 matplotlib Axes, optional
        Axes to draw into, top (series) then bottom (scores). By default a
        new figure is made.
    figsize : tuple of float, optional
        Size of the new figure, in inches; ignored when ``ax`` is given.
    title : str, optional
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the two axes.

    Raises
    ------
    ValueError
        If ``scores`` or ``labels`` does not have one value per row of ``X``,
        ``labels`` is not 0/1, ``channel_names`` has the wrong length, or
        ``ax`` is not a pair of Axes.
    ImportError
        If matplotlib is not installed.

    See Also
    --------
    plot_attribution : The same panels plus a channel-by-time heat map.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from maat_detector.plotting import plot_scores
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> scores = np.abs(X).mean(axis=1)
    >>> labels = np.zeros(200, dtype=int)
    >>> labels[120:130] = 1
    >>> fig = plot_scores(X, scores, threshold=1.5, labels=labels)
    >>> len(fig.axes)
    2
    """
    values, names = _series(X, channel_names)
    n_rows, n_features = values.shape
    scores = _per_row(scores, n_rows, "scores").astype(np.float64)
    labels = _binary_labels(labels, n_rows)
    threshold = _check_threshold(threshold)
    max_channels = _check_max_channels(max_channels)
    channels = list(range(min(n_features, max_channels)))

    fig, (series_ax, score_ax) = _axes(
        ax, 2, figsize, height_ratios=[max(1.5, 0.45 * len(channels)), 1.5]
    )
    _draw_series(series_ax, values, names, channels, n_features)
    _draw_scores(score_ax, scores, threshold, score_scale)
    _shade([series_ax, score_ax], labels)
    score_ax.set_xlabel("row (time step)")
    score_ax.set_xlim(-0.5, n_rows - 0.5)
    _legend(score_ax)
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_attribution(
    X,
    contributions,
    *,
    scores=None,
    threshold=None,
    labels=None,
    channel_names=None,
    top_k=None,
    max_channels=8,
    score_scale="linear",
    cmap=None,
    ax=None,
    figsize=None,
    title=None,
):
    """Plot a series, its scores and a channel-by-time heat map of contributions.

    Panels, top to bottom: the channels of ``X`` that contribute most
    (normalised and stacked, at most ``max_channels``), the anomaly scores
    with the threshold (only when ``scores`` is given), and a heat map with
    one row per channel and one column per time step, coloured by the
    channel's contribution to that row's anomaly score. Heat-map rows are
    sorted by total contribution, largest first. Labelled anomaly segments
    are shaded on the series and score panels and outlined on the heat map.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_features) or (n_rows,)
        The series, one row per time step. A DataFrame's column names become
        the channel names.
    contributions : array-like of shape (n_rows, n_features)
        Contribution of each channel to each row's anomaly score, higher =
        more anomalous. Non-negative values get a sequential colour map,
        signed ones a diverging map centred on 0.
    scores : array-like of shape (n_rows,), optional
        Anomaly scores, higher = more anomalous; adds the score panel.
    threshold : float, optional
        Threshold on ``scores``; drawn only with ``scores``.
    labels : array-like of shape (n_rows,), optional
        Ground truth, 0/1 or bool, 1 = anomaly.
    channel_names : sequence of str, optional
        One name per column of ``X``; overrides a DataFrame's columns.
    top_k : int, optional
        Show only the ``top_k`` channels with the largest total contribution
        in the heat map; None shows all.
    max_channels : int, default=8
        At most this many of the top channels are drawn in the series panel.
    score_scale : {"linear", "log", "symlog"}, default="linear"
        Scale of the score axis.
    cmap : str or matplotlib Colormap, optional
        Heat-map colours; default "viridis", or "RdBu_r" for signed values.
    ax : sequence of matplotlib Axes, optional
        Axes to draw into, top to bottom: 3 with ``scores``, else 2. The
        colour bar takes space from them. By default a new figure is made.
    figsize : tuple of float, optional
        Size of the new figure, in inches; ignored when ``ax`` is given.
    title : str, optional
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure: the panels and the colour bar's axes.

    Raises
    ------
    ValueError
        If ``contributions`` is not ``(n_rows, n_features)`` of ``X``, a
        per-row argument has the wrong length, or ``top_k`` is not a positive
        integer.
    ImportError
        If matplotlib is not installed.

    See Also
    --------
    plot_scores : The series and score panels alone.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from maat_detector.plotting import plot_attribution
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> contributions = X ** 2
    >>> fig = plot_attribution(X, contributions, scores=contributions.mean(1))
    >>> len(fig.axes)  # series, scores, heat map, colour bar
    4
    """
    values, names = _series(X, channel_names)
    n_rows, n_features = values.shape
    contrib = np.asarray(contributions, dtype=np.float64)
    if contrib.ndim == 1 and n_features == 1:
        contrib = contrib[:, None]
    if contrib.shape != (n_rows, n_features):
        raise ValueError(
            f"contributions must have shape (n_rows, n_features) = "
            f"({n_rows}, {n_features}), one value per row and channel of X; got "
            f"shape {contrib.shape}."
        )
    if not np.isfinite(contrib).all():
        raise ValueError(
            "contributions holds NaN or infinite values; pass finite values."
        )
    scores = _per_row(scores, n_rows, "scores")
    if scores is not None:
        scores = scores.astype(np.float64)
    labels = _binary_labels(labels, n_rows)
    threshold = _check_threshold(threshold)
    max_channels = _check_max_channels(max_channels)
    if top_k is None:
        top_k = n_features
    elif (
        isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1
    ):
        raise ValueError(f"top_k must be a positive integer or None; got {top_k!r}.")
    top_k = min(int(top_k), n_features)

    # Channels by total contribution, largest first (stable for ties).
    order = np.argsort(-contrib.sum(axis=0), kind="stable")[:top_k].tolist()
    series_channels = order[:max_channels]

    n_panels = 3 if scores is not None else 2
    ratios = [max(1.5, 0.45 * len(series_channels))]
    if scores is not None:
        ratios.append(1.5)
    ratios.append(max(1.5, 0.3 * top_k))
    fig, axes = _axes(ax, n_panels, figsize, height_ratios=ratios)
    series_ax, heat_ax = axes[0], axes[-1]

    _draw_series(series_ax, values, names, series_channels, n_features)
    if len(series_channels) < n_features:
        series_ax.set_ylabel(
            f"series (top {len(series_channels)} of {n_features} channels)"
        )
    if scores is not None:
        _draw_scores(axes[1], scores, threshold, score_scale)
    _shade(axes[:-1], labels)
    if scores is not None:
        _legend(axes[1])

    shown = contrib[:, order].T  # (top_k, n_rows)
    signed = bool((contrib < 0).any())
    if signed:
        limit = float(np.abs(shown).max()) or 1.0
        norm = dict(vmin=-limit, vmax=limit)
        cmap = "RdBu_r" if cmap is None else cmap
    else:
        norm = {}
        cmap = "viridis" if cmap is None else cmap
    image = heat_ax.imshow(
        shown,
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        extent=(-0.5, n_rows - 0.5, top_k - 0.5, -0.5),
        **norm,
    )
    heat_ax.set_yticks(np.arange(top_k), [names[j] for j in order])
    heat_ax.tick_params(axis="y", labelsize="small")
    heat_ax.set_ylabel("channel")
    heat_ax.set_xlabel("row (time step)")
    heat_ax.set_xlim(-0.5, n_rows - 0.5)
    if labels is not None:
        for start, stop in _runs(labels):
            heat_ax.axvline(
                start - 0.5, color="tab:red", linewidth=0.8, gid=_ANOMALY_GID
            )
            heat_ax.axvline(
                stop - 0.5, color="tab:red", linewidth=0.8, gid=_ANOMALY_GID
            )
    fig.colorbar(image, ax=axes, label="contribution", shrink=0.9, pad=0.01)
    if title is not None:
        fig.suptitle(title)
    return fig
