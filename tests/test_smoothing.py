"""Score smoothing (``score_smoothing``): batch, threshold, stream, contributions."""

import pickle

import numpy as np
import pytest
from conftest import TINY, sinusoids

from maat_detector import MAATDetector
from maat_detector._params import score_settings
from maat_detector.windowing import moving_mean


def test_moving_mean_centred_and_trailing_on_a_ramp():
    values = np.arange(10.0)
    centred = moving_mean(values, 5)
    trailing = moving_mean(values, 5, centered=False)
    # Interior rows: the mean of a ramp is its middle value.
    np.testing.assert_allclose(centred[2:8], values[2:8])
    # A trailing mean is the centred mean of the row width // 2 earlier.
    np.testing.assert_allclose(trailing[4:], centred[2:8])
    # Ends average what exists; nothing is padded or invented.
    assert centred[0] == np.mean(values[:3]) and centred[-1] == np.mean(values[-3:])
    assert trailing[0] == values[0] and trailing[1] == np.mean(values[:2])
    np.testing.assert_array_equal(moving_mean(values, 1), values)


def test_moving_mean_of_columns_equals_each_column_alone():
    values = np.random.default_rng(0).normal(size=(50, 3))
    both = moving_mean(values, 6)
    for column in range(3):
        np.testing.assert_allclose(both[:, column], moving_mean(values[:, column], 6))


@pytest.fixture(scope="module")
def univariate():
    X = sinusoids(480, n_features=1)
    return MAATDetector(**TINY).fit(X), X


def test_auto_smooths_univariate_series_only(univariate):
    det, X = univariate
    assert score_settings(det, 1).smoothing == 2 * (TINY["win_size"] // 6) + 1 == 5
    raw = MAATDetector(**{**TINY, "score_smoothing": 1})
    raw.__dict__.update({k: v for k, v in det.__dict__.items() if k.endswith("_")})
    np.testing.assert_allclose(
        det.anomaly_score(X), moving_mean(raw.anomaly_score(X), 5), rtol=1e-12
    )
    multi = MAATDetector(**TINY)
    assert score_settings(multi, 3).smoothing == 1
    assert (
        score_settings(MAATDetector(**{**TINY, "score_smoothing": 7}), 3).smoothing == 7
    )


def test_threshold_is_set_on_smoothed_scores(univariate):
    """A fit with smoothing equals an unsmoothed fit recalibrated with it."""
    det, X = univariate
    other = MAATDetector(**{**TINY, "score_smoothing": 1}).fit(X)
    assert other.threshold_ != det.threshold_
    other.set_params(score_smoothing="auto").calibrate(X[-det.n_calibration_rows_ :])
    assert other.threshold_ == det.threshold_


def test_contributions_sum_to_the_smoothed_score():
    X = sinusoids(300, n_features=3)
    det = MAATDetector(**{**TINY, "score_smoothing": 9, "top_channels": None}).fit(X)
    np.testing.assert_allclose(
        det.anomaly_contributions(X).sum(1), det.anomaly_score(X), rtol=1e-5
    )


@pytest.mark.parametrize("chunk", [1, 6, 90])
def test_stream_smooths_over_trailing_rows(univariate, chunk):
    det, X = univariate
    unsmoothed = pickle.loads(pickle.dumps(det)).set_params(score_smoothing=1)
    new = sinusoids(90, n_features=1, seed=3)
    raw = unsmoothed.stream().update(new)
    stream = det.stream()
    got = np.concatenate(
        [stream.update(new[i : i + chunk]) for i in range(0, 90, chunk)]
    )
    np.testing.assert_allclose(got, moving_mean(raw, 5, centered=False), rtol=1e-6)
    assert stream.get_state()["recent_scores"].shape == (4,)


def test_stream_resumes_with_its_recent_scores(univariate):
    det, _ = univariate
    new = sinusoids(40, n_features=1, seed=4)
    stream = det.stream()
    stream.update(new[:20])
    state = stream.get_state()
    rest = stream.update(new[20:])
    np.testing.assert_array_equal(det.stream(state=state).update(new[20:]), rest)
    # A state saved before smoothing existed still resumes (its first rows
    # then average fewer scores).
    del state["recent_scores"]
    old = det.stream(state=state).update(new[20:])
    np.testing.assert_allclose(old[4:], rest[4:], rtol=1e-6)


def test_smoothing_must_be_auto_or_a_positive_width(series):
    for bad in (0, "centred", 2.5):
        with pytest.raises(ValueError, match="score_smoothing"):
            MAATDetector(**{**TINY, "score_smoothing": bad}).fit(series)
