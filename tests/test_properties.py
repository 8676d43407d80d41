"""Property-based tests of the public API: a clear error or finite scores.

Each property is run twice: under the bounded, derandomized "ci" hypothesis
profile in the default run, and under the long "fuzz" profile with
``pytest -m fuzz`` (profiles in conftest.py). The outcome allowed for every
generated input is one of

- a documented error type (``ValueError``, ``TypeError``, ``FloatingPointError``
  for scores that overflow far outside the training range) whose message names
  the problem and says what to do, or
- finite scores, one per row (labels in {-1, +1} for ``predict``).
"""

import copy
import io
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, sinusoids
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.ensemble import IsolationForest

from maat_detector import MAATDetector
from maat_detector.fleet import FleetError, fit_fleet, fit_score_fleet, score_fleet

ONE_EPOCH = {**TINY, "epochs": 1}
N_FEATURES = 3
WIN = ONE_EPOCH["win_size"]

PROFILES = ["ci", pytest.param("fuzz", marks=pytest.mark.fuzz)]

DOCUMENTED_ERRORS = (ValueError, TypeError, FloatingPointError)
# A message says what to do (STYLE.md, section 9): one of these verbs, or the
# valid values of scikit-learn's parameter constraints ("must be ...").
FIX = re.compile(
    r"\b(pass|use|convert|replace|impute|rescale|refit|choose|drop|reshape|fill|"
    r"call|fit|check|remove|give|select|set|save|copy|load|upgrade|install)\b"
    r"|must be",
    re.IGNORECASE,
)


def profile_settings(profile, scale=1.0):
    """The named profile, with ``scale`` times its examples (for costly fits)."""
    base = settings.get_profile(profile)
    return settings(base, max_examples=max(1, int(base.max_examples * scale)))


def outcome(call, n_rows):
    """Run ``call``: a documented error with a fix, or ``n_rows`` finite values.

    Returns the values, or None when ``call`` raised a documented error.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = call()
    except DOCUMENTED_ERRORS as exc:
        message = str(exc)
        assert len(message) > 20, f"{type(exc).__name__} says too little: {message!r}"
        assert FIX.search(message), f"no fix in {type(exc).__name__}: {message!r}"
        return None
    values = np.asarray(values)
    assert values.shape == (n_rows,), (values.shape, n_rows)
    assert np.isfinite(values).all()
    return values


@pytest.fixture(scope="module")
def fitted():
    X = sinusoids(160, n_features=N_FEATURES)
    return MAATDetector(**ONE_EPOCH).fit(X), X


# ------------------------------------------------------------- strategies

DTYPES = [
    np.float16,
    np.float32,
    np.float64,
    np.int8,
    np.int32,
    np.int64,
    np.uint8,
    np.bool_,
    object,
]


@st.composite
def arrays(draw, n_rows=None, n_features=None):
    """Arrays of any listed dtype, shape, magnitude and NaN/inf pattern."""
    rows = draw(st.integers(0, 40) if n_rows is None else n_rows)
    cols = draw(st.integers(0, 5) if n_features is None else n_features)
    exponent = draw(st.integers(-300, 300))
    base = draw(
        hnp.arrays(
            np.float64,
            (rows, cols),
            elements=st.floats(-10, 10, allow_nan=False, allow_infinity=False),
        )
    )
    X = base * 10.0**exponent
    if rows and cols and draw(st.booleans()):
        kind = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        where = draw(
            st.lists(
                st.tuples(st.integers(0, rows - 1), st.integers(0, cols - 1)),
                min_size=1,
                max_size=rows * cols,
            )
        )
        for r, c in where:
            X[r, c] = kind
        if draw(st.booleans()):  # a whole channel missing
            X[:, draw(st.integers(0, cols - 1))] = kind
    dtype = draw(st.sampled_from(DTYPES))
    with np.errstate(all="ignore"):
        if dtype is object:
            return X.astype(object)
        if np.issubdtype(dtype, np.integer) or dtype is np.bool_:
            return (
                np.nan_to_num(X, nan=0, posinf=0, neginf=0)
                .clip(-100, 100)
                .astype(dtype)
            )
        return X.astype(dtype)


@st.composite
def frames(draw):
    """DataFrames with pandas nullable dtypes, possibly holding pd.NA."""
    rows = draw(st.integers(0, 40))
    dtype = draw(st.sampled_from(["Float64", "Float32", "Int64", "Int16", "boolean"]))
    values = draw(
        hnp.arrays(np.float64, (rows, N_FEATURES), elements=st.floats(-50, 50))
    )
    if dtype.startswith("Int"):
        values = values.round()
    elif dtype == "boolean":
        values = values > 0
    frame = pd.DataFrame(values, columns=["a", "b", "c"]).astype(dtype)
    if rows and draw(st.booleans()):
        frame.iloc[draw(st.integers(0, rows - 1)), draw(st.integers(0, 2))] = pd.NA
    return frame


# ------------------------------------------------- scoring, any input


@pytest.mark.parametrize("profile", PROFILES)
def test_scoring_any_array_is_an_error_with_a_fix_or_finite_scores(fitted, profile):
    det, _ = fitted

    @profile_settings(profile, scale=2)
    @given(X=arrays(), method=st.sampled_from(["score_samples", "anomaly_score"]))
    def check(X, method):
        outcome(lambda: getattr(det, method)(X), X.shape[0])

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_valid_arrays_of_any_dtype_always_score(fitted, profile):
    """Enough rows, the fit's width, finite values in float32 range: scores."""
    det, X_fit = fitted

    @profile_settings(profile)
    @given(
        rows=st.integers(WIN, 60),
        dtype=st.sampled_from(DTYPES),
        exponent=st.integers(-6, 6),
    )
    def check(rows, dtype, exponent):
        X = X_fit[:rows] * 10.0**exponent
        if np.issubdtype(np.dtype(dtype), np.integer) or dtype is np.bool_:
            X = X_fit[:rows] * 50
        X = X.astype(dtype)
        try:
            scores = det.score_samples(X)
        except FloatingPointError as exc:  # far outside the training range
            assert "refit with scaling='robust'" in str(exc)
            return
        assert scores.shape == (rows,) and np.isfinite(scores).all()

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_nullable_pandas_frames(fitted, profile):
    det, _ = fitted

    @profile_settings(profile)
    @given(frame=frames())
    def check(frame):
        outcome(lambda: det.score_samples(frame), len(frame))

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_predict_gives_labels_and_agrees_with_decision_function(fitted, profile):
    det, _ = fitted

    @profile_settings(profile)
    @given(X=arrays(n_rows=st.integers(WIN - 2, 40), n_features=st.just(N_FEATURES)))
    def check(X):
        labels = outcome(lambda: det.predict(X), X.shape[0])
        if labels is None:
            return
        assert set(np.unique(labels)) <= {-1, 1}
        decision = det.decision_function(X)
        np.testing.assert_array_equal(labels, np.where(decision < 0, -1, 1))
        np.testing.assert_allclose(decision, det.score_samples(X) - det.offset_)

    check()


# ------------------------------------------------------------ streaming


@pytest.mark.parametrize("profile", PROFILES)
def test_stream_scores_do_not_depend_on_the_chunking(fitted, profile):
    det, X_fit = fitted
    new = sinusoids(60, n_features=N_FEATURES, seed=3)
    whole = det.stream().update(new)
    assert whole.shape == (60,) and np.isfinite(whole).all()

    @profile_settings(profile)
    @given(cuts=st.lists(st.integers(0, 60), max_size=8))
    def check(cuts):
        stream = det.stream()
        bounds = [0, *sorted(cuts), 60]
        parts = [
            stream.update(new[a:b])
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-5, atol=1e-6)
        assert stream.n_rows_seen_ == 60

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_stream_update_any_nonempty_chunk(fitted, profile):
    det, _ = fitted

    @profile_settings(profile)
    @given(chunk=arrays(n_rows=st.integers(1, 20)))
    def check(chunk):
        outcome(lambda: det.stream().update(chunk), chunk.shape[0])

    check()


# ---------------------------------------------------------------- fit


@st.composite
def fit_params(draw):
    """Parameter combinations, valid or not, around the tiny configuration."""
    win = draw(st.sampled_from([4, 8, 16]))
    return {
        **ONE_EPOCH,
        "win_size": win,
        "block_size": draw(st.sampled_from([2, 4, 8, 20])),
        "d_model": draw(st.sampled_from([8, 12, 16])),
        "n_heads": draw(st.sampled_from([1, 2, 4])),
        "attention": draw(st.sampled_from(["block", "full", "causal"])),
        "objective": draw(st.sampled_from(["forecast", "reconstruction"])),
        "use_mamba": draw(st.booleans()),
        "score_mode": draw(
            st.sampled_from(["reconstruction", "paper", "discrepancy", "calibrated"])
        ),
        "top_channels": draw(st.sampled_from([None, 1, 3, 10])),
        "contamination": draw(st.sampled_from([0.0, 0.005, 0.1, 0.5, 0.7])),
        "threshold_method": draw(st.sampled_from(["contamination", "spot"])),
        "scaling": draw(st.sampled_from(["standard", "robust", None])),
        "nan_policy": draw(st.sampled_from(["raise", "interpolate"])),
        "score_step": draw(st.sampled_from([None, 1, 3])),
        "score_smoothing": draw(st.sampled_from(["auto", 1, 5])),
        "validation_fraction": draw(st.sampled_from([0.0, 0.2])),
        "max_train_windows": 64,
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_fit_any_parameters_and_data(profile):
    @profile_settings(profile, scale=0.3)
    @given(
        params=fit_params(),
        rows=st.integers(0, 60),
        n_features=st.integers(1, 3),
        exponent=st.integers(-30, 30),
        holes=st.booleans(),
    )
    def check(params, rows, n_features, exponent, holes):
        X = sinusoids(max(rows, 1), n_features=n_features)[:rows] * 10.0**exponent
        if holes and rows > 2:
            X[1, 0] = np.nan
        det = MAATDetector(**params)
        fitted = outcome(lambda: det.fit(X).score_samples(X), rows)
        if fitted is None:
            return
        labels = det.predict(X)
        assert set(np.unique(labels)) <= {-1, 1}
        assert np.isfinite(det.threshold_)

    check()


# ------------------------------------------------------------ calibrate


@pytest.mark.parametrize("profile", PROFILES)
def test_calibrate_any_rows_and_calibration_parameters(fitted, profile):
    det, X_fit = fitted

    @profile_settings(profile)
    @given(
        X=st.one_of(
            arrays(n_features=st.just(N_FEATURES)),
            st.integers(WIN, 160).map(lambda n: X_fit[:n]),
        ),
        contamination=st.sampled_from([0.001, 0.05, 0.5]),
        score_mode=st.sampled_from(["reconstruction", "paper", "calibrated"]),
        top_channels=st.sampled_from([None, 1, 2]),
        threshold_method=st.sampled_from(["contamination", "spot"]),
    )
    def check(X, contamination, score_mode, top_channels, threshold_method):
        det2 = copy.deepcopy(det).set_params(
            contamination=contamination,
            score_mode=score_mode,
            top_channels=top_channels,
            threshold_method=threshold_method,
        )

        def calibrate_then_score():
            det2.calibrate(X)
            assert np.isfinite(det2.threshold_)
            return det2.score_samples(X_fit)

        outcome(calibrate_then_score, X_fit.shape[0])

    check()


# ------------------------------------------------------------ save/load


@pytest.mark.parametrize("profile", PROFILES)
def test_save_load_keeps_scores_and_damage_is_refused(fitted, profile):
    det, X_fit = fitted
    buffer = io.BytesIO()
    det.save(buffer)
    good = buffer.getvalue()
    expected = det.score_samples(X_fit)

    @profile_settings(profile)
    @given(
        cut=st.one_of(st.none(), st.integers(0, len(good) - 1)),
        flips=st.lists(st.integers(0, len(good) - 1), max_size=3),
    )
    def check(cut, flips):
        data = bytearray(good if cut is None else good[:cut])
        for i in flips:
            if i < len(data):
                data[i] ^= 0xFF
        assume(cut is not None or flips)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                again = MAATDetector.load(io.BytesIO(bytes(data)))
        except ValueError as exc:
            assert FIX.search(str(exc)), exc
            return
        # A flip in a byte nothing reads (zip padding, unused metadata).
        np.testing.assert_array_equal(again.score_samples(X_fit), expected)

    check()


def test_save_load_round_trip_keeps_scores_on_any_rows(fitted, tmp_path):
    det, X_fit = fitted
    det.save(tmp_path / "det.maat")
    again = MAATDetector.load(tmp_path / "det.maat")

    @given(start=st.integers(0, 100), length=st.integers(WIN, 60))
    def check(start, length):
        X = X_fit[start : start + length]
        if X.shape[0] < WIN:
            return
        np.testing.assert_array_equal(again.score_samples(X), det.score_samples(X))

    check()


# ---------------------------------------------------------------- fleet

FLEET_KEYS = st.one_of(
    st.text(min_size=1, max_size=6), st.integers(), st.none(), st.floats()
)


@pytest.mark.parametrize("profile", PROFILES)
def test_fleet_helpers_any_mapping(profile):
    """Any names and series: a documented error with a fix, or every name once."""
    template = IsolationForest(n_estimators=5, random_state=0)

    @profile_settings(profile, scale=0.5)
    @given(
        series=st.one_of(
            st.dictionaries(
                FLEET_KEYS,
                st.integers(0, 30).map(lambda n: sinusoids(n + 1)[:n]),
                max_size=4,
            ),
            st.lists(st.integers(), max_size=2),
            st.none(),
        ),
        method=st.sampled_from(
            ["score_samples", "decision_function", "predict", "fit", "bogus"]
        ),
        torch_threads=st.sampled_from(["auto", None, 1, 0, -1, 1.5, True]),
    )
    def check(series, method, torch_threads):
        try:
            detectors, scores = fit_score_fleet(
                series, template, method=method, torch_threads=torch_threads, n_jobs=1
            )
        except (ValueError, TypeError, FleetError) as exc:
            assert FIX.search(str(exc)), exc
            return
        assert list(detectors) == list(series) == list(scores)
        for key, X in series.items():
            assert np.asarray(scores[key]).shape == (len(X),)
            assert np.isfinite(scores[key]).all()

    check()


def test_fleet_fit_and_score_name_every_series_once(fitted):
    det, X_fit = fitted

    @settings(max_examples=8)
    @given(
        names=st.lists(
            st.text(min_size=1, max_size=5), min_size=1, max_size=4, unique=True
        ),
        method=st.sampled_from(["anomaly_score", "score_samples", "predict"]),
    )
    def check(names, method):
        series = {name: X_fit[: WIN + 5 * i] for i, name in enumerate(names)}
        detectors = {name: det for name in names}
        scores = score_fleet(
            detectors, series, method=method, n_jobs=1, torch_threads=1
        )
        assert list(scores) == names
        for name in names:
            assert scores[name].shape == (series[name].shape[0],)
            assert np.isfinite(scores[name]).all()

    check()


def test_fit_fleet_refuses_a_fitted_template_list():
    with pytest.raises(TypeError, match="unfitted scikit-learn estimator"):
        fit_fleet({"a": sinusoids(40)}, [IsolationForest()])
