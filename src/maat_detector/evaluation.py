"""Evaluation protocols: the honest one, and the reference's for comparison.

- ``honest``: scaling, weights and threshold come from the training series
  only; threshold-free metrics (VUS-PR, ...) from the test scores, and the
  thresholded ones at the detector's own ``threshold_``.
- ``paper``: the reference code's protocol, kept only to compare with the
  published table: the threshold is the ``1 - contamination`` percentile of
  training and *test* scores together (test leakage), and F1 is reported after
  point adjustment (inflated: random scores reach high values).
"""

from __future__ import annotations

import numpy as np

from . import metrics

__all__ = ["paper_threshold", "evaluate_scores"]


def paper_threshold(train_score, test_score, contamination):
    """The reference's threshold: a percentile of train and test scores together.

    Parameters
    ----------
    train_score, test_score : array-like of shape (n,)
        Anomaly scores, higher = more anomalous.
    contamination : float
        ``anormly_ratio / 100`` of the reference scripts.

    Returns
    -------
    threshold : float
        The ``100 * (1 - contamination)`` percentile of the concatenation.
    """
    combined = np.concatenate([np.ravel(train_score), np.ravel(test_score)])
    return float(np.percentile(combined, 100.0 * (1.0 - contamination)))


def evaluate_scores(
    test_label,
    test_score,
    *,
    threshold,
    train_score=None,
    contamination=None,
    sliding_window=100,
):
    """Metrics of one detector's test scores under both protocols.

    Parameters
    ----------
    test_label : array-like of shape (n,)
        Ground truth, 1 = anomaly.
    test_score : array-like of shape (n,)
        Anomaly scores, higher = more anomalous.
    threshold : float
        The detector's own threshold, set from training data only.
    train_score : array-like, optional
        Training-series scores; with ``contamination``, enables the paper
        protocol.
    contamination : float, optional
        Fraction flagged by the paper protocol's percentile.
    sliding_window : int, default=100
        Buffer of the VUS and range-AUC metrics.

    Returns
    -------
    dict
        ``{"honest": {...}, "paper": {...}}``; "paper" holds the threshold,
        the point-adjusted and plain F1 at it, and is absent without
        ``train_score``.
    """
    results = {
        "honest": metrics.evaluate(
            test_label, test_score, threshold=threshold, sliding_window=sliding_window
        )
    }
    if train_score is not None and contamination is not None:
        paper_thr = paper_threshold(train_score, test_score, contamination)
        flagged = (np.asarray(test_score) > paper_thr).astype(np.int8)
        p, r, f1 = metrics.point_adjusted_prf(test_label, flagged)
        results["paper"] = {
            "threshold": paper_thr,
            "point_adjusted_precision": p,
            "point_adjusted_recall": r,
            "point_adjusted_f1": f1,
            "point_f1": metrics.point_prf(test_label, flagged)[2],
        }
    return results
