"""Tests for maat_detector.scoring (scikit-learn scorers)."""

import pickle

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_val_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import OneClassSVM

from maat_detector import metrics
from maat_detector.scoring import (
    make_anomaly_scorer,
    pr_auc_scorer,
    roc_auc_scorer,
    vus_pr_scorer,
)


def spiky_series(n=900, seed=0):
    """Two noisy sinusoids with bursts injected in every quarter."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    X = np.column_stack([np.sin(2 * np.pi * t / 50), np.cos(2 * np.pi * t / 37)])
    X += 0.1 * rng.standard_normal(X.shape)
    y = np.zeros(n, dtype=int)
    for start in range(60, n, 75):
        X[start : start + 4] += rng.choice([-3.0, 3.0], size=2)
        y[start : start + 4] = 1
    return X, y


class FixedScores:
    """A stand-in detector: sklearn signs, scores fixed in advance."""

    def __init__(self, anomaly_score, with_score_samples=True):
        self.anomaly_score = np.asarray(anomaly_score, dtype=float)
        if with_score_samples:
            self.score_samples = lambda X: -self.anomaly_score[: len(X)]

    def decision_function(self, X):
        return -self.anomaly_score[: len(X)] + 0.5

    def predict(self, X):
        return np.where(self.anomaly_score[: len(X)] > 0.5, -1, 1)


def test_scorer_negates_score_samples():
    y = np.array([0, 0, 1, 1, 0])
    s = np.array([0.1, 0.2, 0.9, 0.7, 0.3])
    est = FixedScores(s)
    X = np.zeros((5, 1))
    assert roc_auc_scorer(est, X, y) == metrics.roc_auc(y, s) == 1.0
    assert pr_auc_scorer(est, X, y) == metrics.pr_auc(y, s)
    assert vus_pr_scorer(est, X, y) == metrics.vus_pr(y, s)


def test_scorer_accepts_both_label_conventions():
    y = np.array([0, 0, 1, 1, 0, 0, 0, 1])
    s = np.linspace(0, 1, 8)
    est = FixedScores(s)
    X = np.zeros((8, 1))
    signed = np.where(y == 1, -1, 1)
    assert pr_auc_scorer(est, X, y) == pr_auc_scorer(est, X, signed)
    assert pr_auc_scorer(est, X, y.astype(bool)) == pr_auc_scorer(est, X, y)
    assert pr_auc_scorer(est, X, y.astype(float)) == pr_auc_scorer(est, X, y)


def test_scorer_rejects_ambiguous_or_unknown_labels():
    est = FixedScores(np.linspace(0, 1, 4))
    X = np.zeros((4, 1))
    with pytest.raises(ValueError, match="only the value 1.*y_format"):
        roc_auc_scorer(est, X, np.ones(4))
    with pytest.raises(ValueError, match="0/1 .* or \\+1/-1"):
        roc_auc_scorer(est, X, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="y is None"):
        roc_auc_scorer(est, X, None)
    with pytest.raises(ValueError, match="y_format='binary'"):
        make_anomaly_scorer("roc_auc", y_format="binary")(est, X, [1, -1, 1, -1])


def test_explicit_y_format_resolves_all_ones():
    s = np.linspace(0, 1, 4)
    est = FixedScores(s)
    X = np.zeros((4, 1))
    # All normal in sklearn form: no anomaly, so the AUC is undefined.
    with pytest.warns(metrics.UndefinedMetricWarning):
        value = make_anomaly_scorer("roc_auc", y_format="sklearn")(est, X, np.ones(4))
    assert np.isnan(value)
    f1 = make_anomaly_scorer("point_f1", y_format="binary")(est, X, np.ones(4))
    assert f1 == metrics.point_prf(np.ones(4), s > 0.5)[2]


def test_falls_back_to_decision_function():
    s = np.array([0.1, 0.8, 0.3, 0.9])
    y = [0, 1, 0, 1]
    est = FixedScores(s, with_score_samples=False)
    assert roc_auc_scorer(est, np.zeros((4, 1)), y) == 1.0


def test_estimator_without_scores_gets_a_clear_error():
    X, y = spiky_series(200)
    lof = LocalOutlierFactor(n_neighbors=5).fit(X)  # novelty=False: no scoring
    with pytest.raises(TypeError, match="novelty=True"):
        vus_pr_scorer(lof, X, y)


def test_thresholded_metrics_use_predict():
    s = np.array([0.1, 0.8, 0.3, 0.9, 0.7, 0.2])
    y = np.array([0, 1, 0, 0, 1, 0])
    est = FixedScores(s)
    X = np.zeros((6, 1))
    y_pred = (s > 0.5).astype(int)
    assert make_anomaly_scorer("point_f1")(est, X, y) == metrics.point_prf(y, y_pred)[2]
    assert (
        make_anomaly_scorer("range_recall", alpha=0.5)(est, X, y)
        == metrics.range_prf(y, y_pred, alpha=0.5)[1]
    )
    aff = make_anomaly_scorer("affiliation_precision")(est, X, y)
    assert aff == metrics.affiliation_prf(y, y_pred)[0]


def test_callable_metric():
    def top_hit(y_true, score, k=1):
        return float(y_true[np.argsort(score)[-k:]].mean())

    scorer = make_anomaly_scorer(top_hit, k=2)
    est = FixedScores([0.1, 0.8, 0.3, 0.9])
    assert scorer(est, np.zeros((4, 1)), [0, 1, 0, 0]) == 0.5
    assert "top_hit" in repr(scorer)


def test_bad_arguments_fail_at_construction():
    with pytest.raises(ValueError, match="unknown"):
        make_anomaly_scorer("f1")
    with pytest.raises(TypeError, match="sliding_window"):
        make_anomaly_scorer("roc_auc", sliding_window=10)
    with pytest.raises(ValueError, match="y_format"):
        make_anomaly_scorer("roc_auc", y_format="pyod")


def test_repr_and_pickle():
    scorer = make_anomaly_scorer("vus_pr", sliding_window=50, y_format="sklearn")
    assert repr(scorer) == (
        "make_anomaly_scorer('vus_pr', sliding_window=50, y_format='sklearn')"
    )
    assert repr(vus_pr_scorer) == "make_anomaly_scorer('vus_pr')"
    clone = pickle.loads(pickle.dumps(scorer))
    assert repr(clone) == repr(scorer)


def test_grid_search_with_isolation_forest_and_time_series_split():
    X, y = spiky_series()
    scorer = make_anomaly_scorer("vus_pr", sliding_window=20)
    search = GridSearchCV(
        IsolationForest(n_estimators=20, random_state=0),
        {"max_samples": [16, 128]},
        scoring={"vus_pr": scorer, "roc_auc": roc_auc_scorer},
        refit="vus_pr",
        cv=TimeSeriesSplit(n_splits=3),
    ).fit(X, y)
    scores = search.cv_results_["mean_test_vus_pr"]
    assert np.all(np.isfinite(scores))
    # Spikes are easy: far better than the anomaly rate (about 5 %).
    assert search.best_score_ > 0.3
    assert np.all(search.cv_results_["mean_test_roc_auc"] > 0.8)

    # The scorer is what metrics.vus_pr gives on one fold by hand.
    train, test = list(TimeSeriesSplit(n_splits=3).split(X))[-1]
    est = IsolationForest(n_estimators=20, max_samples=16, random_state=0)
    est.fit(X[train])
    expected = metrics.vus_pr(y[test], -est.score_samples(X[test]), 20)
    assert scorer(est, X[test], y[test]) == expected
    # And the +1/-1 convention gives the same search.
    signed = np.where(y == 1, -1, 1)
    search_signed = GridSearchCV(
        IsolationForest(n_estimators=20, random_state=0),
        {"max_samples": [16, 128]},
        scoring=scorer,
        cv=TimeSeriesSplit(n_splits=3),
    ).fit(X, signed)
    np.testing.assert_array_equal(search_signed.cv_results_["mean_test_score"], scores)


def test_cross_val_score_with_other_detectors():
    X, y = spiky_series(600)
    for est in (
        OneClassSVM(gamma="scale", nu=0.05),
        LocalOutlierFactor(n_neighbors=10, novelty=True),
    ):
        scores = cross_val_score(
            est, X, y, scoring=pr_auc_scorer, cv=TimeSeriesSplit(n_splits=2)
        )
        assert np.all((scores >= 0) & (scores <= 1))
