"""MAATDetector behaviour a user relies on."""

import dataclasses
import pickle

import joblib
import numpy as np
import pytest
import torch
from conftest import TINY, sinusoids
from sklearn.base import clone

from maat_detector import MAATDetector, engine
from maat_detector._params import fit_settings, score_settings
from maat_detector.engine.score import components
from maat_detector.engine.train import epoch_batch_size


@pytest.fixture(scope="module")
def fitted():
    X = sinusoids()
    return MAATDetector(**TINY).fit(X), X


def test_one_score_per_row_and_signs(fitted):
    det, X = fitted
    for n in (16, 17, 100, 481):
        Xn = sinusoids(n)
        s = det.score_samples(Xn)
        assert s.shape == (n,) and np.isfinite(s).all()
        np.testing.assert_allclose(det.anomaly_score(Xn), -s)
        np.testing.assert_allclose(det.decision_function(Xn), s - det.offset_)
        pred = det.predict(Xn)
        assert set(np.unique(pred)) <= {-1, 1}
        np.testing.assert_array_equal(pred == -1, det.decision_function(Xn) < 0)


def test_fitted_attributes(fitted):
    det, X = fitted
    assert det.n_features_in_ == 3
    assert det.offset_ == -det.threshold_
    assert det.scan_backend_ in ("compiled", "torch") and det.device_.type == "cpu"
    assert 1 <= det.n_epochs_ <= TINY["epochs"] and len(det.history_) == det.n_epochs_
    assert {"train_loss1", "train_loss2", "val_reconstruction"} <= set(det.history_[0])


def test_training_moves_weights_and_scores_are_not_constant(series):
    det = MAATDetector(**{**TINY, "epochs": 1}).fit(series)
    fresh = MAATDetector(**{**TINY, "epochs": 1})
    with torch.random.fork_rng():
        torch.manual_seed(0)
        from maat_detector.nn import MAAT

        untrained = MAAT(det.config_)
    trained = det.model_.state_dict()
    moved = [not torch.equal(trained[k], v) for k, v in untrained.state_dict().items()]
    assert any(moved)
    assert np.std(det.anomaly_score(series)) > 0
    assert fresh.get_params() == MAATDetector(**{**TINY, "epochs": 1}).get_params()


@pytest.mark.parametrize(
    "score_mode, objective",
    [
        ("paper", "reconstruction"),
        ("reconstruction", "reconstruction"),
        ("reconstruction", "forecast"),
    ],
)
def test_injected_spike_is_found(score_mode, objective):
    """The highest score lies within 2 steps of a spike injected at a known row."""
    params = {
        **TINY,
        "epochs": 4,
        "score_step": 1,
        "score_mode": score_mode,
        "objective": objective,
    }
    det = MAATDetector(**params).fit(sinusoids(800, seed=1))
    X = sinusoids(400, seed=2)
    X[237, 1] += 4.0
    assert abs(int(np.argmax(det.anomaly_score(X))) - 237) <= 2


def test_contamination_fraction_on_calibration_tail(series):
    det = MAATDetector(**{**TINY, "contamination": 0.1}).fit(series)
    tail = series[-int(0.2 * len(series)) :]
    flagged = np.mean(det.predict(tail) == -1)
    assert 0.05 <= flagged <= 0.15


def test_spot_threshold_needs_no_contamination(series):
    det = MAATDetector(**{**TINY, "threshold_method": "spot"}).fit(series)
    cal = det.anomaly_score(series[-96:])
    assert det.threshold_ >= np.quantile(cal, 0.9)


def test_forecast_finds_a_noise_burst_inside_the_normal_range(series):
    """A burst of in-range noise, which an autoencoder can copy through, stands out."""
    params = {**TINY, "epochs": 4, "score_step": 2, "objective": "forecast"}
    det = MAATDetector(**params).fit(sinusoids(800, seed=1))
    X = sinusoids(400, seed=2)
    X[200:212, 0] = np.random.default_rng(0).uniform(-1, 1, 12)
    scores = det.anomaly_score(X)
    assert 196 <= int(np.argmax(scores)) <= 215
    assert scores[200:212].mean() > 2 * np.median(scores)


@pytest.mark.parametrize("change", [{"score_mode": "paper"}, {"contamination": 0.1}])
def test_calibrate_after_set_params_equals_fit_with_them(series, change):
    """Recalibrating on fit's calibration tail reproduces a fit with the change."""
    direct = MAATDetector(**TINY, **change).fit(series)
    shared = MAATDetector(**TINY).fit(series)
    assert shared.n_calibration_rows_ == int(0.2 * len(series))
    tail = series[-shared.n_calibration_rows_ :]
    assert shared.threshold_ != direct.threshold_
    assert shared.set_params(**change).calibrate(tail) is shared
    assert shared.threshold_ == direct.threshold_
    np.testing.assert_array_equal(
        shared.anomaly_score(series), direct.anomaly_score(series)
    )


def test_calibrate_moves_threshold_to_new_normal_rows(fitted):
    det, X = fitted
    det = pickle.loads(pickle.dumps(det))
    louder = 3 * X[-200:]  # a new normal level, say after maintenance
    assert np.mean(det.predict(louder) == -1) > 0.5
    det.calibrate(louder)
    assert np.mean(det.predict(louder) == -1) <= 2 * det.contamination
    with pytest.raises(ValueError, match="features"):
        det.calibrate(X[:, :2])


def test_calibrate_needs_a_fitted_detector(series):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MAATDetector(**TINY).calibrate(series)


def test_threshold_never_from_scored_data(fitted):
    det, X = fitted
    before = det.offset_
    det.predict(X * 3)
    assert det.offset_ == before


def test_same_seed_same_scores_and_global_rng_untouched(series):
    np.random.seed(123)  # noqa: NPY002 (the global state is what is tested)
    torch.manual_seed(123)
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002
    torch_state = torch.get_rng_state().clone()
    a = MAATDetector(**TINY).fit(series).score_samples(series)
    b = MAATDetector(**TINY).fit(series).score_samples(series)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    assert torch.equal(torch.get_rng_state(), torch_state)
    c = MAATDetector(**{**TINY, "random_state": 1}).fit(series).score_samples(series)
    assert not np.allclose(a, c)


def test_pickle_and_joblib_round_trip(fitted, tmp_path):
    det, X = fitted
    expected = det.score_samples(X)
    again = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(again.score_samples(X), expected)
    joblib.dump(det, tmp_path / "det.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "det.joblib").score_samples(X), expected
    )
    assert again.offset_ == det.offset_
    # Pickling must not strip the live estimator.
    np.testing.assert_array_equal(det.score_samples(X), expected)


def test_gpu_pickle_loads_on_cpu(fitted, monkeypatch):
    """A detector pickled on a CUDA device is rebuilt on the CPU when CUDA is absent."""
    det, X = fitted
    state = det.__getstate__()
    state["device_"] = "cuda:0"  # what a GPU-fitted detector stores
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = MAATDetector.__new__(MAATDetector)
    restored.__setstate__(pickle.loads(pickle.dumps(state)))
    assert restored.device_.type == "cpu"
    np.testing.assert_array_equal(restored.score_samples(X), det.score_samples(X))


def test_pandas_feature_names_checked(series):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(series, columns=["cpu", "mem", "net"])
    det = MAATDetector(**{**TINY, "epochs": 1}).fit(df)
    assert list(det.feature_names_in_) == ["cpu", "mem", "net"]
    assert det.score_samples(df).shape == (len(df),)
    with pytest.raises(ValueError, match="feature names"):
        det.score_samples(df.rename(columns={"net": "disk"}))


def test_clone_keeps_params_and_drops_fit(fitted):
    det, _ = fitted
    c = clone(det)
    assert c.get_params() == det.get_params()
    assert not hasattr(c, "model_")


@pytest.mark.parametrize(
    "params, match",
    [
        ({"d_model": 15, "n_heads": 2}, "not divisible by n_heads"),
        ({"contamination": 0.7}, "contamination"),
        ({"block_size": 32}, "block_size=32"),
        ({"device": "tpu9"}, "device='tpu9'"),
        ({"win_size": 1000}, "win_size=1000"),
    ],
)
def test_bad_parameters_raise_at_fit(series, params, match):
    det = MAATDetector(**{**TINY, **params})
    with pytest.raises(ValueError, match=match):
        det.fit(series)


def test_nan_inf_errors_say_where(series, fitted):
    X = series.copy()
    X[17, 2] = np.nan
    X[30, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"2 NaN value\(s\) \(first at row 17, column 2\)"
    ):
        MAATDetector(**TINY).fit(X)
    X = series.copy()
    X[5, 1] = np.inf
    det, _ = fitted
    with pytest.raises(
        ValueError, match=r"infinite value\(s\) \(first at row 5, column 1\)"
    ):
        det.score_samples(X)
    with pytest.raises(ValueError, match="beyond the float32 range"):
        det.score_samples(series * 1e300)


def test_out_of_range_row_is_named_wherever_it_lies(fitted):
    """Rows are scaled block by block as scoring reads them; the error still
    names the row in X, past the first block and the first batch."""
    det, _ = fitted
    X = sinusoids(70_000)
    X[66_001, 2] = 1e300
    with pytest.raises(ValueError, match=r"X\[66001, 2\] = 1e\+300 .* float32 range"):
        det.score_samples(X)


def test_nan_interpolation_opt_in(series):
    X = series.copy()
    X[40:44, 1] = np.nan
    det = MAATDetector(**{**TINY, "epochs": 1, "nan_policy": "interpolate"}).fit(X)
    assert np.isfinite(det.score_samples(X)).all()


def test_wrong_feature_count_at_scoring(fitted):
    det, X = fitted
    with pytest.raises(ValueError, match="features"):
        det.score_samples(X[:, :2])


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MAATDetector().score_samples(np.zeros((200, 2)))


def test_integer_float16_noncontiguous_and_constant_channels(fitted):
    det, X = fitted
    ref = det.score_samples(X)
    assert np.isfinite(det.score_samples(np.asfortranarray(X))).all()
    np.testing.assert_allclose(
        det.score_samples(X.astype(np.float16)), ref, rtol=0.2, atol=0.2
    )
    Xi = np.rint(X * 10).astype(np.int64)
    assert np.isfinite(
        MAATDetector(**{**TINY, "epochs": 1}).fit(Xi).score_samples(Xi)
    ).all()
    Xc = X.copy()
    Xc[:, 1] = 5.0
    assert np.isfinite(
        MAATDetector(**{**TINY, "epochs": 1}).fit(Xc).score_samples(Xc)
    ).all()


@pytest.mark.parametrize("attention", ["full", "causal"])
def test_attention_modes_and_ablation_fit(series, attention):
    det = MAATDetector(
        **{**TINY, "epochs": 1, "attention": attention, "use_mamba": False}
    ).fit(series)
    assert np.isfinite(det.score_samples(series)).all()


def test_scan_backend_cuda_without_mamba_ssm_raises(series):
    from maat_detector.ssm import fused_scan_available

    if fused_scan_available():
        pytest.skip("mamba_ssm is installed")
    with pytest.raises((ImportError, ValueError), match="mamba|cuda|CUDA"):
        MAATDetector(**{**TINY, "scan_backend": "cuda"}).fit(series)


def test_default_forecast_scoring_never_uses_a_windows_first_steps(series):
    """With the default score_step, windows overlap by the forecast warm-up, so
    a row at a window's first steps is scored from the window before."""
    det = MAATDetector(**{**TINY, "objective": "forecast"}).fit(series)
    settings = score_settings(det, series.shape[1])
    assert settings.warmup == 2  # ceil(16 / 10): windows start every 14 rows
    X = det._fitted().scale_rows(series.astype(np.float32))
    scores = components(det.model_, X, det.device_, settings, needed=("error",))[
        "error"
    ]
    for start in (14, 28, 42):  # rows 0 and 1 of these windows
        window = torch.from_numpy(X[start - 14 : start + 2][None])
        with torch.inference_mode():
            error = ((det.model_(window)[0] - window) ** 2).mean(-1)[0]
        np.testing.assert_allclose(scores[start : start + 2], error[14:16], rtol=1e-5)


def test_training_checkpoint_equals_the_shorter_fit(series):
    """The training-curve benchmark relies on this: the snapshot taken after
    N windows of the first epoch is the fit with max_train_windows=N, epochs=1."""
    params = dict(TINY, epochs=1, batch_size=16, random_state=0)
    X = series[:, :3].astype(np.float32)
    snapshots = {}

    def on_step(seen, snapshot):
        if seen in (32, 64):
            snapshots[seen] = snapshot()

    det = MAATDetector(**params, max_train_windows=96)
    full = engine.fit(X, fit_settings(det, X.shape[1]), on_step=on_step)
    assert sorted(snapshots) == [32, 64]
    for n, snap in snapshots.items():
        short = MAATDetector(**params, max_train_windows=n).fit(X)
        np.testing.assert_array_equal(
            MAATDetector(**params, max_train_windows=n)
            ._set_fitted(snap)
            .score_samples(X),
            short.score_samples(X),
        )
    # snapshots are copies: the fit went on from where they were taken
    np.testing.assert_array_equal(
        det._set_fitted(full).score_samples(X),
        MAATDetector(**params, max_train_windows=96).fit(X).score_samples(X),
    )


def test_max_batch_size_caps_the_steps_of_an_epoch_on_a_short_series(series):
    """A short series takes one pass's steps at max_batch_size, not one per
    batch_size windows; a series with windows to spare trains as without it."""
    params = dict(TINY, epochs=1, batch_size=4, random_state=0)
    X = series[:, :3].astype(np.float32)  # 384 training rows: 369 windows of 16

    def steps(**extra):
        seen = []
        det = MAATDetector(**params, **extra)
        engine.fit(X, fit_settings(det, 3), on_step=lambda n, _: seen.append(n))
        return seen

    assert len(steps(max_train_windows=None)) == 93  # ceil(369 / 4)
    grown = steps(max_train_windows=None, max_batch_size=16)
    assert len(grown) == 24  # ceil(369 / 16)
    assert grown[-1] == 369  # every window still drawn once
    # 64 windows an epoch take 16 steps of 4, fewer than ceil(369 / 16) = 24
    assert steps(max_train_windows=64, max_batch_size=16) == steps(max_train_windows=64)
    np.testing.assert_array_equal(
        MAATDetector(**params, max_train_windows=64, max_batch_size=16)
        .fit(X)
        .score_samples(X),
        MAATDetector(**params, max_train_windows=64).fit(X).score_samples(X),
    )


@pytest.mark.parametrize(
    ("n_windows", "per_epoch", "largest", "expected"),
    [
        (18851, 504, 32, 8),  # an SMD machine: the default's 63 steps of 8
        (447, 447, 32, 32),  # SMAP A-6: 14 steps, as the reference takes
        (861, 504, 32, 19),  # UCR 135: 27 steps
        (10, 10, 32, 10),  # one step instead of two
        (447, 447, None, 8),
        (447, 447, 8, 8),
        (447, 447, 4, 8),  # never below batch_size
    ],
)
def test_epoch_batch_size(n_windows, per_epoch, largest, expected):
    settings = fit_settings(MAATDetector(batch_size=8, max_batch_size=largest), 3).train
    assert epoch_batch_size(n_windows, per_epoch, settings) == expected


def test_scoring_batches_span_at_least_3200_rows_and_leave_scores_unchanged(fitted):
    """Scoring batches of short windows are widened (per-call overhead), which
    changes the time a score takes and nothing else."""
    det, X = fitted
    assert score_settings(MAATDetector(win_size=100, batch_size=8), 38).batch_size == 32
    assert score_settings(MAATDetector(win_size=1600, batch_size=8), 38).batch_size == 8
    assert score_settings(det, 3).batch_size == 3200 // TINY["win_size"]
    Xn = sinusoids(600)
    fitted_model, rows = det._prepare(Xn)
    one_window = dataclasses.replace(score_settings(det, 3), batch_size=1)
    np.testing.assert_allclose(
        fitted_model.scores(rows, one_window), det.anomaly_score(Xn), rtol=1e-5
    )
