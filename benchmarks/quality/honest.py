"""The threshold-free metrics that every quality script records.

One definition, so that the quality table, the training curves and the
protocol comparison measure a score the same way: VUS-PR and VUS-ROC with
a sliding window of :data:`SLIDING_WINDOW` rows, PR-AUC and ROC-AUC, all
from :mod:`maat_detector.metrics` (equal to TSB-AD's).
"""

from __future__ import annotations

from maat_detector import metrics

#: Rows of label tolerance in VUS-PR and VUS-ROC.
SLIDING_WINDOW = 100


def threshold_free(y, score):
    """VUS-PR, VUS-ROC, PR-AUC and ROC-AUC of one test score.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Test labels, 1 for anomalous rows.
    score : ndarray of shape (n_samples,)
        Higher is more anomalous.

    Returns
    -------
    dict
        ``vus_pr``, ``vus_roc``, ``auc_pr`` and ``auc_roc``.
    """
    return {
        "vus_pr": metrics.vus_pr(y, score, sliding_window=SLIDING_WINDOW),
        "vus_roc": metrics.vus_roc(y, score, sliding_window=SLIDING_WINDOW),
        "auc_pr": metrics.pr_auc(y, score),
        "auc_roc": metrics.roc_auc(y, score),
    }
