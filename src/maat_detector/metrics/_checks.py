"""Input checks shared by the metrics, and the undefined-metric warning.

Every public metric validates its arguments here first: labels become int8
0/1 arrays, scores finite float64 arrays, and a single-class ``y_true`` is
reported through :class:`UndefinedMetricWarning`. :func:`to_binary_labels`
converts scikit-learn's +1/-1 predictions into the 0/1 labels used here.
"""

import numbers
import warnings

import numpy as np

__all__ = ["UndefinedMetricWarning", "to_binary_labels"]

# TSB-AD 1.5 evaluates VUS on 250 thresholds taken at evenly spaced ranks of the
# sorted scores (`thre=250` in `get_metrics`); we keep it so values compare.
_N_THRESHOLDS = 250


class UndefinedMetricWarning(UserWarning):
    """Warning emitted when a metric is undefined for the given labels.

    The metric then returns ``nan``. It is raised, for instance, by
    :func:`roc_auc` when ``y_true`` contains no anomaly.
    """


# --------------------------------------------------------------------------- #
# Input checks
# --------------------------------------------------------------------------- #
def _as_1d(values, name):
    arr = np.asarray(values)
    # A (n, 1) column is what a DataFrame column or `y.reshape(-1, 1)` gives.
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one value per time step); got shape "
            f"{arr.shape}. Pass a flat array, e.g. {name}.ravel()."
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one time step.")
    return arr


def _check_labels(labels, name):
    """Return ``labels`` as a new int8 array of 0/1 values."""
    arr = _as_1d(labels, name)
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(
            f"{name} must be numeric 0/1 labels (1 = anomaly); got dtype "
            f"{arr.dtype}. Convert it, e.g. np.asarray({name}, dtype=int)."
        )
    bad = ~((arr == 0) | (arr == 1))
    if bad.any():
        found = np.unique(arr[bad])
        shown = ", ".join(repr(v.item()) for v in found[:5])
        hint = ""
        if np.isin(np.unique(arr), (-1, 1)).all():
            hint = (
                " These look like scikit-learn's +1 (normal) / -1 (anomaly) "
                f"labels: pass to_binary_labels({name}) instead."
            )
        raise ValueError(
            f"{name} must hold only 0 (normal) and 1 (anomaly); found "
            f"{found.size} other value(s): {shown}.{hint}"
        )
    return arr.astype(np.int8)


def _check_score(score):
    """Return ``score`` as a finite 1-D float64 array (never written to)."""
    arr = _as_1d(score, "score")
    try:
        arr = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"score must be numeric anomaly scores; got dtype {arr.dtype}."
        ) from exc
    finite = np.isfinite(arr)
    if not finite.all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(arr.size - finite.sum() - n_nan)
        first = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"score contains {n_nan} NaN and {n_inf} infinite value(s) (first "
            f"at index {first}); fix the detector's output or impute them, "
            "e.g. np.nan_to_num(score), before evaluating."
        )
    return arr


def _check_same_length(y_true, other, other_name):
    if y_true.size != other.size:
        raise ValueError(
            f"y_true has {y_true.size} values but {other_name} has "
            f"{other.size}; pass one {other_name} value per time step of y_true."
        )


def _check_window(sliding_window):
    if (
        not isinstance(sliding_window, numbers.Integral)
        or isinstance(sliding_window, (bool, np.bool_))
        or sliding_window < 0
    ):
        raise ValueError(
            f"sliding_window={sliding_window!r} must be an integer >= 0 (the "
            "buffer length in time steps); the team's benchmarks use 100."
        )
    return int(sliding_window)


def _check_n_thresholds(n_thresholds):
    if (
        not isinstance(n_thresholds, numbers.Integral)
        or isinstance(n_thresholds, (bool, np.bool_))
        or n_thresholds < 1
    ):
        raise ValueError(
            f"n_thresholds={n_thresholds!r} must be an integer >= 1; TSB-AD "
            f"uses {_N_THRESHOLDS}."
        )
    return int(n_thresholds)


def _ranking_inputs(y_true, score):
    y = _check_labels(y_true, "y_true")
    s = _check_score(score)
    _check_same_length(y, s, "score")
    return y, s


def _prf_inputs(y_true, y_pred):
    y = _check_labels(y_true, "y_true")
    p = _check_labels(y_pred, "y_pred")
    _check_same_length(y, p, "y_pred")
    return y, p


def _single_class(y):
    n_pos = int(np.count_nonzero(y))
    return n_pos == 0 or n_pos == y.size


def _undefined(metric_name, y, stacklevel=3):
    what = "no anomaly" if not y.any() else "only anomalies"
    warnings.warn(
        f"{metric_name} is undefined: y_true holds {what} ({y.size} time "
        "step(s)), so there is no ranking to assess; returning nan. Evaluate on "
        "a stretch that contains both normal and anomalous time steps.",
        UndefinedMetricWarning,
        stacklevel=stacklevel,
    )
    return float("nan")


# --------------------------------------------------------------------------- #
# Shared helpers
# --------------------------------------------------------------------------- #
def _runs(labels):
    """Start and end (both inclusive) indices of the runs of 1 in ``labels``."""
    edges = np.diff(np.concatenate(([0], labels.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return starts, ends


def to_binary_labels(y_pred):
    """Convert scikit-learn's +1/-1 predictions to 0/1 anomaly labels.

    scikit-learn outlier detectors predict +1 for a normal sample and -1 for an
    anomaly. This module, like PyOD, uses 0 for normal and 1 for anomaly.

    Parameters
    ----------
    y_pred : array-like of shape (n_samples,)
        Predictions in {+1, -1}, e.g. from ``IsolationForest().predict``.

    Returns
    -------
    labels : ndarray of shape (n_samples,), dtype int64
        1 where ``y_pred`` is -1 (anomaly), 0 where it is +1 (normal).

    Raises
    ------
    ValueError
        If ``y_pred`` holds anything but +1 and -1, including 0/1 labels
        (already in the target form: use them as they are).

    Examples
    --------
    >>> from maat_detector.metrics import to_binary_labels
    >>> to_binary_labels([1, -1, 1, -1]).tolist()
    [0, 1, 0, 1]
    """
    arr = _as_1d(y_pred, "y_pred")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        raise ValueError(
            f"y_pred must be numeric +1/-1 predictions; got dtype {arr.dtype}."
        )
    bad = ~((arr == 1) | (arr == -1))
    if bad.any():
        found = np.unique(arr[bad])
        shown = ", ".join(repr(v.item()) for v in found[:5])
        hint = ""
        if np.isin(found, (0,)).all():
            hint = (
                " It contains 0, so it looks like 0/1 labels already (1 = "
                "anomaly): pass it to the metrics unchanged."
            )
        raise ValueError(
            "y_pred must hold only +1 (normal) and -1 (anomaly), as scikit-learn "
            f"predicts; found {found.size} other value(s): {shown}.{hint}"
        )
    return (arr == -1).astype(np.int64)
