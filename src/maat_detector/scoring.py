"""scikit-learn scorers for anomaly detectors, built on :mod:`maat_detector.metrics`.

A scorer is a callable ``scorer(estimator, X, y) -> float`` (higher is better)
that model selection tools such as :class:`~sklearn.model_selection.GridSearchCV`
accept as ``scoring``. The scorers here work with any scikit-learn style
outlier detector, :class:`~maat_detector.MAATDetector` included:

- Threshold-free metrics (``"vus_pr"``, ``"roc_auc"``, ...) rank the anomaly
  scores ``-estimator.score_samples(X)``: scikit-learn's ``score_samples`` is
  higher for more *normal* samples, so it is negated. Estimators without
  ``score_samples`` fall back to ``-estimator.decision_function(X)``, which
  ranks the same way.
- Thresholded metrics (``"point_f1"``, ``"affiliation_f1"``, ...) use
  ``estimator.predict(X)``, where -1 marks an anomaly.

``y`` may hold 0/1 labels (1 = anomaly, the convention of
:mod:`maat_detector.metrics` and PyOD) or scikit-learn's +1/-1 (-1 = anomaly);
the form is detected per call, see :func:`make_anomaly_scorer`.

Use time-ordered splits (:class:`~sklearn.model_selection.TimeSeriesSplit`)
and make sure every test fold holds anomalies: on a fold without any, the
threshold-free metrics are undefined and the scorer returns ``nan``.

Examples
--------
>>> import numpy as np
>>> from sklearn.ensemble import IsolationForest
>>> from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
>>> from maat_detector.scoring import make_anomaly_scorer
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 2))
>>> y = np.zeros(300, dtype=int)
>>> for start in (120, 200, 270):
...     X[start : start + 5] += 6.0
...     y[start : start + 5] = 1
>>> search = GridSearchCV(
...     IsolationForest(n_estimators=10, random_state=0),
...     {"max_samples": [32, 64]},
...     scoring=make_anomaly_scorer("vus_pr", sliding_window=10),
...     cv=TimeSeriesSplit(n_splits=3),
... ).fit(X, y)
>>> bool(0.0 <= search.best_score_ <= 1.0)
True
"""

import inspect

import numpy as np

from . import metrics as _metrics

__all__ = [
    "make_anomaly_scorer",
    "pr_auc_scorer",
    "roc_auc_scorer",
    "vus_pr_scorer",
]

# Metrics that rank continuous anomaly scores.
_SCORE_METRICS = {
    name: getattr(_metrics, name)
    for name in (
        "roc_auc",
        "pr_auc",
        "vus_roc",
        "vus_pr",
        "range_roc_auc",
        "range_pr_auc",
    )
}
# Metrics on 0/1 predictions: "<family>_<precision|recall|f1>".
_PRED_FAMILIES = {
    "point": _metrics.point_prf,
    "point_adjusted": _metrics.point_adjusted_prf,
    "affiliation": _metrics.affiliation_prf,
    "range": _metrics.range_prf,
}
_PRF_PARTS = ("precision", "recall", "f1")
_PRED_METRICS = {
    f"{family}_{part}": (func, index)
    for family, func in _PRED_FAMILIES.items()
    for index, part in enumerate(_PRF_PARTS)
}
_Y_FORMATS = ("auto", "binary", "sklearn")


def _binary_y(y, y_format):
    """``y`` as 0/1 labels (1 = anomaly), from either labelling convention."""
    if y is None:
        raise ValueError(
            "The anomaly scorer needs the true labels, but y is None: pass them "
            "to the search, e.g. GridSearchCV(...).fit(X, y), with 1 (or -1) "
            "marking anomalies."
        )
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.dtype == bool:
        arr = arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"y must be numeric labels; got dtype {arr.dtype}.")
    values = np.unique(arr)
    binary = bool(np.isin(values, (0, 1)).all())
    signed = bool(np.isin(values, (-1, 1)).all())
    if y_format == "auto":
        if binary and signed:  # only the value 1 occurs
            raise ValueError(
                "y holds only the value 1: that is all anomalies with 0/1 labels "
                "but all normal with scikit-learn's +1/-1 labels. Say which with "
                "make_anomaly_scorer(..., y_format='binary') or "
                "y_format='sklearn'."
            )
        y_format = "binary" if binary else "sklearn" if signed else None
    if y_format == "binary" and binary:
        return arr.astype(np.int8)
    if y_format == "sklearn" and signed:
        return _metrics.to_binary_labels(arr)
    shown = ", ".join(repr(v.item()) for v in values[:6])
    expected = {
        None: "0/1 (1 = anomaly) or +1/-1 (-1 = anomaly)",
        "binary": "0/1 (1 = anomaly), as y_format='binary' says",
        "sklearn": "+1/-1 (-1 = anomaly), as y_format='sklearn' says",
    }[y_format]
    raise ValueError(f"y must hold {expected} labels; found the values {shown}.")


def _anomaly_scores(estimator):
    """The method giving anomaly scores (higher = more anomalous) of ``estimator``."""
    for method in ("score_samples", "decision_function"):
        # hasattr respects available_if (e.g. LocalOutlierFactor, novelty=False).
        if hasattr(estimator, method):
            return getattr(estimator, method)
    raise TypeError(
        f"{type(estimator).__name__} has neither score_samples nor "
        "decision_function, so it gives no continuous score to rank. Use a "
        "thresholded metric such as 'point_f1' (it calls predict), or for "
        "LocalOutlierFactor set novelty=True."
    )


class _AnomalyScorer:
    """Callable ``(estimator, X, y) -> float`` made by :func:`make_anomaly_scorer`."""

    def __init__(self, name, func, index, kwargs, y_format):
        self._name = name
        self._func = func
        # None for threshold-free metrics; else the position in (p, r, f1).
        self._index = index
        self._kwargs = kwargs
        self._y_format = y_format

    def __call__(self, estimator, X, y=None):
        """Score ``estimator`` on ``X`` against the true labels ``y``.

        Parameters
        ----------
        estimator : object
            A fitted outlier detector.
        X : array-like of shape (n_samples, n_features)
            Samples to score, in time order.
        y : array-like of shape (n_samples,)
            True labels, 0/1 (1 = anomaly) or +1/-1 (-1 = anomaly).

        Returns
        -------
        score : float
            The metric; higher is better. ``nan`` if it is undefined on this
            ``y`` (e.g. no anomaly for a threshold-free metric).
        """
        y_true = _binary_y(y, self._y_format)
        if self._index is None:
            score = -np.asarray(_anomaly_scores(estimator)(X), dtype=np.float64)
            return float(self._func(y_true, score, **self._kwargs))
        y_pred = _metrics.to_binary_labels(estimator.predict(X))
        return float(self._func(y_true, y_pred, **self._kwargs)[self._index])

    def __repr__(self):
        args = [repr(self._name)]
        args += [f"{key}={value!r}" for key, value in self._kwargs.items()]
        if self._y_format != "auto":
            args.append(f"y_format={self._y_format!r}")
        return f"make_anomaly_scorer({', '.join(args)})"


def make_anomaly_scorer(metric="vus_pr", *, y_format="auto", **metric_kwargs):
    """Make a scikit-learn scorer from an anomaly detection metric.

    Parameters
    ----------
    metric : str or callable, default="vus_pr"
        Threshold-free, from ``-estimator.score_samples(X)``: "vus_pr",
        "vus_roc", "pr_auc", "roc_auc", "range_pr_auc", "range_roc_auc".
        Thresholded, from ``estimator.predict(X)``: "<family>_<part>" with
        family in "point", "point_adjusted", "affiliation", "range" and part
        in "precision", "recall", "f1", e.g. "affiliation_f1". A callable
        ``metric(y_true, score, **metric_kwargs) -> float`` is used like a
        threshold-free metric (0/1 labels, higher score = more anomalous).
    y_format : {"auto", "binary", "sklearn"}, default="auto"
        Labelling of ``y``. "binary": 0/1 with 1 = anomaly; "sklearn": +1/-1
        with -1 = anomaly; "auto" tells them apart per call from the values
        present and raises if ``y`` is all 1 (ambiguous) or holds anything
        else.
    **metric_kwargs
        Passed to the metric, e.g. ``sliding_window=100`` for "vus_pr" or
        ``alpha=0.2`` for "range_f1". Checked against its signature here.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``, higher is better, for
        ``GridSearchCV(scoring=...)``, ``cross_val_score`` and the like.

    Raises
    ------
    ValueError
        If ``metric`` or ``y_format`` is unknown.
    TypeError
        If ``metric_kwargs`` holds a name the metric does not take.

    See Also
    --------
    maat_detector.metrics : The metric functions themselves.

    Notes
    -----
    ``point_adjusted_*`` are inflated (see
    :func:`maat_detector.metrics.point_adjusted_prf`); selecting models on
    them rewards scattered false alarms.

    Examples
    --------
    >>> from maat_detector.scoring import make_anomaly_scorer
    >>> make_anomaly_scorer("vus_pr", sliding_window=50)
    make_anomaly_scorer('vus_pr', sliding_window=50)
    """
    if y_format not in _Y_FORMATS:
        raise ValueError(f"y_format={y_format!r} is not one of {_Y_FORMATS}.")
    if callable(metric):
        name = getattr(metric, "__name__", repr(metric))
        return _AnomalyScorer(name, metric, None, dict(metric_kwargs), y_format)
    if metric in _SCORE_METRICS:
        func, index = _SCORE_METRICS[metric], None
    elif metric in _PRED_METRICS:
        func, index = _PRED_METRICS[metric]
    else:
        raise ValueError(
            f"metric={metric!r} is unknown; use one of "
            f"{sorted(_SCORE_METRICS)} (ranking anomaly scores) or "
            f"{sorted(_PRED_METRICS)} (on predict), or pass a callable."
        )
    params = inspect.signature(func).parameters
    accepted = [p for p in params if p not in ("y_true", "score", "y_pred")]
    unknown = sorted(set(metric_kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"metric {metric!r} does not take {unknown}; it accepts {accepted}."
        )
    return _AnomalyScorer(metric, func, index, dict(metric_kwargs), y_format)


vus_pr_scorer = make_anomaly_scorer("vus_pr")
"""Scorer for VUS-PR (sliding window 100) of ``-score_samples``."""

pr_auc_scorer = make_anomaly_scorer("pr_auc")
"""Scorer for average precision of ``-score_samples``."""

roc_auc_scorer = make_anomaly_scorer("roc_auc")
"""Scorer for ROC-AUC of ``-score_samples``."""
