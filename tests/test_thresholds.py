import math
import warnings

import numpy as np
import pytest
from scipy.stats import genpareto

from maat_detector.thresholds import (
    SPOT,
    fit_gpd,
    offset_from_contamination,
    spot_threshold,
)


def gpd_sample(xi, sigma, n, seed):
    """Inverse-CDF draws from a GPD with location 0."""
    u = np.random.default_rng(seed).random(n)
    if xi == 0:
        return -sigma * np.log1p(-u)
    return sigma * np.expm1(-xi * np.log1p(-u)) / xi


# --------------------------------------------------------------------------- #
# offset_from_contamination
# --------------------------------------------------------------------------- #
def test_contamination_exact_count_on_permutation():
    scores = np.random.default_rng(0).permutation(1000).astype(float)
    t = offset_from_contamination(scores, 0.01)
    assert (scores > t).sum() == 10
    assert 989 < t < 990


@pytest.mark.parametrize("n", [1, 2, 7, 100, 101, 1000, 1001])
@pytest.mark.parametrize("contamination", [0.001, 0.01, 0.07, 0.1, 0.25, 0.5])
def test_contamination_matches_numpy_and_count(n, contamination):
    scores = np.random.default_rng(n).normal(size=n)
    t = offset_from_contamination(scores, contamination)
    assert t == pytest.approx(np.quantile(scores, 1 - contamination), abs=1e-12)
    # Distinct scores: exactly ceil((n - 1) * contamination) above, with
    # (n - 1) * contamination snapped to an integer when it is one.
    expected = math.ceil(round((n - 1) * contamination, 9))
    assert (scores > t).sum() == expected


def test_contamination_ties_and_constant():
    assert offset_from_contamination(np.full(50, 2.5), 0.1) == 2.5
    scores = np.r_[np.zeros(90), np.ones(10)]
    t = offset_from_contamination(scores, 0.2)
    assert (scores > t).sum() <= math.ceil(99 * 0.2)


def test_contamination_accepts_lists_and_returns_float():
    t = offset_from_contamination([3, 1, 2, 4, 5], 0.5)
    assert isinstance(t, float) and t == 3.0


@pytest.mark.parametrize("contamination", [0, -0.1, 0.51, 1, np.nan, True, "auto"])
def test_contamination_invalid(contamination):
    with pytest.raises(ValueError, match="contamination=.*outside \\(0, 0.5\\]"):
        offset_from_contamination(np.arange(10.0), contamination)


@pytest.mark.parametrize(
    "scores, match",
    [
        ([], "empty"),
        ([1.0, np.nan, 2.0], "1 NaN and 0 infinite"),
        ([1.0, np.inf, -np.inf], "0 NaN and 2 infinite"),
        (np.zeros((5, 2)), "must be 1-D"),
    ],
)
def test_contamination_bad_scores(scores, match):
    with pytest.raises(ValueError, match=match):
        offset_from_contamination(scores, 0.1)


# --------------------------------------------------------------------------- #
# fit_gpd
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "xi, sigma", [(0.2, 1.0), (0.0, 1.0), (-0.2, 1.0), (0.5, 3.0), (-0.5, 0.01)]
)
def test_fit_gpd_recovers_parameters(xi, sigma):
    y = gpd_sample(xi, sigma, 5000, seed=42)
    xi_hat, sigma_hat = fit_gpd(y)
    # Asymptotic sd of xi_hat is (1 + xi) / sqrt(n) ~ 0.017: allow ~4 sd.
    assert xi_hat == pytest.approx(xi, abs=0.07)
    assert sigma_hat == pytest.approx(sigma, rel=0.07)


@pytest.mark.parametrize("xi", [0.3, 0.0, -0.4])
@pytest.mark.parametrize("n", [12, 200])
def test_fit_gpd_is_a_likelihood_maximum(xi, n):
    # At least as likely as scipy's generic optimiser finds, per seed. Below
    # xi = -1 the likelihood is unbounded; fit_gpd stops at -1, scipy may not.
    for seed in range(3):
        y = gpd_sample(xi, 2.0, n, seed=seed)
        xi_hat, sigma_hat = fit_gpd(y)
        assert xi_hat >= -1.0 and sigma_hat > 0
        ours = genpareto.logpdf(y, xi_hat, 0.0, sigma_hat).sum()
        c, _, s = genpareto.fit(y, floc=0)
        if c >= -1.0:
            assert ours >= genpareto.logpdf(y, c, 0, s).sum() - 1e-6


def test_fit_gpd_scale_equivariant():
    y = gpd_sample(0.2, 1.0, 500, seed=1)
    xi1, s1 = fit_gpd(y)
    xi2, s2 = fit_gpd(y * 1e6)
    assert xi2 == pytest.approx(xi1, abs=1e-6)
    assert s2 == pytest.approx(s1 * 1e6, rel=1e-6)


def test_fit_gpd_equal_peaks_warn_and_fall_back_to_exponential():
    with pytest.warns(UserWarning, match="all 20 peaks are equal"):
        xi, sigma = fit_gpd(np.full(20, 0.5))
    assert (xi, sigma) == (0.0, 0.5)


@pytest.mark.parametrize(
    "peaks, match",
    [
        ([1.0], "at least 2"),
        ([1.0, -0.5, 2.0], "negative"),
        ([0.0, 0.0], "all zero"),
        ([1.0, np.nan], "NaN"),
    ],
)
def test_fit_gpd_invalid(peaks, match):
    with pytest.raises(ValueError, match=match):
        fit_gpd(peaks)


# --------------------------------------------------------------------------- #
# spot_threshold
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("q", [1e-2, 1e-3, 1e-4])
def test_spot_exponential_matches_true_quantile(q):
    scores = np.random.default_rng(0).exponential(size=20000)
    z = spot_threshold(scores, q=q, level=0.98)
    # True (1 - q) quantile is -log(q); extrapolation error grows as q shrinks.
    assert z == pytest.approx(-math.log(q), rel=0.06)
    assert z > np.quantile(scores, 0.98)


def test_spot_extrapolates_beyond_data_and_is_monotone_in_q():
    scores = np.random.default_rng(1).exponential(size=2000)
    qs = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.019]
    zs = [spot_threshold(scores, q=q) for q in qs]
    assert np.all(np.diff(zs) < 0)
    assert zs[0] > scores.max()  # beyond the largest calibration score
    assert all(z >= np.quantile(scores, 0.98) for z in zs)


def test_spot_shift_and_scale_equivariant():
    scores = np.random.default_rng(2).exponential(size=3000)
    z = spot_threshold(scores)
    assert spot_threshold(scores * 1e-9 - 5.0) == pytest.approx(z * 1e-9 - 5.0)


def test_spot_few_peaks_falls_back_to_empirical_quantile():
    scores = np.random.default_rng(3).normal(size=200)  # 4 peaks at level 0.98
    with pytest.warns(UserWarning, match="only 4 of 200 scores exceed"):
        z = spot_threshold(scores, q=1e-3, level=0.98)
    assert z == pytest.approx(np.quantile(scores, 1 - 1e-3))


def test_spot_constant_scores_give_finite_threshold():
    with pytest.warns(UserWarning, match="only 0 of 500"):
        z = spot_threshold(np.full(500, 7.0))
    assert z == 7.0


def test_spot_equal_peaks_finite_and_above_t():
    scores = np.r_[np.zeros(950), np.full(50, 5.0)]
    with pytest.warns(UserWarning, match="peaks are equal"):
        z = spot_threshold(scores, q=1e-3, level=0.9)
    assert np.isfinite(z) and z > 5.0


def test_spot_warning_points_at_caller():
    with pytest.warns(UserWarning) as record:
        spot_threshold(np.zeros(100))
    assert record[0].filename == __file__


def test_spot_nan_scores_raise():
    scores = np.r_[np.random.default_rng(4).exponential(size=100), np.nan]
    with pytest.raises(ValueError, match="1 NaN"):
        spot_threshold(scores)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"q": 0.0}, "q=0.0 must lie in"),
        ({"q": 0.05, "level": 0.98}, "q=0.05 must lie in"),
        ({"q": np.nan}, "q=nan"),
        ({"level": 1.0}, "level=1.0 is outside"),
        ({"level": 0}, "level=0 is outside"),
        ({"min_peaks": 1}, "min_peaks=1"),
    ],
)
def test_spot_invalid_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spot_threshold(np.arange(1000.0), **kwargs)


# --------------------------------------------------------------------------- #
# SPOT (streaming)
# --------------------------------------------------------------------------- #
def test_spot_class_matches_function_and_exposes_fit():
    scores = np.random.default_rng(5).exponential(size=5000)
    spot = SPOT(q=1e-3, level=0.98).fit(scores)
    assert spot.threshold_ == spot_threshold(scores, q=1e-3, level=0.98)
    assert spot.n_peaks_ == (scores > spot.init_threshold_).sum()
    assert (spot.xi_, spot.sigma_) == fit_gpd(spot.peaks_)
    assert not spot.fallback_


def test_spot_stream_alarm_rate_and_updates():
    rng = np.random.default_rng(6)
    spot = SPOT(q=1e-3, level=0.98).fit(rng.exponential(size=3000))
    n_peaks, z0 = spot.n_peaks_, spot.threshold_
    stream = rng.exponential(size=2000)
    alarms = np.array([spot.update(s) for s in stream])
    assert alarms.sum() <= 10  # about q * 2000 = 2 expected
    assert spot.n_peaks_ > n_peaks and spot.threshold_ != z0
    assert spot.n_samples_seen_ == 3000 + 2000 - alarms.sum()
    # An alarm leaves the model unchanged.
    state = (spot.threshold_, spot.n_peaks_, spot.n_samples_seen_)
    assert spot.update(1e6) is True
    assert (spot.threshold_, spot.n_peaks_, spot.n_samples_seen_) == state


def test_spot_stream_leaves_fallback_once_enough_peaks():
    rng = np.random.default_rng(7)
    with pytest.warns(UserWarning, match="only"):
        spot = SPOT(q=1e-3, level=0.98, min_peaks=10).fit(rng.exponential(size=300))
    assert spot.fallback_ and spot.xi_ is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for s in rng.exponential(size=1000) + 3.0:  # many peaks, below 1e3
            spot.update(min(s, spot.threshold_))
    assert not spot.fallback_ and spot.xi_ is not None
    assert np.isfinite(spot.threshold_)


def test_spot_update_errors():
    with pytest.raises(RuntimeError, match="call fit"):
        SPOT().update(1.0)
    spot = SPOT().fit(np.random.default_rng(8).exponential(size=1000))
    with pytest.raises(ValueError, match="not a finite real"):
        spot.update(np.nan)
