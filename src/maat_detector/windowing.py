"""Series to windows, and window scores back to one score per time step.

Scoring uses a regular grid of windows, starts ``0, s, 2s, ...`` (stride s,
``score_step``) that fit in the series, plus, when the grid leaves a tail
uncovered, one end-aligned window ``[n - L, n)``. Two ways to combine:

- ``"mean"``: a step's score is the mean of the scores it receives from the
  grid windows that cover it; tail steps that no grid window covers take the
  end-aligned window's score. With s = L that is the reference's
  non-overlapping scoring with its dropped tail restored; with s = 1 every
  step is averaged over the L windows containing it.
- ``"end"``: a step takes its score from the earliest window that contains
  it, the one in which it sits furthest along. With s = 1 that is the window
  ending at the step, for every step from ``L - 1`` on: the score a stream
  computes when the step arrives. The first ``L - 1`` steps take the first
  window's scores.

:func:`moving_mean` then smooths the per-step scores over neighbouring steps
(``score_smoothing``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "window_starts",
    "iter_window_batches",
    "WindowScoreAccumulator",
    "moving_mean",
]


def window_starts(n_samples: int, win_size: int, step: int) -> tuple[np.ndarray, int]:
    """Start indices of the scoring windows.

    Parameters
    ----------
    n_samples : int
        Rows in the series; at least ``win_size``.
    win_size : int
        Window length L.
    step : int
        Stride s of the regular grid.

    Returns
    -------
    starts : ndarray of shape (n_windows,)
        Grid starts, followed by ``n_samples - win_size`` if the grid leaves a
        tail uncovered.
    n_grid : int
        How many of ``starts`` belong to the regular grid.
    """
    if n_samples < win_size:
        raise ValueError(f"need at least win_size={win_size} rows, got {n_samples}.")
    grid = np.arange(0, n_samples - win_size + 1, step, dtype=np.int64)
    if grid[-1] + win_size < n_samples:
        return np.append(grid, n_samples - win_size), len(grid)
    return grid, len(grid)


def iter_window_batches(
    X: np.ndarray, starts: np.ndarray, win_size: int, batch_size: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(batch_slice, windows)`` with windows of shape (b, L, C).

    ``X`` is an array, or any object whose slices of consecutive rows are
    arrays (:class:`~maat_detector.engine.preprocess.ScaledRows`, which scales
    them on demand). Each batch reads the rows its windows span and gathers
    the windows from a strided view of them, so memory is bounded by one
    batch, whatever the series length. Batches whose starts lie far apart
    (shuffled training windows) read the rows between them too: a view, free
    for an array.
    """
    for begin in range(0, len(starts), batch_size):
        chunk = starts[begin : begin + batch_size]
        first = int(chunk.min())
        rows = X[first : int(chunk.max()) + win_size]
        view = sliding_window_view(rows, win_size, axis=0)  # (n, C, L), no copy
        windows = np.ascontiguousarray(view[chunk - first].transpose(0, 2, 1))
        yield slice(begin, begin + len(chunk)), windows


class WindowScoreAccumulator:
    """Combine per-window point scores into one score per row (module docstring).

    Parameters
    ----------
    n_samples : int
    win_size : int
    starts : ndarray
        From :func:`window_starts`.
    n_grid : int
        From :func:`window_starts`.
    n_channels : int, default=0
        If positive, values have shape (n_windows, L, n_channels).
    combine : {"mean", "end"}, default="mean"
        See the module docstring. With "end", batches must arrive in order.
    warmup : int, default=0
        With "mean", the first ``warmup`` steps of each grid window count
        only for rows that no later step of a grid window, nor the
        end-aligned window, reaches (the series' first rows, or every
        window's first steps when windows do not overlap). For a forecaster,
        whose first steps in a window have little past to go on.
    """

    def __init__(
        self,
        n_samples,
        win_size,
        starts,
        n_grid,
        n_channels=0,
        combine="mean",
        warmup=0,
    ):
        if combine not in ("mean", "end"):
            raise ValueError(f"combine={combine!r} must be 'mean' or 'end'.")
        if not 0 <= warmup < win_size:
            raise ValueError(f"warmup={warmup} must be in [0, win_size={win_size}).")
        self.combine = combine
        self.win_size = win_size
        self.starts = starts
        self.n_grid = n_grid
        self.warmup = warmup
        shape = (n_samples, n_channels) if n_channels else (n_samples,)
        # Every per-row array costs its bytes per row of a series that may
        # hold tens of millions: counts fit int32 (at most L windows reach a
        # row), and "mean" keeps its few end-aligned windows aside instead of
        # a full-length tail.
        self.shape = shape
        if combine == "end":
            self.tail = np.zeros(shape, dtype=np.float64)
            self.has_tail = np.zeros(n_samples, dtype=bool)
            return
        self.total = np.zeros(shape, dtype=np.float64)
        self.count = np.zeros(n_samples, dtype=np.int32)
        self.early_total = np.zeros(shape, dtype=np.float64)
        self.early_count = np.zeros(n_samples, dtype=np.int32)
        self.tail_windows = []  # (start, scores) of the end-aligned windows

    def add(self, batch: slice, scores: np.ndarray) -> None:
        """Add the scores (b, L[, C]) of windows ``starts[batch]``."""
        starts = self.starts[batch]
        if self.combine == "end":
            rows = starts[:, None] + np.arange(self.win_size)  # (b, L)
            fresh = ~self.has_tail[rows]  # rows no earlier batch reached
            # Row r = start + j: an earlier window reaches r at a larger j, so
            # writing columns in increasing j leaves each row the value of the
            # earliest window of this batch containing it.
            for j in range(self.win_size):
                keep = fresh[:, j]
                self.tail[rows[keep, j]] = scores[keep, j]
            self.has_tail[rows] = True
            return
        n_grid = max(0, min(len(starts), self.n_grid - batch.start))
        grid, grid_scores = starts[:n_grid], scores[:n_grid]
        # Within one column j the rows start + j are distinct, so a fancy-index
        # add is safe; L vectorised adds instead of a loop over windows.
        for j in range(self.win_size):
            early = j < self.warmup
            total = self.early_total if early else self.total
            count = self.early_count if early else self.count
            total[grid + j] += grid_scores[:, j]
            count[grid + j] += 1
        for begin, window_scores in zip(starts[n_grid:], scores[n_grid:], strict=True):
            self.tail_windows.append((int(begin), np.array(window_scores)))

    def result(self) -> np.ndarray:
        """Per-row scores: grid mean where covered, else the tail window's.

        Rows that only the grid windows' first ``warmup`` steps reach take
        the mean of those.
        """
        if self.combine == "end":
            return self._checked(self.tail, self.has_tail)
        out = np.zeros(self.shape, dtype=np.float64)
        has_tail = np.zeros(self.shape[0], dtype=bool)
        for begin, window_scores in self.tail_windows:
            out[begin : begin + self.win_size] = window_scores
            has_tail[begin : begin + self.win_size] = True
        covered = self.count > 0
        early = (self.early_count > 0) & ~covered & ~has_tail
        # In place, with no fancy-indexed copies of the per-row arrays.
        for rows, total, count in (
            (early, self.early_total, self.early_count),
            (covered, self.total, self.count),
        ):
            if total.ndim == 2:
                rows, count = rows[:, None], count[:, None]
            np.divide(total, count, out=out, where=rows)
        return self._checked(out, covered | early | has_tail)

    @staticmethod
    def _checked(scores, reached):
        if not reached.all():
            raise RuntimeError("some rows received no window score (internal error).")
        return scores


def moving_mean(values: np.ndarray, width: int, *, centered: bool = True) -> np.ndarray:
    """Mean of each step's ``width`` neighbouring values along axis 0.

    Centred, step t averages ``t - width // 2 .. t + (width - 1) // 2``;
    trailing (``centered=False``), it averages ``t - width + 1 .. t``, which
    is the centred mean of step ``t - width // 2``: what a stream can compute
    when step t arrives. Near the ends the mean is over the steps that exist,
    so no value is invented.

    Parameters
    ----------
    values : ndarray of shape (n,) or (n, k)
    width : int
        Steps per mean, at least 1 (1 returns ``values`` unchanged).
    centered : bool, default=True

    Returns
    -------
    ndarray of the shape of ``values``, float64.

    Examples
    --------
    >>> moving_mean(np.array([0.0, 0.0, 3.0, 0.0, 0.0]), 3)
    array([0., 1., 1., 1., 0.])
    >>> moving_mean(np.array([0.0, 0.0, 3.0, 0.0, 0.0]), 3, centered=False)
    array([0., 0., 1., 1., 1.])
    """
    values = np.asarray(values, dtype=np.float64)
    if width <= 1:
        return values
    n = values.shape[0]
    cumulative = np.concatenate(
        [np.zeros((1,) + values.shape[1:]), np.cumsum(values, axis=0)]
    )
    back = width // 2 if centered else width - 1
    ends = np.minimum(np.arange(n) + (width - back), n)
    begins = np.maximum(np.arange(n) - back, 0)
    counts = (ends - begins).reshape((n,) + (1,) * (values.ndim - 1))
    return (cumulative[ends] - cumulative[begins]) / counts
