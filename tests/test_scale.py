"""Scale: a channel's unit does not change the ranking of the scores.

A channel measured in other units (volts or microvolts, bytes or petabytes)
is the same channel; with ``scaling="standard"`` (the default) the scores
must rank the rows the same, across the whole float64 range: the scaling is
fitted and applied in float64 before the network's float32. A row that lies
beyond float32 once scaled (far outside the fit data's range) is refused
with the reason.
"""

import numpy as np
import pytest
from conftest import TINY, sinusoids
from scipy.stats import spearmanr

from maat_detector import MAATDetector

ONE_EPOCH = {**TINY, "epochs": 1}


def spiky(n=160, seed=0):
    X = sinusoids(n, seed=seed)
    X[100:103, 0] += 3.0  # a burst on the channel whose unit changes
    return X


@pytest.fixture(scope="module")
def unit_scores():
    X = spiky()
    return MAATDetector(**ONE_EPOCH).fit(X).anomaly_score(X)


@pytest.mark.parametrize(
    "unit", [1e-300, 1e-100, 1e-30, 1e-10, 1e10, 1e30, 1e100, 1e300]
)
def test_scores_rank_alike_whatever_the_channel_unit(unit_scores, unit):
    X = spiky()
    X[:, 0] *= unit
    scores = MAATDetector(**ONE_EPOCH).fit(X).anomaly_score(X)
    assert np.isfinite(scores).all()
    rho = spearmanr(scores, unit_scores).statistic
    assert rho > 0.99, rho
    assert np.argmax(scores) == np.argmax(unit_scores)


@pytest.mark.parametrize("unit", [1e39, 1e100, 1e300])
def test_rows_beyond_the_float32_range_once_scaled_are_refused(unit):
    X = spiky()
    det = MAATDetector(**ONE_EPOCH).fit(X)
    X[50, 0] = unit
    with pytest.raises(ValueError, match=r"X\[50, 0\] .* beyond the float32 range"):
        det.anomaly_score(X)
