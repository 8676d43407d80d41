"""How per-channel reconstruction errors become one score (``top_channels``)."""

import numpy as np
import pytest
import torch
from conftest import TINY, sinusoids

from maat_detector import MAATDetector
from maat_detector.thresholds import offset_from_contamination

N_FEATURES = 5


@pytest.fixture(scope="module")
def fitted():
    """The same model fitted three times, differing only in top_channels."""
    train = sinusoids(600, n_features=N_FEATURES, seed=1)
    detectors = {
        k: MAATDetector(
            **{**TINY, "top_channels": k, "score_step": 1, "score_combine": "end"}
        ).fit(train)
        for k in (None, N_FEATURES, 2)
    }
    return train, detectors


def test_top_channels_does_not_change_training(fitted):
    _, detectors = fitted
    states = [det.model_.state_dict() for det in detectors.values()]
    for name, tensor in states[0].items():
        for other in states[1:]:
            assert torch.equal(tensor, other[name])


def test_all_channels_is_the_channel_mean(fitted):
    _, detectors = fitted
    X = sinusoids(200, n_features=N_FEATURES, seed=2)
    all_channels = detectors[None].anomaly_score(X)
    np.testing.assert_array_equal(all_channels, detectors[N_FEATURES].anomaly_score(X))
    per_channel = detectors[None].anomaly_contributions(X)
    np.testing.assert_allclose(per_channel.sum(1), all_channels, rtol=1e-5)


def test_top_k_score_is_the_sum_of_at_most_k_shares(fitted):
    _, detectors = fitted
    det = detectors[2]
    X = sinusoids(200, n_features=N_FEATURES, seed=2)
    shares = det.anomaly_contributions(X)
    # score_combine="end": one window per row, so one set of k channels.
    assert np.all((shares > 0).sum(1) <= 2)
    np.testing.assert_allclose(shares.sum(1), det.anomaly_score(X), rtol=1e-5)
    # The mean of the two largest is at least the mean of all.
    assert np.all(det.anomaly_score(X) >= detectors[None].anomaly_score(X) * 0.999)


def test_top_k_threshold_is_calibrated_on_top_k_scores(fitted):
    train, detectors = fitted
    det = detectors[2]
    # The calibration rows are the validation tail: the threshold must be the
    # contamination quantile of their top-k scores, not of channel means.
    tail = train[len(train) - int(det.validation_fraction * len(train)) :]
    scores = det.anomaly_score(tail)
    expected = offset_from_contamination(scores, det.contamination)
    np.testing.assert_allclose(det.threshold_, expected, rtol=1e-6)
    assert det.threshold_ > detectors[None].threshold_


def test_top_k_undiluted_by_quiet_channels(fitted):
    _, detectors = fitted
    X = sinusoids(200, n_features=N_FEATURES, seed=2)
    X[120:124, 3] += 1.5
    contrast = {}
    for k in (None, 2):
        score = detectors[k].anomaly_score(X)
        contrast[k] = score[120:124].mean() / np.median(score)
    assert contrast[2] > contrast[None]


def test_top_k_calibration_runs_the_network_once_when_errors_fit_in_memory(
    monkeypatch,
):
    """The second calibration pass reuses the first pass's window errors, and
    gives the threshold that recomputing them gives."""
    import sklearn

    import maat_detector.engine.score as score_module

    X = sinusoids(300, n_features=4)
    det = MAATDetector(**{**TINY, "top_channels": 2, "epochs": 1}).fit(X)
    calls = []
    forward = score_module.forward
    monkeypatch.setattr(
        score_module, "forward", lambda *a: calls.append(1) or forward(*a)
    )
    kept = (det.calibrate(X).threshold_, len(calls))
    calls.clear()
    with sklearn.config_context(working_memory=1e-9):  # too little to keep them
        recomputed = (det.calibrate(X).threshold_, len(calls))
    assert kept[0] == recomputed[0]
    assert recomputed[1] == 2 * kept[1] > 0
