"""Tests for maat_detector.fleet: one detector per series on joblib backends."""

import joblib
import numpy as np
import pytest
import torch
from conftest import TINY, local_dask_cluster, sinusoids, torch_threads
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

from maat_detector import MAATDetector
from maat_detector.fleet import FleetError, fit_fleet, fit_score_fleet, score_fleet
from maat_detector.scoring import make_anomaly_scorer

N_ROWS = 300
PARAMS = dict(TINY, epochs=1)


def fleet(n_series):
    """Small sinusoid series of different phases and noise, named machine-i."""
    return {f"machine-{i}": sinusoids(N_ROWS, seed=i) for i in range(n_series)}


@pytest.fixture(scope="module")
def sequential():
    """Detectors and scores of 8 series fitted one after another, 1 torch thread."""
    series = fleet(8)
    detectors = fit_fleet(series, MAATDetector(**PARAMS), n_jobs=1, torch_threads=1)
    scores = score_fleet(detectors, series, n_jobs=1, torch_threads=1)
    return series, detectors, scores


@pytest.fixture
def one_torch_thread():
    with torch_threads(1):
        yield


def test_sequential_fleet_equals_fitting_each_series(sequential, one_torch_thread):
    series, detectors, scores = sequential
    assert list(scores) == list(series)
    X = series["machine-3"]
    alone = MAATDetector(**PARAMS).fit(X).anomaly_score(X)
    np.testing.assert_array_equal(scores["machine-3"], alone)
    assert detectors["machine-3"].offset_ == MAATDetector(**PARAMS).fit(X).offset_
    # Series differ, so do their detectors.
    assert not np.array_equal(scores["machine-0"], scores["machine-1"])


def test_two_processes_give_the_sequential_scores(sequential):
    series, _, expected = sequential
    four = {key: series[key] for key in list(series)[:4]}
    detectors = fit_fleet(
        four, MAATDetector(**PARAMS), n_jobs=2, backend="loky", torch_threads=1
    )
    scores = score_fleet(detectors, four, n_jobs=2, backend="loky", torch_threads=1)
    assert list(scores) == list(four)
    for key in four:
        np.testing.assert_array_equal(scores[key], expected[key])


def test_fit_score_fleet_equals_fit_then_score(sequential):
    series, detectors, expected = sequential
    two = {key: series[key] for key in ("machine-5", "machine-6")}
    held_out = {key: X[::-1].copy() for key, X in two.items()}
    fitted, scores = fit_score_fleet(
        two,
        MAATDetector(**PARAMS),
        score_series=held_out,
        method="score_samples",
        n_jobs=1,
        torch_threads=1,
    )
    for key in two:
        assert fitted[key].offset_ == detectors[key].offset_
        np.testing.assert_array_equal(
            scores[key],
            -score_fleet(detectors, {key: held_out[key]}, torch_threads=1)[key],
        )
    _, in_sample = fit_score_fleet(two, MAATDetector(**PARAMS), torch_threads=1)
    np.testing.assert_array_equal(in_sample["machine-5"], expected["machine-5"])


class ThreadProbe(BaseEstimator):
    """Records the torch thread count it was fitted under."""

    def fit(self, X, y=None):
        self.threads_ = torch.get_num_threads()
        return self


@pytest.mark.parametrize(
    ("n_jobs", "backend", "torch_threads", "expected"),
    [
        (1, None, "auto", joblib.cpu_count()),
        (2, "threading", "auto", max(1, joblib.cpu_count() // 2)),
        (4, "threading", "auto", max(1, joblib.cpu_count() // 3)),  # 3 series
        (1, None, 3, 3),
    ],
)
def test_torch_threads_rule_and_restore(n_jobs, backend, torch_threads, expected):
    before = torch.get_num_threads()
    series = {f"s{i}": np.zeros((5, 1)) for i in range(3)}
    detectors = fit_fleet(
        series,
        ThreadProbe(),
        n_jobs=n_jobs,
        backend=backend,
        torch_threads=torch_threads,
    )
    assert {d.threads_ for d in detectors.values()} == {expected}
    assert torch.get_num_threads() == before


def test_torch_threads_none_leaves_setting_alone():
    series = {"s": np.zeros((5, 1))}
    detectors = fit_fleet(series, ThreadProbe(), n_jobs=1, torch_threads=None)
    assert detectors["s"].threads_ == torch.get_num_threads()


def test_fleet_follows_joblib_parallel_config():
    series = {f"s{i}": np.zeros((5, 1)) for i in range(2)}
    with joblib.parallel_config("threading", n_jobs=2):
        detectors = fit_fleet(series, ThreadProbe())
    assert detectors["s0"].threads_ == max(1, joblib.cpu_count() // 2)


def test_failing_series_is_named_with_its_error():
    series = {"ok": sinusoids(64), "too-short": sinusoids(10)}
    with pytest.raises(FleetError, match=r"'too-short'.*win_size=16") as info:
        fit_fleet(
            series, MAATDetector(**PARAMS), n_jobs=2, backend="loky", torch_threads=1
        )
    assert info.value.key == "too-short"
    assert isinstance(info.value.error, ValueError)


def test_failing_series_sequential_chains_original_error():
    series = {"bad": np.full((64, 2), np.nan)}
    with pytest.raises(FleetError, match="'bad'") as info:
        fit_fleet(series, MAATDetector(**PARAMS), n_jobs=1)
    assert info.value.__cause__ is info.value.error


@pytest.mark.parametrize(
    ("series", "error", "match"),
    [
        ({}, ValueError, "series is empty"),
        ({1: np.zeros((20, 2))}, TypeError, "keys must be str.*int"),
        ([np.zeros((20, 2))], TypeError, "must be a mapping"),
    ],
)
def test_bad_series_argument(series, error, match):
    with pytest.raises(error, match=match):
        fit_fleet(series, MAATDetector(**PARAMS))


def test_bad_arguments_say_what_to_pass():
    X = {"a": np.zeros((20, 2))}
    with pytest.raises(ValueError, match="torch_threads=0"):
        fit_fleet(X, MAATDetector(**PARAMS), torch_threads=0)
    with pytest.raises(TypeError, match="unfitted scikit-learn estimator"):
        fit_fleet(X, "MAATDetector")
    with pytest.raises(ValueError, match="no detector for 1 series: 'a'"):
        score_fleet({"b": None}, X)
    with pytest.raises(ValueError, match="method='fit' is not supported"):
        score_fleet({"a": None}, X, method="fit")
    with pytest.raises(ValueError, match="same names.*missing: 'a'"):
        fit_score_fleet(X, MAATDetector(**PARAMS), score_series={"b": X["a"]})


# ------------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def dask_client():
    """A real two-process Dask cluster on loopback, shared by the Dask tests."""
    distributed = pytest.importorskip("dask.distributed")
    cluster, client = local_dask_cluster(distributed)
    yield client
    client.close()
    cluster.close()


def test_dask_cluster_gives_the_sequential_scores(dask_client, sequential):
    from dask.distributed import get_task_stream

    series, _, expected = sequential
    with get_task_stream(dask_client) as stream, joblib.parallel_config("dask"):
        detectors = fit_fleet(series, MAATDetector(**PARAMS), torch_threads=1)
        scores = score_fleet(detectors, series, torch_threads=1)
    assert len(stream.data) >= 2 * len(series)  # the work ran on the cluster
    assert list(scores) == list(series)
    for key in series:
        np.testing.assert_array_equal(scores[key], expected[key])


# -------------------------------------------------------------------- Ray


@pytest.mark.slow
def test_ray_gives_the_sequential_scores(sequential):
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    series, _, expected = sequential
    two = {key: series[key] for key in ("machine-0", "machine-1")}
    register_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with joblib.parallel_config("ray", n_jobs=2):
            _, scores = fit_score_fleet(two, MAATDetector(**PARAMS), torch_threads=1)
    finally:
        ray.shutdown()
    for key in two:
        np.testing.assert_array_equal(scores[key], expected[key])


def spiky_series(n=480, seed=0):
    """Sinusoids with a labelled burst every 60 rows (1 = anomaly)."""
    X = sinusoids(n, n_features=2, seed=seed)
    y = np.zeros(n, dtype=int)
    for start in range(45, n, 60):
        X[start : start + 3] += 3.0
        y[start : start + 3] = 1
    return X, y


def test_grid_search_on_dask(dask_client, one_torch_thread):
    X, y = spiky_series()
    params = PARAMS

    def search():
        return GridSearchCV(
            MAATDetector(**params),
            {"score_mode": ["paper", "reconstruction"]},
            scoring=make_anomaly_scorer("vus_pr", sliding_window=10),
            cv=TimeSeriesSplit(n_splits=2),
            n_jobs=2,
        )

    with joblib.parallel_config("dask"):
        on_dask = search().fit(X, y)
    local = search().set_params(n_jobs=1).fit(X, y)
    scores = on_dask.cv_results_["mean_test_score"]
    assert np.all((scores > 0) & (scores <= 1))
    # Workers run one torch thread, as the local search here: same numbers.
    np.testing.assert_array_equal(scores, local.cv_results_["mean_test_score"])
    assert on_dask.best_params_ == local.best_params_


def test_retried_series_are_named_in_a_warning(monkeypatch):
    """Start events counted per series: two starts mean the task was retried."""
    from maat_detector import fleet

    starts = [(1.0, {"series": "a", "worker": "w1"}), (2.0, {"series": "b"})]
    starts += [(3.0, {"series": "a", "worker": "w2"})]
    lost = [(2.5, {"action": "remove-worker", "worker": "w1", "expected": False})]
    monkeypatch.setattr(
        fleet, "_dask_events", lambda topic: lost if topic == "all" else starts
    )
    with pytest.warns(fleet.FleetRetryWarning, match="1 series ran more than once"):
        fleet._report_retries("maat-fleet-x", began=0.0)
    with pytest.warns(fleet.FleetRetryWarning) as record:
        fleet._report_retries("maat-fleet-x", began=0.0)
    assert record[0].message.retried == {"a": 2}
    assert record[0].message.lost_workers == ["w1"]


def test_no_retry_report_outside_dask(recwarn):
    from maat_detector import fleet

    fleet._report_retries("maat-fleet-none", began=0.0)
    assert not [w for w in recwarn if w.category is fleet.FleetRetryWarning]
