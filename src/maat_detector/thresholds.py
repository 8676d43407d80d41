"""Turn anomaly scores into a decision threshold.

Every function here takes **anomaly** scores: higher means more anomalous (the
reverse of scikit-learn's ``score_samples``; the estimator negates before and
after). A sample is flagged when its score is strictly above the threshold.

Two rules are offered:

- :func:`offset_from_contamination`: a fixed fraction of the calibration
  scores lies above the threshold (the classic ``contamination`` rule).
- :func:`spot_threshold` and :class:`SPOT`: Peaks-Over-Threshold with a
  Generalized Pareto tail (SPOT, Siffer et al., KDD 2017), which extrapolates
  a threshold for a small false-alarm probability ``q`` that may lie beyond
  the largest calibration score.

References
----------
.. [1] A. Siffer, P.-A. Fouque, A. Termier and C. Largouet, "Anomaly Detection
   in Streams with Extreme Value Theory", KDD 2017.
.. [2] S. D. Grimshaw, "Computing Maximum Likelihood Estimates for the
   Generalized Pareto Distribution", Technometrics 35(2), 1993.
"""

import logging
import math
import numbers
import warnings

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = ["SPOT", "fit_gpd", "offset_from_contamination", "spot_threshold"]

logger = logging.getLogger(__name__)

# Profile-likelihood search grid, in units where the mean peak is 1 (x = xi/sigma).
# Positive side: xi up to about log(1e6) ~ 14, far beyond any useful tail.
_GRID_POS = np.geomspace(1e-6, 1e6, 121)
# Negative side, as fractions of the lower bound -1/max(peak): dense near 0 ...
_GRID_NEG_NEAR0 = np.geomspace(1e-6, 0.5, 31)
# ... and dense near the boundary, where 1 + x * max(peak) -> 0.
_GRID_NEG_NEARB = 1.0 - np.geomspace(1e-8, 0.5, 41)
# |x| below this (in normalised units) is the exponential limit xi = 0.
_X_ZERO = 1e-10
# Lowest shape searched: below -1 the GPD likelihood is unbounded (no MLE).
_XI_MIN = -1.0


# --------------------------------------------------------------------------- #
# Input checks
# --------------------------------------------------------------------------- #
def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_scores(scores, name="scores"):
    """Return ``scores`` as a finite, non-empty, 1-D float64 array.

    Not shared with ``metrics._checks._check_score``, which looks alike but
    accepts an ``(n, 1)`` column and words its errors for evaluation.
    """
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one anomaly score per sample); got shape "
            f"{arr.shape}. Pass a flat array, e.g. {name}.ravel()."
        )
    if arr.size == 0:
        raise ValueError(
            f"{name} is empty; pass at least one anomaly score to calibrate on."
        )
    finite = np.isfinite(arr)
    if not finite.all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(arr.size - finite.sum() - n_nan)
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite value(s) out of "
            f"{arr.size}; remove or impute them (e.g. check the input series for "
            "NaN) before computing a threshold."
        )
    return arr


def _check_contamination(contamination):
    if not _is_real(contamination) or not (0.0 < contamination <= 0.5):
        raise ValueError(
            f"contamination={contamination!r} is outside (0, 0.5]; pass the "
            "expected fraction of anomalies, e.g. contamination=0.01."
        )


def _check_q_level(q, level):
    if not _is_real(level) or not (0.0 < level < 1.0):
        raise ValueError(
            f"level={level!r} is outside (0, 1); pass the quantile used as the "
            "initial threshold, e.g. level=0.98."
        )
    if not _is_real(q) or not (0.0 < q < 1.0 - level):
        raise ValueError(
            f"q={q!r} must lie in (0, 1 - level) = (0, {1.0 - level:.6g}); pass a "
            "smaller false-alarm probability (e.g. q=1e-3) or a lower level."
        )


def _check_min_peaks(min_peaks):
    if not isinstance(min_peaks, numbers.Integral) or min_peaks < 2:
        raise ValueError(
            f"min_peaks={min_peaks!r} must be an integer >= 2; 10 or more is "
            "advisable for a stable GPD fit."
        )


# --------------------------------------------------------------------------- #
# Contamination rule
# --------------------------------------------------------------------------- #
def offset_from_contamination(scores, contamination):
    """Threshold leaving a ``contamination`` fraction of scores strictly above it.

    The threshold is the ``1 - contamination`` quantile of ``scores`` with
    linear interpolation between order statistics (Hyndman & Fan type 7, the
    default of :func:`numpy.quantile` and :func:`numpy.percentile`, as used by
    scikit-learn's ``IsolationForest``).

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Anomaly scores of the calibration (fit or validation) data, higher
        means more anomalous. Must be finite.
    contamination : float
        Expected fraction of anomalies, in (0, 0.5].

    Returns
    -------
    threshold : float
        Anomaly-score threshold; samples with ``score > threshold`` are
        anomalies. The estimator stores its negative as ``offset_``.

    Raises
    ------
    ValueError
        If ``scores`` is empty, not 1-D or not finite, or ``contamination``
        is outside (0, 0.5].

    See Also
    --------
    spot_threshold : Extreme-value threshold for a target false-alarm rate.

    Notes
    -----
    With ``s`` the sorted scores (``n`` of them) and
    ``m = (n - 1) * contamination``, the threshold is
    ``s[n-1-k] + (k - m) * (s[n-k] - s[n-1-k])`` with ``k = ceil(m)``;
    this is exactly ``np.quantile(scores, 1 - contamination)`` in exact
    arithmetic. ``m`` is snapped to the nearest integer when within a
    relative ``1e-9`` of it, so that e.g. ``n = 101``, ``contamination=0.07``
    gives ``m = 7`` rather than ``7.000000000000001``.

    Consequently, when the scores are distinct, exactly
    ``ceil((n - 1) * contamination)`` of them lie strictly above the threshold
    (10 for ``n = 1000``, ``contamination = 0.01``). Ties at the threshold
    can only lower that count, never raise it.

    Examples
    --------
    >>> import numpy as np
    >>> from maat_detector.thresholds import offset_from_contamination
    >>> scores = np.random.default_rng(0).normal(size=1000)
    >>> threshold = offset_from_contamination(scores, contamination=0.01)
    >>> int((scores > threshold).sum())
    10
    """
    _check_contamination(contamination)
    s = np.sort(_check_scores(scores))
    n = s.size
    m = (n - 1) * float(contamination)
    m_round = round(m)
    if abs(m - m_round) <= 1e-9 * max(1.0, m):
        m = float(m_round)
    k = math.ceil(m)
    lo = n - 1 - k
    frac = k - m
    if frac == 0.0:
        return float(s[lo])
    # Same form as numpy's linear interpolation: never exceeds s[lo + 1].
    return float(s[lo] + frac * (s[lo + 1] - s[lo]))


# --------------------------------------------------------------------------- #
# Generalized Pareto fit
# --------------------------------------------------------------------------- #
def _profile(x, y):
    """Profile GPD log-likelihood at ``x = xi / sigma`` for peaks ``y``.

    Returns ``(loglik, xi, sigma)``. Valid for ``x > -1 / max(y)``.
    """
    n = y.size
    if abs(x) < _X_ZERO:
        sigma = float(y.mean())
        return -n * (1.0 + math.log(sigma)), 0.0, sigma
    xi = float(np.mean(np.log1p(x * y)))
    sigma = xi / x
    if not sigma > 0.0:  # xi underflowed to 0: use the exponential limit
        sigma = float(y.mean())
        return -n * (1.0 + math.log(sigma)), 0.0, sigma
    return -n * (1.0 + xi + math.log(sigma)), xi, sigma


def _profile_grid(xs, y):
    """Vectorised :func:`_profile` log-likelihood over a grid of non-zero ``xs``."""
    xi = np.log1p(xs[:, None] * y[None, :]).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = -y.size * (1.0 + xi + np.log(xi / xs))
    ll[~np.isfinite(ll) | (xi < _XI_MIN)] = -np.inf
    return ll


def fit_gpd(peaks):
    """Fit a Generalized Pareto Distribution to peaks by maximum likelihood.

    The GPD here has location 0, scale ``sigma > 0`` and shape ``xi``; its
    survival function is ``(1 + xi * y / sigma) ** (-1 / xi)``, and
    ``exp(-y / sigma)`` in the limit ``xi = 0`` (exponential tail).

    Parameters
    ----------
    peaks : array-like of shape (n_peaks,)
        Excesses over a threshold, ``score - t`` for the scores above ``t``.
        Must be finite, non-negative, at least 2 of them, not all zero.

    Returns
    -------
    xi : float
        Shape parameter; > 0 heavy tail, 0 exponential, < 0 bounded tail.
        Searched in ``[-1, ~14]``: below -1 the likelihood is unbounded and no
        maximum-likelihood estimate exists.
    sigma : float
        Scale parameter, > 0, in the units of ``peaks``.

    Raises
    ------
    ValueError
        If ``peaks`` is not a finite 1-D array of at least 2 non-negative
        values with a positive mean.

    Warns
    -----
    UserWarning
        If all peaks are equal: the MLE is degenerate, and the exponential
        fit ``xi = 0``, ``sigma = mean(peaks)`` is returned instead.

    See Also
    --------
    spot_threshold : Uses this fit to extrapolate a tail quantile.

    Notes
    -----
    Grimshaw's reduction [2]_: with ``x = xi / sigma`` fixed, the likelihood
    is maximised by ``xi(x) = mean(log(1 + x * y))``, which leaves the
    one-dimensional profile log-likelihood

    ``l(x) = -n * (1 + xi(x) + log(xi(x) / x))``,

    whose stationary points are the roots of Grimshaw's equation
    ``u(x) v(x) = 1`` used in SPOT [1]_, and whose limit at ``x = 0`` is the
    exponential fit. Rather than bracketing each root, ``l`` is evaluated on
    a log-spaced grid covering ``x > -1 / max(y)`` (both signs, plus
    ``x = 0``), and the best grid point is refined with a bounded Brent
    search. This returns the global maximum over the searched range, which
    includes the exponential candidate, as the paper's "best of all roots"
    rule does. Peaks are divided by their mean first, so the fit is scale
    equivariant.

    References
    ----------
    .. [1] A. Siffer et al., "Anomaly Detection in Streams with Extreme Value
       Theory", KDD 2017, Section 4.2.
    .. [2] S. D. Grimshaw, "Computing Maximum Likelihood Estimates for the
       Generalized Pareto Distribution", Technometrics 35(2), 1993.

    Examples
    --------
    >>> import numpy as np
    >>> from maat_detector.thresholds import fit_gpd
    >>> peaks = np.random.default_rng(0).exponential(scale=2.0, size=2000)
    >>> xi, sigma = fit_gpd(peaks)
    >>> bool(abs(xi) < 0.1), bool(1.8 < sigma < 2.2)
    (True, True)
    """
    return _fit_gpd(peaks, stacklevel=3)


def _fit_gpd(peaks, stacklevel):
    """:func:`fit_gpd`, warning at ``stacklevel`` (the caller's frame)."""
    y = _check_scores(peaks, name="peaks")
    if y.size < 2:
        raise ValueError(
            f"peaks has {y.size} value; fitting a GPD needs at least 2 (10 or "
            "more advisable). Lower the initial threshold to get more peaks."
        )
    if y.min() < 0.0:
        raise ValueError(
            f"peaks contains negative values (min {y.min():.6g}); pass excesses "
            "over the threshold, score - t for scores > t."
        )
    scale = float(y.mean())
    if not scale > 0.0:
        raise ValueError(
            "peaks are all zero; pass excesses over the threshold for the scores "
            "strictly above it."
        )
    if y.max() - y.min() <= 1e-12 * y.max():
        warnings.warn(
            f"all {y.size} peaks are equal ({y[0]:.6g}); the GPD fit is degenerate. "
            "Using the exponential tail xi=0, sigma=mean(peaks); scores with more "
            "spread (or a lower level) give a meaningful fit.",
            UserWarning,
            stacklevel=stacklevel,
        )
        return 0.0, scale

    yn = y / scale  # mean 1
    x_lo = -1.0 / float(yn.max())
    xs = np.concatenate(
        [x_lo * _GRID_NEG_NEARB, x_lo * _GRID_NEG_NEAR0[::-1], _GRID_POS]
    )
    xs = np.unique(xs)
    lls = _profile_grid(xs, yn)
    # Insert the exponential candidate x = 0 at its place in the grid.
    i0 = int(np.searchsorted(xs, 0.0))
    xs = np.insert(xs, i0, 0.0)
    lls = np.insert(lls, i0, _profile(0.0, yn)[0])

    i = int(np.argmax(lls))
    best_x, best_ll = float(xs[i]), float(lls[i])
    a, b = float(xs[max(i - 1, 0)]), float(xs[min(i + 1, xs.size - 1)])

    def objective(x):
        ll, xi, _ = _profile(x, yn)
        if xi < _XI_MIN or not np.isfinite(ll):
            return 1e300
        return -ll

    if b > a:
        res = minimize_scalar(
            objective,
            bounds=(a, b),
            method="bounded",
            options={"xatol": 1e-10 * max(abs(a), abs(b), 1e-6)},
        )
        if np.isfinite(res.fun) and -res.fun > best_ll:
            best_x, best_ll = float(res.x), float(-res.fun)

    _, xi, sigma_n = _profile(best_x, yn)
    sigma = sigma_n * scale
    logger.debug(
        "GPD fit on %d peaks: xi=%.6g, sigma=%.6g, loglik=%.6g",
        y.size,
        xi,
        sigma,
        best_ll - y.size * math.log(scale),
    )
    return float(xi), float(sigma)


# --------------------------------------------------------------------------- #
# SPOT
# --------------------------------------------------------------------------- #
def _gpd_quantile(t, xi, sigma, q, n, n_peaks):
    """SPOT's tail quantile ``z_q`` (Siffer et al., Eq. 1)."""
    r = q * n / n_peaks
    if xi == 0.0:
        return t - sigma * math.log(r)
    # (sigma / xi) * (r ** -xi - 1), written to stay accurate as xi -> 0.
    return t + sigma * math.expm1(-xi * math.log(r)) / xi


class SPOT:
    """Streaming Peaks-Over-Threshold detector (SPOT, Siffer et al., 2017).

    ``fit`` runs SPOT's initialisation on calibration scores: the initial
    threshold ``t`` is their empirical ``level`` quantile, the excesses over
    ``t`` (the peaks) get a Generalized Pareto fit (:func:`fit_gpd`), and the
    threshold ``z_q`` is the score exceeded with probability ``q``. ``update``
    then processes one new score at a time, as in the paper's Algorithm 1:
    a score above ``z_q`` is an alarm and is left out of the model; a score in
    ``(t, z_q]`` becomes a new peak, the GPD is refitted and ``z_q`` moves;
    any other score only counts towards ``n``.

    Scores are anomaly scores: higher means more anomalous.

    Parameters
    ----------
    q : float, default=1e-3
        Target probability of a normal score exceeding the threshold, in
        ``(0, 1 - level)``.
    level : float, default=0.98
        Quantile of the calibration scores used as initial threshold ``t``,
        in (0, 1).
    min_peaks : int, default=10
        Fewest peaks needed to fit the GPD. With fewer, a :class:`UserWarning`
        is issued and the empirical ``1 - q`` quantile of the calibration
        scores is used as threshold until enough peaks have arrived.

    Attributes
    ----------
    threshold_ : float
        Current alarm threshold ``z_q``, always ``>= init_threshold_``.
    init_threshold_ : float
        Initial threshold ``t``.
    xi_ : float or None
        GPD shape of the current fit, None while falling back.
    sigma_ : float or None
        GPD scale of the current fit, None while falling back.
    peaks_ : ndarray of shape (`n_peaks_`,)
        Excesses over ``t`` used by the current fit.
    n_peaks_ : int
        Number of peaks, ``N_t`` in the paper.
    n_samples_seen_ : int
        Number of scores counted so far (calibration plus non-alarm updates),
        ``n`` in the paper.
    fallback_ : bool
        True while the threshold is the empirical quantile (too few peaks).

    See Also
    --------
    spot_threshold : One-shot threshold from calibration scores.
    fit_gpd : The GPD maximum-likelihood fit.

    Notes
    -----
    The threshold is ``z_q = t + (sigma / xi) * ((q * n / N_t) ** -xi - 1)``,
    or ``t - sigma * log(q * n / N_t)`` when ``xi = 0``. It is clipped below
    at ``t`` and stays finite. Each ``update`` that adds a peak refits the
    GPD, costing ``O(N_t)`` times a few hundred operations.

    References
    ----------
    .. [1] A. Siffer, P.-A. Fouque, A. Termier and C. Largouet, "Anomaly
       Detection in Streams with Extreme Value Theory", KDD 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from maat_detector.thresholds import SPOT
    >>> rng = np.random.default_rng(0)
    >>> spot = SPOT(q=1e-3, level=0.98).fit(rng.exponential(size=5000))
    >>> bool(spot.threshold_ > spot.init_threshold_)
    True
    >>> spot.update(100.0), spot.update(0.1)
    (True, False)
    """

    def __init__(self, q=1e-3, level=0.98, *, min_peaks=10):
        self.q = q
        self.level = level
        self.min_peaks = min_peaks

    def fit(self, scores):
        """Initialise the threshold from calibration anomaly scores.

        Parameters
        ----------
        scores : array-like of shape (n_samples,)
            Calibration anomaly scores, higher = more anomalous, finite.

        Returns
        -------
        self : SPOT
            The fitted detector.
        """
        return self._fit(scores, stacklevel=3)

    def _fit(self, scores, stacklevel):
        _check_q_level(self.q, self.level)
        _check_min_peaks(self.min_peaks)
        s = _check_scores(scores)
        t = float(np.quantile(s, self.level))
        self.init_threshold_ = t
        self.peaks_ = s[s > t] - t
        self.n_peaks_ = int(self.peaks_.size)
        self.n_samples_seen_ = int(s.size)
        self._fallback_threshold = max(float(np.quantile(s, 1.0 - self.q)), t)
        if self.n_peaks_ < self.min_peaks:
            warnings.warn(
                f"only {self.n_peaks_} of {s.size} scores exceed the initial "
                f"threshold (level={self.level}); at least min_peaks="
                f"{self.min_peaks} are needed to fit the GPD. Falling back to the "
                "empirical (1 - q) quantile of the scores; pass more scores or a "
                "lower level.",
                UserWarning,
                stacklevel=stacklevel,
            )
        self._refit(stacklevel + 1)
        return self

    def _refit(self, stacklevel):
        if self.n_peaks_ < self.min_peaks:
            self.xi_ = self.sigma_ = None
            self.fallback_ = True
            self.threshold_ = self._fallback_threshold
            return
        xi, sigma = _fit_gpd(self.peaks_, stacklevel + 1)
        z = _gpd_quantile(
            self.init_threshold_,
            xi,
            sigma,
            self.q,
            self.n_samples_seen_,
            self.n_peaks_,
        )
        if not np.isfinite(z):
            warnings.warn(
                f"the GPD tail (xi={xi:.4g}, sigma={sigma:.4g}) gives a non-finite "
                f"threshold for q={self.q}; falling back to the empirical "
                "(1 - q) quantile. Use a larger q.",
                UserWarning,
                stacklevel=stacklevel,
            )
            self.xi_ = self.sigma_ = None
            self.fallback_ = True
            self.threshold_ = self._fallback_threshold
            return
        self.xi_, self.sigma_ = xi, sigma
        self.fallback_ = False
        self.threshold_ = max(float(z), self.init_threshold_)

    def update(self, score):
        """Process one new anomaly score and adapt the threshold.

        Parameters
        ----------
        score : float
            New anomaly score, higher = more anomalous, finite.

        Returns
        -------
        is_alarm : bool
            True if ``score > threshold_`` (checked before any update). Alarms
            do not change the model.
        """
        if not hasattr(self, "threshold_"):
            raise RuntimeError(
                "this SPOT instance is not fitted yet; call fit(calibration_scores) "
                "before update(score)."
            )
        if not _is_real(score) or not np.isfinite(score):
            raise ValueError(
                f"score={score!r} is not a finite real number; pass one finite "
                "anomaly score per call."
            )
        score = float(score)
        if score > self.threshold_:
            return True
        self.n_samples_seen_ += 1
        if score > self.init_threshold_:
            self.peaks_ = np.append(self.peaks_, score - self.init_threshold_)
            self.n_peaks_ += 1
            self._refit(stacklevel=3)
        return False


def spot_threshold(scores, q=1e-3, level=0.98, *, min_peaks=10):
    """Extreme-value threshold by Peaks-Over-Threshold (SPOT initialisation).

    Fits a Generalized Pareto tail to the scores above their empirical
    ``level`` quantile ``t`` and returns ``z_q``, the score that a normal
    sample exceeds with probability about ``q`` [1]_. Unlike the
    contamination rule, ``z_q`` can lie beyond the largest calibration score.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Calibration anomaly scores, higher means more anomalous; finite.
    q : float, default=1e-3
        Target false-alarm probability, in ``(0, 1 - level)``.
    level : float, default=0.98
        Quantile used as initial threshold ``t`` (linear interpolation,
        :func:`numpy.quantile` default), in (0, 1).
    min_peaks : int, default=10
        Fewest scores above ``t`` needed for the GPD fit.

    Returns
    -------
    threshold : float
        Finite anomaly-score threshold ``z_q >= t``; samples with
        ``score > threshold`` are anomalies.

    Raises
    ------
    ValueError
        If ``scores`` is empty, not 1-D or not finite, or ``q``, ``level`` or
        ``min_peaks`` is out of range.

    Warns
    -----
    UserWarning
        If fewer than ``min_peaks`` scores exceed ``t`` (few or constant
        scores): the empirical ``1 - q`` quantile of ``scores`` is returned.
        Also if all peaks are equal (see :func:`fit_gpd`).

    See Also
    --------
    SPOT : The streaming version, which keeps adapting the threshold.
    fit_gpd : The GPD fit, for its parameters.
    offset_from_contamination : The fixed-fraction rule.

    Notes
    -----
    With ``n`` scores, ``N_t`` of them above ``t`` and GPD parameters
    ``(xi, sigma)`` fitted to their excesses,
    ``z_q = t + (sigma / xi) * ((q * n / N_t) ** -xi - 1)``, and
    ``t - sigma * log(q * n / N_t)`` for ``xi = 0``. ``z_q`` decreases as
    ``q`` grows.

    References
    ----------
    .. [1] A. Siffer, P.-A. Fouque, A. Termier and C. Largouet, "Anomaly
       Detection in Streams with Extreme Value Theory", KDD 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from maat_detector.thresholds import spot_threshold
    >>> scores = np.random.default_rng(0).exponential(size=5000)
    >>> z = spot_threshold(scores, q=1e-3, level=0.98)
    >>> bool(z > np.quantile(scores, 0.98))
    True
    """
    spot = SPOT(q=q, level=level, min_peaks=min_peaks)
    spot._fit(scores, stacklevel=3)
    return float(spot.threshold_)
