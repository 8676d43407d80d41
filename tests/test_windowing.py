import numpy as np
import pytest

from maat_detector.windowing import (
    WindowScoreAccumulator,
    iter_window_batches,
    window_starts,
)


@pytest.mark.parametrize(
    "n, L, s", [(10, 4, 4), (12, 4, 4), (10, 4, 1), (9, 9, 3), (23, 5, 3)]
)
def test_every_row_scored_once(n, L, s):
    starts, n_grid = window_starts(n, L, s)
    assert starts[-1] + L == n  # the tail is always covered
    acc = WindowScoreAccumulator(n, L, starts, n_grid)
    X = np.arange(n, dtype=np.float32)[:, None]
    for batch, windows in iter_window_batches(X, starts, L, batch_size=3):
        # score = the row index itself: the combination must give it back.
        acc.add(batch, windows[..., 0])
    np.testing.assert_allclose(acc.result(), np.arange(n))


def test_overlaps_are_averaged_and_tail_uses_end_window():
    starts, n_grid = window_starts(10, 4, 4)  # grid 0, 4; end window 6
    assert list(starts) == [0, 4, 6] and n_grid == 2
    acc = WindowScoreAccumulator(10, 4, starts, n_grid)
    acc.add(slice(0, 3), np.array([[1.0] * 4, [2.0] * 4, [5.0] * 4]))
    np.testing.assert_allclose(acc.result(), [1] * 4 + [2] * 4 + [5] * 2)
    starts, n_grid = window_starts(6, 4, 1)  # 0, 1, 2
    acc = WindowScoreAccumulator(6, 4, starts, n_grid)
    acc.add(slice(0, 3), np.array([[0.0] * 4, [3.0] * 4, [6.0] * 4]))
    np.testing.assert_allclose(acc.result(), [0, 1.5, 3, 3, 4.5, 6])


def test_windows_are_time_major_and_not_shifted():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    starts, _ = window_starts(10, 3, 3)
    batches = list(iter_window_batches(X, starts, 3, batch_size=2))
    first = batches[0][1]
    assert first.shape == (2, 3, 2)
    np.testing.assert_array_equal(first[1], X[3:6])


def test_too_short_raises():
    with pytest.raises(ValueError, match="win_size=5"):
        window_starts(4, 5, 1)


@pytest.mark.parametrize("n, L, s", [(10, 4, 1), (10, 4, 4), (23, 5, 3)])
def test_end_combine_takes_earliest_window(n, L, s):
    starts, n_grid = window_starts(n, L, s)
    acc = WindowScoreAccumulator(n, L, starts, n_grid, combine="end")
    # Score of every position = the window's start: the result is, per row,
    # the smallest start of a window containing it.
    for batch, _ in iter_window_batches(np.zeros((n, 1)), starts, L, batch_size=2):
        acc.add(batch, np.repeat(starts[batch][:, None], L, axis=1).astype(float))
    expected = [min(b for b in starts if b <= r < b + L) for r in range(n)]
    if s == 1:  # the window ending at each row, from row L - 1 on
        assert expected[L - 1 :] == list(range(n - L + 1))
    np.testing.assert_array_equal(acc.result(), expected)


def test_warmup_steps_count_only_where_nothing_else_reaches():
    """A forecaster's first steps in a window are used only as a last resort."""
    starts, n_grid = window_starts(8, 4, 2)  # grid 0, 2, 4: no end window
    acc = WindowScoreAccumulator(8, 4, starts, n_grid, warmup=2)
    # Each window scores its steps with its start + 10 * position.
    acc.add(slice(0, 3), starts[:, None] + 10.0 * np.arange(4))
    # Rows 0, 1: only window 0's first steps reach them. Rows 2-7: the
    # windows in which they sit at position 2 or 3.
    np.testing.assert_allclose(acc.result(), [0, 10, 20, 30, 22, 32, 24, 34])
    # Non-overlapping windows: each window's first step has no alternative,
    # and the end-aligned window still scores the tail.
    starts, n_grid = window_starts(10, 4, 4)  # grid 0, 4; end window 6
    acc = WindowScoreAccumulator(10, 4, starts, n_grid, warmup=1)
    acc.add(slice(0, 3), starts[:, None] + 10.0 * np.arange(4))
    np.testing.assert_allclose(acc.result(), [0, 10, 20, 30, 4, 14, 24, 34, 26, 36])
    with pytest.raises(ValueError, match="warmup"):
        WindowScoreAccumulator(8, 4, starts, n_grid, warmup=4)
