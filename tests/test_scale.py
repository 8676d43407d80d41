"""Scale: a channel's unit does not change the ranking of the scores.

A channel measured in other units (volts or microvolts, bytes or petabytes)
is the same channel; with ``scaling="standard"`` (the default) the scores
must rank the rows the same. Beyond the range the model represents (the
float32 range: the network computes in float32) the data is refused with
the reason.

Units down to 1e-11 hold today; a channel whose standard deviation is below
1e-12 is still taken for a constant one (an absolute floor in the scaling),
so x 1e-30 loses that channel. The test for the whole range is pending on
that fix (docs/reliability.rst, "Pending").
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


@pytest.mark.parametrize("unit", [1e-10, 1e10, 1e30])
def test_scores_rank_alike_whatever_the_channel_unit(unit_scores, unit):
    X = spiky()
    X[:, 0] *= unit
    scores = MAATDetector(**ONE_EPOCH).fit(X).anomaly_score(X)
    assert np.isfinite(scores).all()
    rho = spearmanr(scores, unit_scores).statistic
    assert rho > 0.99, rho
    assert np.argmax(scores) == np.argmax(unit_scores)


@pytest.mark.parametrize("unit", [1e39, 1e100, 1e300])
def test_beyond_the_float32_range_is_refused_with_the_reason(unit):
    X = spiky()
    X[:, 0] *= unit
    with pytest.raises(ValueError, match=r"beyond the float32 range .* rescale"):
        MAATDetector(**ONE_EPOCH).fit(X)
