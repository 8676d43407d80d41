"""Input and parameter checks of a fitted detector, and files whose parts disagree.

Each case reached a raw numpy or torch error, or passed silently, before the
checks were added.
"""

import copy
import io

import numpy as np
import pytest
import torch
from conftest import TINY, sinusoids

from maat_detector import MAATDetector
from maat_detector.persistence import _checksum

ONE_EPOCH = {**TINY, "epochs": 1}


@pytest.fixture(scope="module")
def fitted():
    X = sinusoids(160)
    return MAATDetector(**ONE_EPOCH).fit(X), X


@pytest.mark.parametrize("cols", [0, 1, 5])
def test_wrong_column_count_says_what_to_pass(fitted, cols):
    det, _ = fitted
    with pytest.raises(ValueError, match="pass"):
        det.score_samples(np.zeros((20, cols)))
    with pytest.raises(ValueError, match="pass"):
        det.stream().update(np.zeros((1, cols)))


def test_stream_update_checks_before_returning_early(fitted):
    det, _ = fitted
    stream = det.stream()
    with pytest.raises(TypeError, match="pass an array"):
        stream.update(None)
    with pytest.raises(ValueError, match="expecting 3 features"):
        stream.update(np.zeros((0, 5)))
    assert stream.update(np.zeros((0, 3))).shape == (0,)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"win_size": 8}, "call fit again"),
        ({"win_size": 32}, "call fit again"),
        ({"d_model": 32}, "d_model: 16 -> 32"),
        ({"objective": "reconstruction"}, "call fit again"),
        ({"score_mode": "bogus"}, "score_mode"),
        ({"score_step": 1000}, "choose score_step <= win_size"),
        ({"top_channels": 0}, "top_channels"),
        ({"score_smoothing": -3}, "score_smoothing"),
        ({"contamination": 2.0}, "contamination"),
    ],
)
def test_parameters_changed_after_fit_are_checked(fitted, params, match):
    det, X = fitted
    det = copy.deepcopy(det).set_params(**params)
    for call in (
        det.score_samples,
        det.anomaly_contributions,
        lambda X: det.stream().update(X),
        lambda X: det.save(io.BytesIO()),
    ):
        with pytest.raises(ValueError, match=match):
            call(X)


def test_parameters_used_only_by_fit_act_at_the_next_fit(fitted):
    det, X = fitted
    changed = copy.deepcopy(det).set_params(lr=0.5, epochs=9, scaling="robust")
    np.testing.assert_array_equal(changed.score_samples(X), det.score_samples(X))


def test_stream_rechecks_after_set_params(fitted):
    det, X = fitted
    det = copy.deepcopy(det)
    stream = det.stream()
    stream.update(X[:5])
    det.set_params(win_size=8)
    with pytest.raises(ValueError, match="call fit again"):
        stream.update(X[5:10])


def _rewritten(det, edit):
    """``det`` saved, its payload edited, the checksum recomputed."""
    buffer = io.BytesIO()
    det.save(buffer)
    buffer.seek(0)
    payload = torch.load(buffer, weights_only=True)
    edit(payload)
    payload["checksum"] = _checksum(payload)
    out = io.BytesIO()
    torch.save(payload, out)
    out.seek(0)
    return out


def _shorten(name):
    def edit(payload):
        stored = payload["fitted"][name]
        stored["data"] = stored["data"][:-1]

    return edit


@pytest.mark.parametrize(
    "edit, match",
    [
        (_shorten("scale_"), r"scale_ has shape \(2,\) but n_features_in_ is 3"),
        (_shorten("channel_scale_"), "channel_scale_ has shape"),
        (_shorten("fit_tail_"), "fit_tail_ has shape"),
        (
            lambda p: p["params"].update(win_size=20),
            r"parameters and the network disagree .*win_size: 16 -> 20",
        ),
        (lambda p: p["fitted"].update(n_features_in_=4), "takes 3 channels"),
        (lambda p: p["fitted"].update(threshold_=float("nan")), "threshold_"),
    ],
)
def test_file_whose_parts_disagree_is_refused(fitted, edit, match):
    det, _ = fitted
    with pytest.raises(ValueError, match=f"parts disagree: .*{match}"):
        MAATDetector.load(_rewritten(det, edit))
