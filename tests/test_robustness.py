"""Bad input and faults: each error says what to change; no NaN ever escapes.

NaN/inf positions, the float32 overflow at scoring and a missing column are
covered in test_detector.py; these are the other cases.
"""

import json
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, sinusoids
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from maat_detector import MAATDetector
from maat_detector.engine import train as train_module
from maat_detector.engine.adam import Adam

ONE_EPOCH = {**TINY, "epochs": 1}


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    X = sinusoids(160)
    return MAATDetector(**ONE_EPOCH).fit(X), X


# ------------------------------------------------------------ input shape


@pytest.mark.parametrize("stage", ["fit", "score"])
def test_1d_input_says_reshape(fitted, stage):
    det, X = fitted
    call = MAATDetector(**ONE_EPOCH).fit if stage == "fit" else det.score_samples
    with pytest.raises(ValueError, match=r"(?s)Expected 2D array.*reshape\(-1, 1\)"):
        call(X[:, 0])


@pytest.mark.parametrize("stage", ["fit", "score"])
def test_fewer_rows_than_win_size(fitted, stage):
    det, X = fitted
    call = MAATDetector(**ONE_EPOCH).fit if stage == "fit" else det.score_samples
    with pytest.raises(
        ValueError, match="X has 10 rows .* win_size=16; pass at least win_size rows"
    ):
        call(X[:10])


@pytest.mark.parametrize("stage", ["fit", "score"])
def test_zero_rows_asks_for_win_size_rows(fitted, stage):
    det, X = fitted
    call = MAATDetector(**ONE_EPOCH).fit if stage == "fit" else det.score_samples
    with pytest.raises(ValueError, match="X has 0 rows .* win_size=16"):
        call(X[:0])


@pytest.mark.parametrize("stage", ["fit", "score"])
def test_zero_features(fitted, stage):
    det, _ = fitted
    call = MAATDetector(**ONE_EPOCH).fit if stage == "fit" else det.score_samples
    with pytest.raises(
        ValueError, match=r"0 feature\(s\) .* pass at least one channel"
    ):
        call(np.empty((100, 0)))


def test_more_features_at_scoring_than_at_fit(fitted):
    det, X = fitted
    with pytest.raises(ValueError, match="X has 4 features, but .* expecting 3"):
        det.score_samples(np.c_[X, X[:, 0]])


def test_reordered_pandas_columns(fitted):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(sinusoids(160), columns=["cpu", "mem", "net"])
    det = MAATDetector(**ONE_EPOCH).fit(df)
    with pytest.raises(
        ValueError, match="must be in the same order as they were in fit"
    ):
        det.score_samples(df[["net", "mem", "cpu"]])


# ------------------------------------------------------------ input dtype


@pytest.mark.parametrize("kind", ["str", "object", "dataframe"])
def test_non_numeric_input_says_convert(kind):
    X = sinusoids(160).astype(object)
    X[5, 1] = "n/a"
    if kind == "str":
        X = X.astype(str)
    elif kind == "dataframe":
        pd = pytest.importorskip("pandas")
        X = pd.DataFrame(X, columns=["a", "b", "c"])
    with pytest.raises(ValueError, match="numeric"):
        MAATDetector(**ONE_EPOCH).fit(X)


def test_complex_input_is_refused(fitted):
    det, X = fitted
    with pytest.raises(ValueError, match="Complex data not supported"):
        det.score_samples(X.astype(np.complex128))


def test_sparse_input_says_toarray(fitted):
    sparse = pytest.importorskip("scipy.sparse")
    det, X = fitted
    with pytest.raises(TypeError, match=r"dense data is required.*\.toarray\(\)"):
        det.score_samples(sparse.csr_matrix(X))


def test_integer_and_float16_score_as_their_float_values(fitted):
    det, X = fitted
    Xi = np.rint(X * 100).astype(np.int32)
    np.testing.assert_array_equal(
        det.score_samples(Xi), det.score_samples(Xi.astype(np.float64))
    )
    Xh = X.astype(np.float16)
    np.testing.assert_array_equal(
        det.score_samples(Xh), det.score_samples(Xh.astype(np.float64))
    )


def test_strided_and_fortran_input_score_like_a_contiguous_copy(fitted):
    det, _ = fitted
    wide = sinusoids(320, n_features=5, seed=3)[:, :3]  # row stride != 3 values
    strided = wide[::2]
    assert not strided.flags.c_contiguous
    expected = det.score_samples(np.ascontiguousarray(strided))
    np.testing.assert_array_equal(det.score_samples(strided), expected)
    np.testing.assert_array_equal(
        det.score_samples(np.asfortranarray(strided)), expected
    )


# ------------------------------------------------------------ input values


def test_all_constant_channels_give_finite_scores(fitted):
    det, _ = fitted
    X = np.tile([7.0, -2.0, 0.0], (160, 1))
    assert np.isfinite(MAATDetector(**ONE_EPOCH).fit(X).score_samples(X)).all()
    assert np.isfinite(det.score_samples(X)).all()


def test_huge_but_float32_values_never_give_nan(fitted):
    det, X = fitted
    huge = X * 1e30
    assert np.isfinite(MAATDetector(**ONE_EPOCH).fit(huge).score_samples(huge)).all()
    # Far outside the training range: finite scores or a clear error.
    try:
        scores = det.score_samples(huge)
    except FloatingPointError as exc:
        assert "refit with scaling='robust'" in str(exc)
    else:
        assert np.isfinite(scores).all()


def test_data_beyond_float32_fits_when_its_spread_is_representable():
    """Scaling runs in float64: 1e300-sized data no longer overflows."""
    X = sinusoids(160)
    scores = MAATDetector(**ONE_EPOCH).fit(X * 1e300).anomaly_score(X * 1e300)
    np.testing.assert_allclose(
        scores, MAATDetector(**ONE_EPOCH).fit(X).anomaly_score(X), rtol=1e-4
    )


# ------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    "params, match",
    [
        (
            {"win_size": 8, "block_size": 10},
            "block_size=10 is longer than win_size=8; choose block_size <= win_size",
        ),
        (
            {"d_model": 18, "n_heads": 4},
            "d_model=18 is not divisible by n_heads=4; choose d_model as a multiple",
        ),
        ({"contamination": 0}, r"'contamination' .* range \(0.0, 0.5\]. Got 0 "),
        ({"contamination": 0.6}, r"'contamination' .* range \(0.0, 0.5\]. Got 0.6 "),
        ({"device": "gpu"}, "device='gpu' is not a torch device; use 'auto', 'cpu'"),
    ],
)
def test_invalid_parameters_say_what_to_change(params, match):
    with pytest.raises(ValueError, match=match):
        MAATDetector(**{**ONE_EPOCH, **params}).fit(sinusoids(160))


def test_block_size_is_free_outside_block_attention():
    det = MAATDetector(**{**ONE_EPOCH, "attention": "full", "block_size": 64})
    assert np.isfinite(det.fit(sinusoids(160)).score_samples(sinusoids(160))).all()


def test_cuda_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda' but CUDA is not available"):
        MAATDetector(**{**ONE_EPOCH, "device": "cuda"}).fit(sinusoids(160))


def test_cuda_scan_without_mamba_ssm_gives_the_install_command():
    from maat_detector.ssm import fused_scan_available

    if fused_scan_available():
        pytest.skip("mamba_ssm is installed")
    with pytest.raises(ImportError, match=r'pip install "maat-detector\[cuda\]"'):
        MAATDetector(**{**ONE_EPOCH, "scan_backend": "cuda"}).fit(sinusoids(160))


# ------------------------------------------------------------ faults


def test_divergence_in_first_epoch_raises():
    with pytest.raises(FloatingPointError, match="diverged .* lower lr"):
        MAATDetector(**{**ONE_EPOCH, "lr": 1e6}).fit(sinusoids(160))


def test_divergence_later_keeps_the_last_good_epoch(monkeypatch):
    """NaN loss from the second epoch on: warn, keep epoch 1, finite scores."""
    real = train_module.minimax_loss
    calls = {"train": 0}
    batches_per_epoch = 4  # 113 training windows of the 128-row head, 32 a batch

    def nan_after_first_epoch(*args, **kwargs):
        losses = real(*args, **kwargs)
        if torch.is_grad_enabled():  # training, not validation
            calls["train"] += 1
            if calls["train"] > batches_per_epoch:
                losses["objective"] = losses["objective"] * float("nan")
        return losses

    monkeypatch.setattr(train_module, "minimax_loss", nan_after_first_epoch)
    X = sinusoids(160)
    with pytest.warns(RuntimeWarning, match="keeping the weights of epoch 1"):
        det = MAATDetector(**{**TINY, "epochs": 3}).fit(X)
    assert det.best_epoch_ == 1 and det.n_epochs_ == 1
    assert np.isfinite(det.score_samples(X)).all()


def _validation_losses(monkeypatch, values):
    """Make the validation loss of epoch ``i`` (from 1) be ``values[i - 1]``."""
    epochs = iter(values)

    def losses(*args, **kwargs):
        value = next(epochs)
        return {"val_loss1": value, "val_loss2": value, "val_reconstruction": value}

    monkeypatch.setattr(train_module, "validation_losses", losses)


def test_restore_best_keeps_the_best_epoch_or_the_last(monkeypatch):
    """restore_best=True keeps epoch 1's weights here; False keeps epoch 3's."""
    X = sinusoids(240)
    params = {**TINY, "epochs": 3}
    _validation_losses(monkeypatch, [0.1, 1.0, 1.0])
    best = MAATDetector(**params).fit(X)
    _validation_losses(monkeypatch, [0.1, 1.0, 1.0])
    last = MAATDetector(**params, restore_best=False).fit(X)
    _validation_losses(monkeypatch, [0.3, 0.2, 0.1])
    improving = MAATDetector(**params).fit(X)
    monkeypatch.undo()
    one_epoch = MAATDetector(**{**TINY, "epochs": 1}).fit(X)

    assert (best.best_epoch_, best.n_epochs_) == (1, 3)
    assert (last.best_epoch_, last.n_epochs_) == (3, 3)
    for kept, expected in ((best, one_epoch), (last, improving)):
        weights = expected.model_.state_dict()
        for name, tensor in kept.model_.state_dict().items():
            torch.testing.assert_close(tensor, weights[name], rtol=0, atol=0)
    assert not np.allclose(best.score_samples(X), last.score_samples(X))


def _interrupt_second_step(monkeypatch):
    real = Adam.step
    calls = {"n": 0}

    def step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Adam, "step", step)
    return calls


def test_interrupted_fit_leaves_unfitted_detector_unfitted(monkeypatch):
    det = MAATDetector(**ONE_EPOCH)
    calls = _interrupt_second_step(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        det.fit(sinusoids(160))
    assert calls["n"] == 2
    with pytest.raises(NotFittedError):
        det.score_samples(sinusoids(160))
    with pytest.raises(NotFittedError):
        check_is_fitted(det)


def test_interrupted_refit_keeps_previous_scores(fitted, monkeypatch):
    det, X = fitted
    before, state = det.score_samples(X), dict(vars(det))
    _interrupt_second_step(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        det.fit(X[::-1])
    assert vars(det).keys() == state.keys()
    assert all(vars(det)[k] is v for k, v in state.items())
    np.testing.assert_array_equal(det.score_samples(X), before)


@pytest.mark.parametrize("fault", ["interrupt", "nan"])
def test_failed_refit_on_other_width_keeps_previous_detector(
    fitted, monkeypatch, fault
):
    det, X = fitted
    det = pickle.loads(pickle.dumps(det))  # a private copy to refit
    before = det.score_samples(X)
    wider = np.c_[X, X[:, :1]]
    if fault == "interrupt":
        _interrupt_second_step(monkeypatch)
        expected = KeyboardInterrupt
    else:
        wider[3, 1] = np.nan
        expected = ValueError
    with pytest.raises(expected):
        det.fit(wider)
    assert det.n_features_in_ == 3
    np.testing.assert_array_equal(det.score_samples(X), before)


# ------------------------------------------------------------ scale


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, torch
    torch.set_num_threads(int(sys.argv[3]))
    from maat_detector import MAATDetector

    def hwm_bytes():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024

    n, c = int(sys.argv[1]), int(sys.argv[2])
    rng = np.random.default_rng(0)
    X = np.empty((n, c), dtype=np.float32)
    for begin in range(0, n, 1_000_000):
        X[begin:begin + 1_000_000] = rng.standard_normal(
            (min(1_000_000, n - begin), c), dtype=np.float32)
    det = MAATDetector(win_size=16, d_model=8, n_heads=2, e_layers=1, d_ff=8,
                       d_state=4, block_size=4, epochs=1, batch_size=256,
                       score_step=16, random_state=0, device="cpu").fit(X[:2000])
    before = hwm_bytes()
    began = time.perf_counter()
    scores = det.score_samples(X)
    seconds = time.perf_counter() - began
    print(json.dumps({"input_bytes": X.nbytes, "hwm_before": before,
                      "growth": hwm_bytes() - before, "seconds": seconds,
                      "finite": bool(np.isfinite(scores).all())}))
    """
)


@pytest.mark.slow
def test_scoring_10m_points_by_38_channels_stays_within_4_gib():
    """Peak RSS growth while scoring, measured in a fresh process (~4 min)."""
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, "10000000", "38", "1"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["total_seconds"] = time.perf_counter() - began
    assert result["finite"], result
    assert result["growth"] <= 4 * 2**30, result
