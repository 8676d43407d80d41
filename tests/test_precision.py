"""The opt-in ``precision="bfloat16"``: it runs, stays close to float32, and
leaves the float32 default untouched."""

import io
import pickle
import warnings

import numpy as np
import pytest
import torch
from conftest import TINY, sinusoids
from scipy.stats import spearmanr
from sklearn.base import clone

from maat_detector import MAATDetector, _params
from maat_detector._params import check_precision
from maat_detector.nn import MAAT, MAATConfig
from maat_detector.ssm import selective_scan

# This module runs bfloat16 wherever it is, warned about or not.
pytestmark = pytest.mark.filterwarnings("ignore:precision='bfloat16' on a CPU")


@pytest.fixture(scope="module")
def pair():
    X = sinusoids()
    X[300, :] += 4.0  # one spike, for the ranking to have something to find
    fp32 = MAATDetector(**TINY).fit(X)
    bf16 = MAATDetector(**TINY, precision="bfloat16").fit(X)
    return fp32, bf16, X


def test_bfloat16_fits_and_scores(pair):
    _, det, X = pair
    scores = det.anomaly_score(X)
    assert scores.shape == (X.shape[0],) and scores.dtype == np.float64
    assert np.isfinite(scores).all() and np.std(scores) > 0
    assert all(np.isfinite(h["train_loss1"]) for h in det.history_)
    assert abs(int(np.argmax(scores)) - 300) <= 2
    assert det.predict(X).shape == (X.shape[0],)


def test_bfloat16_scoring_ranks_as_float32(pair):
    """Same weights, scored in both precisions: nearly the same order."""
    fp32, _, X = pair
    reference = fp32.anomaly_score(X)
    fp32.set_params(precision="bfloat16")
    try:
        lowered = fp32.anomaly_score(X)
    finally:
        fp32.set_params(precision="float32")
    assert not np.array_equal(lowered, reference)  # it did run in bfloat16
    assert spearmanr(lowered, reference).statistic > 0.99
    np.testing.assert_allclose(lowered, reference, rtol=0.1, atol=1e-3)


def test_bfloat16_training_ranks_as_float32(pair):
    fp32, bf16, X = pair
    rho = spearmanr(bf16.anomaly_score(X), fp32.anomaly_score(X)).statistic
    assert rho > 0.95


def test_bfloat16_is_deterministic():
    X = sinusoids(200)
    params = {**TINY, "epochs": 1, "precision": "bfloat16"}
    a = MAATDetector(**params).fit(X).anomaly_score(X)
    b = MAATDetector(**params).fit(X).anomaly_score(X)
    np.testing.assert_array_equal(a, b)


def test_float32_default_never_enters_autocast(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("autocast entered with precision='float32'")

    monkeypatch.setattr(torch, "autocast", refuse)
    det = MAATDetector(**{**TINY, "epochs": 1})
    assert det.get_params()["precision"] == "float32"
    X = sinusoids(200)
    assert np.isfinite(det.fit(X).anomaly_score(X)).all()


@pytest.mark.parametrize("value", ["int8", "float16", "bf16", None])
def test_invalid_precision_names_the_choices(value):
    with pytest.raises(ValueError, match="'precision' parameter.*bfloat16"):
        MAATDetector(**TINY, precision=value).fit(sinusoids(200))


def test_unsupported_device_says_what_to_use():
    check_precision("float32", torch.device("meta"))  # float32 runs anywhere
    with pytest.raises(ValueError, match="precision='float32'"):
        check_precision("bfloat16", torch.device("meta"))


@pytest.mark.parametrize("native", [True, False])
def test_bfloat16_on_a_cpu_without_it_warns_to_use_float32(monkeypatch, native):
    # An AVX2-only CPU emulates bfloat16 matrix products: 35x slower measured.
    monkeypatch.setattr(_params, "cpu_has_native_bfloat16", lambda: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_precision("bfloat16", torch.device("cpu"))
        check_precision("float32", torch.device("cpu"))
    messages = [str(w.message) for w in caught]
    if native:
        assert messages == []
    else:
        assert len(messages) == 1 and "use precision='float32'" in messages[0]


def test_save_load_pickle_and_clone_keep_precision(pair):
    _, det, X = pair
    expected = det.anomaly_score(X)
    buffer = io.BytesIO()
    det.save(buffer)
    buffer.seek(0)
    loaded = MAATDetector.load(buffer)
    unpickled = pickle.loads(pickle.dumps(det))
    for again in (loaded, unpickled):
        assert again.get_params() == det.get_params()
        np.testing.assert_array_equal(again.anomaly_score(X), expected)
    assert clone(det).get_params()["precision"] == "bfloat16"


def test_model_under_autocast_keeps_association_and_residual_float32():
    torch.manual_seed(0)
    config = MAATConfig(
        n_features=3,
        win_size=16,
        d_model=16,
        n_heads=2,
        e_layers=2,
        d_ff=16,
        d_state=4,
        block_size=4,
    )
    model = MAAT(config).eval()
    x = torch.randn(4, 16, 3)
    with torch.inference_mode():
        reference, _ = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lowered, associations = model(x)
    assert lowered.dtype == torch.bfloat16
    for association in associations:
        assert association.series.dtype == torch.float32
        assert association.sigma.dtype == torch.float32
    torch.testing.assert_close(lowered.float(), reference, rtol=0.05, atol=0.05)


def test_scan_ignores_autocast():
    """The scan computes in float32 under bfloat16 autocast, as outside it."""
    gen = torch.Generator().manual_seed(0)
    batch, d_inner, d_state, length = 2, 8, 4, 12
    u = torch.randn(batch, d_inner, length, generator=gen)
    delta = torch.rand(batch, d_inner, length, generator=gen)
    A = -torch.rand(d_inner, d_state, generator=gen)
    B = torch.randn(batch, d_state, length, generator=gen)
    C = torch.randn(batch, d_state, length, generator=gen)
    reference = selective_scan(u, delta, A, B, C, backend="torch")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = selective_scan(u, delta, A, B, C, backend="torch")
    assert under.dtype == torch.float32
    torch.testing.assert_close(under, reference, rtol=1e-6, atol=1e-6)


def test_cli_override_reaches_the_parameter():
    from maat_detector.cli import _parse_override

    key, value = _parse_override("precision=bfloat16")
    assert MAATDetector(**{key: value}).get_params()["precision"] == "bfloat16"
