"""MAATDetector inside scikit-learn's Pipeline and GridSearchCV."""

import numpy as np
from conftest import TINY, sinusoids
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from maat_detector import MAATDetector
from maat_detector.scoring import make_anomaly_scorer, vus_pr_scorer


def labelled_series():
    X = sinusoids(900, seed=3)
    y = np.zeros(len(X), dtype=int)
    for start in (300, 520, 700, 860):
        X[start : start + 6, 0] += 3.0
        y[start : start + 6] = 1
    return X, y


def test_pipeline_step():
    X, y = labelled_series()
    pipe = Pipeline(
        [("scale", StandardScaler()), ("maat", MAATDetector(**{**TINY, "epochs": 1}))]
    )
    pipe.fit(X)
    pred = pipe.predict(X)
    assert pred.shape == (len(X),) and set(np.unique(pred)) <= {-1, 1}
    assert pipe.score_samples(X).shape == (len(X),)


def test_grid_search_with_time_series_split_picks_by_package_scorer():
    X, y = labelled_series()
    search = GridSearchCV(
        MAATDetector(**{**TINY, "epochs": 1}),
        {"score_mode": ["reconstruction", "discrepancy"]},
        scoring=make_anomaly_scorer("vus_pr", sliding_window=10),
        cv=TimeSeriesSplit(n_splits=2, test_size=300),
        error_score="raise",
    ).fit(X, y)
    assert search.best_params_["score_mode"] in {"reconstruction", "discrepancy"}
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))
    # +1/-1 ground truth (scikit-learn's convention) scores identically.
    det = search.best_estimator_
    assert vus_pr_scorer(det, X, y) == vus_pr_scorer(det, X, np.where(y == 1, -1, 1))
