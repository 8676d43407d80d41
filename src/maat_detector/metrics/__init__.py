"""Evaluation metrics for time-series anomaly detection (numpy only).

Conventions shared by every function here:

- ``y_true`` and ``y_pred`` hold 0 (normal) and 1 (anomaly); booleans are
  accepted. scikit-learn's ``predict`` gives +1 (normal) / -1 (anomaly):
  convert it first with :func:`to_binary_labels`.
- ``score`` holds **anomaly** scores: higher means more anomalous. This is the
  reverse of scikit-learn's ``score_samples``; pass ``-est.score_samples(X)``.
- Every function is pure: inputs are read, never modified.
- Ranking metrics (:func:`roc_auc`, :func:`pr_auc`, :func:`vus_roc`,
  :func:`vus_pr`, :func:`range_roc_auc`, :func:`range_pr_auc`) are undefined
  when ``y_true`` holds a single class (no anomaly, or nothing but anomalies,
  which includes any series of length 1): they then return ``nan`` and emit an
  :class:`UndefinedMetricWarning`. Constant scores are legal and give the value
  the definition gives (0.5 for :func:`roc_auc`, the anomaly rate for
  :func:`pr_auc`).
- Thresholded metrics (``*_prf``) return ``(precision, recall, f1)`` as floats.
  A ratio whose denominator is zero is 0.0, without warning (scikit-learn's
  ``zero_division=0``): no predicted anomaly gives precision 0.0, no true
  anomaly gives recall 0.0, and f1 is 0.0 when precision + recall is 0.

The threshold-free metrics match TSB-AD 1.5 (``TSB_AD.evaluation``), the
benchmark the team reports against, to 1e-6; ``tests/test_metrics.py`` checks
this against stored TSB-AD outputs. Where TSB-AD departs from the paper that
defines a metric, the function follows the paper and its Notes say how the two
differ.

References
----------
.. [1] J. Paparrizos, P. Boniol, T. Palpanas, R. S. Tsay, A. Elmore and
   M. J. Franklin, "Volume Under the Surface: A New Accuracy Evaluation
   Measure for Time-Series Anomaly Detection", PVLDB 15(11), 2022.
.. [2] Q. Liu and J. Paparrizos, "The Elephant in the Room: Towards a Reliable
   Time-Series Anomaly Detection Benchmark" (TSB-AD), NeurIPS 2024.
.. [3] A. Huet, J. M. Navarro and D. Rossi, "Local Evaluation of Time Series
   Anomaly Detection Algorithms", KDD 2022.
.. [4] N. Tatbul, T. J. Lee, S. Zdonik, M. Alam and J. Gottschlich,
   "Precision and Recall for Time Series", NeurIPS 2018.
.. [5] H. Xu et al., "Unsupervised Anomaly Detection via Variational
   Auto-Encoder for Seasonal KPIs in Web Applications" (point adjustment),
   WWW 2018.
.. [6] S. Kim, K. Choi, H.-S. Choi, B. Lee and S. Yoon, "Towards a Rigorous
   Evaluation of Time-Series Anomaly Detection", AAAI 2022.
"""

import numbers

import numpy as np

from ._checks import (
    _N_THRESHOLDS,
    UndefinedMetricWarning,
    _check_labels,
    _check_same_length,
    _check_window,
    _ranking_inputs,
    _single_class,
    _undefined,
    to_binary_labels,
)
from .events import affiliation_prf, point_adjusted_prf, point_prf, range_prf
from .ranking import (
    _all_windows,
    _range_curves,
    pr_auc,
    range_pr_auc,
    range_roc_auc,
    roc_auc,
    vus_pr,
    vus_roc,
)

__all__ = [
    "UndefinedMetricWarning",
    "affiliation_prf",
    "evaluate",
    "point_adjusted_prf",
    "point_prf",
    "pr_auc",
    "range_pr_auc",
    "range_prf",
    "range_roc_auc",
    "roc_auc",
    "to_binary_labels",
    "vus_pr",
    "vus_roc",
]

_PRF_FUNCTIONS = {
    "point": point_prf,
    "point_adjusted": point_adjusted_prf,
    "affiliation": affiliation_prf,
    "range": range_prf,
}


def evaluate(y_true, score, *, threshold=None, y_pred=None, sliding_window=100):
    """Compute every metric of this module in one call.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground truth, 1 = anomaly, 0 = normal.
    score : array-like of shape (n_samples,)
        Anomaly scores, higher = more anomalous.
    threshold : float, default=None
        If given (and ``y_pred`` is not), the thresholded metrics use
        ``y_pred = score > threshold``.
    y_pred : array-like of shape (n_samples,), default=None
        Predicted 0/1 labels for the thresholded metrics. Give at most one of
        ``threshold`` and ``y_pred``; with neither, the thresholded metrics
        are left out.
    sliding_window : int, default=100
        Buffer length of the VUS and range-AUC metrics.

    Returns
    -------
    results : dict of str to float
        Keys ``roc_auc``, ``pr_auc``, ``vus_roc``, ``vus_pr``,
        ``range_roc_auc``, ``range_pr_auc``; with predictions also
        ``{point, point_adjusted, affiliation, range}_{precision, recall,
        f1}`` (``range`` with the defaults of :func:`range_prf`). When
        ``y_true`` holds a single class the ranking metrics are ``nan`` and
        one :class:`UndefinedMetricWarning` is emitted.

    Examples
    --------
    >>> import numpy as np
    >>> from maat_detector.metrics import evaluate
    >>> y = np.zeros(300, dtype=int); y[150:160] = 1
    >>> score = np.random.default_rng(0).random(300) + 2 * y
    >>> res = evaluate(y, score, threshold=1.5, sliding_window=20)
    >>> res["roc_auc"], res["point_f1"]
    (1.0, 1.0)
    """
    y, s = _ranking_inputs(y_true, score)
    window = _check_window(sliding_window)
    if threshold is not None and y_pred is not None:
        raise ValueError(
            "Pass either threshold or y_pred, not both: y_pred already fixes "
            "which time steps are flagged."
        )
    results = {}
    names = ("roc_auc", "pr_auc", "vus_roc", "vus_pr", "range_roc_auc", "range_pr_auc")
    if _single_class(y):
        _undefined("the ranking metrics (" + ", ".join(names) + ")", y)
        results.update(dict.fromkeys(names, float("nan")))
    else:
        results["roc_auc"] = roc_auc(y, s)
        results["pr_auc"] = pr_auc(y, s)
        n_thr = _N_THRESHOLDS
        vus_r, vus_p = _range_curves(y, s, _all_windows(window), n_thr)
        results["vus_roc"] = float(np.mean(vus_r))
        results["vus_pr"] = float(np.mean(vus_p))
        # The last buffer of the volume is the single-buffer range-AUC.
        results["range_roc_auc"] = float(vus_r[-1])
        results["range_pr_auc"] = float(vus_p[-1])

    if y_pred is None and threshold is not None:
        if not isinstance(threshold, numbers.Real) or np.isnan(threshold):
            raise ValueError(
                f"threshold={threshold!r} must be a real number; time steps "
                "with score > threshold are flagged."
            )
        y_pred = (s > threshold).astype(np.int8)
    if y_pred is not None:
        p = _check_labels(y_pred, "y_pred")
        _check_same_length(y, p, "y_pred")
        for prefix, func in _PRF_FUNCTIONS.items():
            precision, recall, f1 = func(y, p)
            results[f"{prefix}_precision"] = precision
            results[f"{prefix}_recall"] = recall
            results[f"{prefix}_f1"] = f1
    return results
