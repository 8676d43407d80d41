"""Streaming scores and per-channel attribution."""

import pickle

import numpy as np
import pytest
from conftest import TINY, sinusoids
from sklearn.exceptions import NotFittedError

from maat_detector import MAATDetector


@pytest.fixture(scope="module")
def detector():
    params = {**TINY, "score_mode": "calibrated"}
    return MAATDetector(**params).fit(sinusoids(480))


def batch_equivalent(det, X):
    """What the streaming docstring promises the stream equals."""
    batch = MAATDetector(**det.get_params())
    batch.__dict__.update({k: v for k, v in det.__dict__.items() if k.endswith("_")})
    batch.set_params(score_step=1, score_combine="end")
    return batch.anomaly_score(np.vstack([det.fit_tail_, X]))[det.win_size - 1 :]


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_stream_equals_batch_window_ending_at_each_row(detector, chunk):
    X = sinusoids(130, seed=5)
    stream = detector.stream()
    got = np.concatenate(
        [stream.update(X[i : i + chunk]) for i in range(0, 130, chunk)]
    )
    assert got.shape == (130,) and stream.n_rows_seen_ == 130
    np.testing.assert_allclose(got, batch_equivalent(detector, X), rtol=1e-6, atol=1e-6)


def test_stream_resumes_from_pickle_and_state(detector):
    X = sinusoids(60, seed=6)
    stream = detector.stream()
    first = stream.update(X[:25])
    resumed = pickle.loads(pickle.dumps(stream))
    from_state = detector.stream(state=stream.get_state())
    rest = stream.update(X[25:])
    np.testing.assert_array_equal(resumed.update(X[25:]), rest)
    np.testing.assert_array_equal(from_state.update(X[25:]), rest)
    assert first.shape == (25,)
    assert stream.get_state()["context"].shape == (detector.win_size - 1, 3)


def test_stream_bad_input(detector):
    stream = detector.stream()
    assert stream.update(np.empty((0, 3))).shape == (0,)
    with pytest.raises(ValueError, match="features"):
        stream.update(np.zeros((2, 4)))
    bad = np.zeros((3, 3))
    bad[1, 2] = np.nan
    with pytest.raises(
        ValueError, match=r"NaN value\(s\) \(first at row 1, column 2\)"
    ):
        stream.update(bad)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        stream.update(bad)
    with pytest.raises(NotFittedError):
        MAATDetector(**TINY).stream()


def test_stream_flags_a_spike(detector):
    X = sinusoids(80, seed=7)
    X[50, 0] += 5.0
    scores = detector.stream().update(X)
    assert scores[50] > scores[:50].max()  # flagged when it arrives
    # A forecaster's error echoes while the spike is in the input of the next
    # forecasts (the token convolution reads 3 steps back), never before it.
    assert 50 <= int(np.argmax(scores)) <= 53


@pytest.mark.parametrize("score_mode", ["paper", "reconstruction", "calibrated"])
def test_attribution_points_at_the_faulty_channel(score_mode):
    det = MAATDetector(
        **{**TINY, "epochs": 3, "score_mode": score_mode, "score_step": 1}
    ).fit(sinusoids(600, seed=1))
    X = sinusoids(200, seed=2)
    X[120:124, 2] += 3.0
    contributions = det.anomaly_contributions(X)
    assert contributions.shape == (200, 3) and np.all(contributions >= 0)
    assert np.argmax(contributions[120:124].sum(axis=0)) == 2
    if score_mode != "paper":
        # The paper's window softmax can give anomalous rows a weight of
        # exactly 0 (nothing to attribute); the other modes never do.
        assert np.all(np.argmax(contributions[120:124], axis=1) == 2)
    if score_mode in ("paper", "reconstruction"):
        score = det.anomaly_score(X)
        np.testing.assert_allclose(
            contributions.sum(1), score, rtol=1e-5, atol=1e-6 * score.max()
        )
