"""
Model selection with GridSearchCV
=================================

Choose parameters by cross-validation on a labelled series. Folds must
respect time, so :class:`~sklearn.model_selection.TimeSeriesSplit` gives each
candidate a training block followed by a test block. The scorer from
:func:`maat_detector.scoring.make_anomaly_scorer` ranks ``-score_samples`` by
VUS-PR against the labels ``y``; the detector itself never sees them.
"""

# %%
# A labelled series
# -----------------
# 1800 rows with anomalies in the last two thirds, so each test fold holds some (on
# a fold without anomalies the threshold-free metrics are undefined and the
# scorer returns nan).
import numpy as np
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

from maat_detector import MAATDetector
from maat_detector.scoring import make_anomaly_scorer

rng = np.random.default_rng(2)
t = np.arange(1800)
X = np.c_[np.sin(2 * np.pi * t / 30), np.cos(2 * np.pi * t / 45)]
X += 0.1 * rng.standard_normal(X.shape)
y = np.zeros(len(X), dtype=int)
for i, start in enumerate((700, 900, 1100, 1300, 1500, 1700)):
    X[start : start + 10, i % 2] += 2.0
    y[start : start + 10] = 1

# %%
# Search
# ------
# Two score modes, two time-ordered folds (training on rows 0-599 then
# testing on 600-1199, training on 0-1199 then testing on 1200-1799): four
# small fits, plus the refit of the best candidate on all rows.
base = MAATDetector(
    win_size=50, d_model=32, n_heads=2, e_layers=1, d_ff=32, epochs=1,
    train_step=5, batch_size=32, lr=1e-3, random_state=0,
)
search = GridSearchCV(
    base,
    param_grid={"score_mode": ["paper", "reconstruction"]},
    scoring=make_anomaly_scorer("vus_pr", sliding_window=50),
    cv=TimeSeriesSplit(n_splits=2),
)
search.fit(X, y)

for params, mean, std in zip(
    search.cv_results_["params"],
    search.cv_results_["mean_test_score"],
    search.cv_results_["std_test_score"],
    strict=True,
):
    print(f"{params}: VUS-PR {mean:.3f} +/- {std:.3f}")
print("best:", search.best_params_)

# %%
# The refitted best detector is an ordinary fitted
# :class:`~maat_detector.MAATDetector`.
best = search.best_estimator_
print(type(best).__name__, best.win_size, best.score_mode, best.threshold_)

# %%
# ``maat_detector.scoring.vus_pr_scorer`` is the same scorer with the default
# ``sliding_window=100``; any metric of :mod:`maat_detector.metrics` can be
# wrapped, e.g. ``make_anomaly_scorer("affiliation_f1")`` (which uses
# ``predict``, so it also depends on the threshold).
