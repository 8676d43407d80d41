"""Baseline detectors for the quality benchmarks (``run.py``, ``protocols.py``).

Every baseline has the interface the benchmark needs from
:class:`maat_detector.MAATDetector`:

- ``fit(train)`` on the (already scaled) training series, one row per time step;
- ``anomaly_score(X)``: one score per row, **higher = more anomalous**;
- ``threshold_``: the ``1 - contamination`` quantile of the training scores
  (contamination 0.01: the 99th percentile, as in ``shared/BASELINES.md``);
- ``train_score_``: the training scores the threshold came from;
- ``params()``: the settings, for the results file.

The benchmark scales train and test with a ``StandardScaler`` fitted on the
training series before calling these; they do no scaling of their own.

Detectors
---------
``PCABaseline``
    Squared reconstruction error of scikit-learn PCA (default solver, float64)
    fitted on the training rows, keeping the components that explain 90 % of
    the variance. A univariate series is cut into sliding windows of 32
    (stride 1); each window gets its reconstruction error and a time step the
    **mean** over the windows that contain it.
``IForestBaseline``
    scikit-learn IsolationForest, 100 trees, random_state 0, on single scaled
    rows; univariate series through the same windows of 32 and mean as PCA
    (then identical to ``WindowIForestBaseline``).
``WindowIForestBaseline``
    IsolationForest on flattened sliding windows of length 32 over all
    channels (stride 1), as PyOD's ``TimeSeriesOD`` does. A time step's score is
    the **mean** over the windows that contain it (TimeSeriesOD's default is the
    max).
``PyODAnomalyTransformer``
    ``pyod.models.ts_anomaly_transformer.AnomalyTransformer`` (PyOD >= 3),
    trained on the scaled series; its training scores are its
    ``decision_scores_``. Global torch seed set to 0 before ``fit``.
``ZScoreBaseline``
    The largest absolute z-score over the channels of a row (the series is
    already scaled on train, so that is ``max_c |x_c|``): the simplest
    detector a data scientist would try first.
``PyODLSTMAD``
    ``pyod.models.ts_lstm.LSTMAD`` (PyOD >= 3): an LSTM forecasts the next
    row from the previous ``window_size``; a row's score is the Mahalanobis
    distance of its forecast error. The first ``window_size`` rows get the
    threshold. Global torch seed set to ``seed`` before ``fit``.
``RandomBaseline``
    Seeded uniform scores, a control: what chance gives on each metric.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest

__all__ = [
    "PCABaseline",
    "IForestBaseline",
    "WindowIForestBaseline",
    "PyODAnomalyTransformer",
    "PyODLSTMAD",
    "RandomBaseline",
    "ZScoreBaseline",
    "pyod_available",
    "sliding_windows",
    "mean_over_windows",
]

#: Window length of univariate series for PCA and IForest (shared/BASELINES.md).
UNIVARIATE_WINDOW = 32


def sliding_windows(X, width):
    """Flattened windows ``X[i : i + width]`` for every start i (stride 1).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    width : int, at most n

    Returns
    -------
    ndarray of shape (n - width + 1, width * d)
    """
    X = np.asarray(X, dtype=np.float64)
    view = sliding_window_view(X, width, axis=0)  # (n - width + 1, d, width)
    return view.transpose(0, 2, 1).reshape(len(view), -1)


def mean_over_windows(window_score, n, width):
    """Score of step t = mean of the scores of the windows that contain t.

    Window i covers steps ``i .. i + width - 1``, so step t lies in windows
    ``max(0, t - width + 1) .. min(t, n - width)``; a prefix sum gives the means.
    """
    csum = np.concatenate([[0.0], np.cumsum(window_score, dtype=np.float64)])
    t = np.arange(n)
    lo = np.maximum(0, t - width + 1)
    hi = np.minimum(t, n - width) + 1
    return (csum[hi] - csum[lo]) / (hi - lo)


def _quantile_threshold(train_score, contamination):
    return float(np.quantile(train_score, 1.0 - contamination))


class _Base:
    contamination = 0.01

    def _set_threshold(self, train_score):
        self.train_score_ = np.asarray(train_score, dtype=np.float64)
        self.threshold_ = _quantile_threshold(self.train_score_, self.contamination)
        return self

    def params(self):
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}


class _RowOrWindow(_Base):
    """Scores single rows; a univariate series through windows of ``window``."""

    window = UNIVARIATE_WINDOW

    def _width(self, X):
        return min(self.window, len(X)) if X.shape[1] == 1 else 1

    def _score(self, X):
        width = self._width(X)
        if width == 1:
            return self._row_score(np.asarray(X, dtype=np.float64))
        window_score = self._row_score(sliding_windows(X, width))
        return mean_over_windows(window_score, len(X), width)

    def fit(self, X):
        width = self._width(X)
        F = np.asarray(X, np.float64) if width == 1 else sliding_windows(X, width)
        self._fit_rows(F)
        return self._set_threshold(self._score(X))

    def anomaly_score(self, X):
        return self._score(X)


class PCABaseline(_RowOrWindow):
    """PCA reconstruction error, components explaining ``variance`` of train."""

    def __init__(self, variance=0.9, window=UNIVARIATE_WINDOW, contamination=0.01):
        self.variance = variance
        self.window = window
        self.contamination = contamination

    def _fit_rows(self, F):
        # Default solver, float64: on SMAP (one-hot command channels, tied
        # eigenvalues) the kept components, and VUS-PR by about 0.01, depend on it.
        self.pca_ = PCA(n_components=self.variance).fit(F)
        self.n_components_ = int(self.pca_.n_components_)

    def _row_score(self, F):
        rec = self.pca_.inverse_transform(self.pca_.transform(F))
        return ((F - rec) ** 2).sum(axis=1)


class IForestBaseline(_RowOrWindow):
    """IsolationForest on single rows (univariate: windows of ``window``)."""

    def __init__(
        self,
        n_estimators=100,
        window=UNIVARIATE_WINDOW,
        contamination=0.01,
        random_state=0,
    ):
        self.n_estimators = n_estimators
        self.window = window
        self.contamination = contamination
        self.random_state = random_state

    def _fit_rows(self, F):
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators, random_state=self.random_state
        ).fit(F)

    def _row_score(self, F):
        return -self.forest_.score_samples(F)


class WindowIForestBaseline(IForestBaseline):
    """IsolationForest on flattened windows of all channels (PyOD TimeSeriesOD)."""

    def _width(self, X):
        return min(self.window, len(X))


def pyod_available():
    """``(True, version)`` when PyOD >= 3 and its AnomalyTransformer import."""
    try:
        import pyod
        from pyod.models.ts_anomaly_transformer import AnomalyTransformer  # noqa: F401
    except ImportError as exc:
        return False, f"not importable ({exc})"
    major = int(str(pyod.__version__).split(".")[0])
    if major < 3:
        return False, f"pyod {pyod.__version__} < 3"
    return True, pyod.__version__


class PyODAnomalyTransformer(_Base):
    """PyOD's Anomaly Transformer, threshold from its own training scores."""

    def __init__(
        self,
        window_size=100,
        d_model=128,
        n_heads=4,
        n_layers=3,
        epochs=3,
        batch_size=64,
        step=10,
        lr=1e-4,
        contamination=0.01,
        seed=0,
        device="auto",
    ):
        self.window_size = window_size
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.step = step
        self.lr = lr
        self.contamination = contamination
        self.seed = seed
        self.device = device

    def fit(self, X):
        import torch
        from pyod.models.ts_anomaly_transformer import AnomalyTransformer

        torch.manual_seed(self.seed)
        self.model_ = AnomalyTransformer(
            window_size=self.window_size,
            d_model=self.d_model,
            n_heads=self.n_heads,
            n_layers=self.n_layers,
            epochs=self.epochs,
            batch_size=self.batch_size,
            step=self.step,
            lr=self.lr,
            contamination=self.contamination,
            device=self.device,
        ).fit(np.asarray(X, dtype=np.float64))
        return self._set_threshold(self.model_.decision_scores_)

    def anomaly_score(self, X):
        return self.model_.decision_function(np.asarray(X, dtype=np.float64))


class RandomBaseline(_Base):
    """Uniform random scores from a fixed seed: the chance level of each metric."""

    def __init__(self, seed=0, contamination=0.01):
        self.seed = seed
        self.contamination = contamination

    def fit(self, X):
        self.rng_ = np.random.default_rng(self.seed)
        return self._set_threshold(self.rng_.random(len(X)))

    def anomaly_score(self, X):
        return self.rng_.random(len(X))


class ZScoreBaseline(_Base):
    """Largest absolute value over the channels of the (train-scaled) rows."""

    def __init__(self, contamination=0.01):
        self.contamination = contamination

    def fit(self, X):
        return self._set_threshold(self.anomaly_score(X))

    def anomaly_score(self, X):
        return np.abs(np.asarray(X, dtype=np.float64)).max(axis=1)


class PyODLSTMAD(_Base):
    """PyOD's LSTMAD (next-row forecast, Mahalanobis error), threshold from train."""

    def __init__(
        self,
        window_size=100,
        hidden_size=64,
        n_layers=2,
        epochs=5,
        lr=8e-4,
        batch_size=64,
        contamination=0.01,
        seed=0,
    ):
        self.window_size = window_size
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.contamination = contamination
        self.seed = seed

    def fit(self, X):
        import torch
        from pyod.models.ts_lstm import LSTMAD

        torch.manual_seed(self.seed)
        self.model_ = LSTMAD(
            window_size=self.window_size,
            hidden_size=self.hidden_size,
            n_layers=self.n_layers,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            contamination=self.contamination,
        ).fit(np.asarray(X, dtype=np.float64))
        return self._set_threshold(self.model_.decision_scores_)

    def anomaly_score(self, X):
        return self.model_.decision_function(np.asarray(X, dtype=np.float64))
