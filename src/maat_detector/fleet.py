"""One detector per series across a fleet of series, on any joblib backend.

Production monitoring often means many short, unrelated series -- one per
machine, sensor or customer -- each with its own detector. The functions here
fit and score such a fleet with one task per series through
:class:`joblib.Parallel`, so the same call runs

- sequentially (``n_jobs=1``, the default outside any joblib context),
- in local worker processes (``n_jobs=4``: joblib's ``"loky"`` backend),
- on a Dask cluster, inside ``with joblib.parallel_config("dask"):`` once a
  :class:`dask.distributed.Client` exists (``pip install "dask[distributed]"``),
- on Ray, after ``ray.util.joblib.register_ray()``, inside
  ``with joblib.parallel_config("ray"):``.

Every series gets a clone of the same estimator, ``random_state`` included,
so its scores do not depend on the backend, the number of workers or the
other series (see Notes of :func:`fit_fleet` for the one condition: the torch
thread count).

Examples
--------
>>> import numpy as np
>>> from maat_detector import MAATDetector
>>> from maat_detector.fleet import fit_fleet, score_fleet
>>> t = np.arange(200)
>>> fleet = {"pump-1": np.c_[np.sin(t / 5), np.cos(t / 7)],
...          "pump-2": np.c_[np.sin(t / 3), np.cos(t / 9)]}
>>> det = MAATDetector(win_size=20, d_model=8, n_heads=2, e_layers=1, d_ff=8,
...                    epochs=1, block_size=5, random_state=0)
>>> detectors = fit_fleet(fleet, det, n_jobs=1)
>>> scores = score_fleet(detectors, fleet)
>>> {name: s.shape for name, s in scores.items()}
{'pump-1': (200,), 'pump-2': (200,)}
"""

from __future__ import annotations

import logging
import pickle
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Mapping
from contextlib import contextmanager
from numbers import Integral

import joblib
from sklearn.base import clone

__all__ = [
    "FleetError",
    "FleetRetryWarning",
    "fit_fleet",
    "fit_score_fleet",
    "score_fleet",
]

logger = logging.getLogger(__name__)

_SCORING_METHODS = ("anomaly_score", "score_samples", "decision_function", "predict")


class FleetError(RuntimeError):
    """A task of a fleet call failed; names the series and keeps the error.

    Parameters
    ----------
    key : str
        Name of the series whose task failed.
    error : BaseException
        The original exception (or, if it could not be sent back from a worker
        process, a :class:`RuntimeError` with its type and message).

    Attributes
    ----------
    key : str
        Name of the series whose task failed.
    error : BaseException
        The original exception.
    """

    def __init__(self, key, error):
        super().__init__(key, error)
        self.key = key
        self.error = error

    def __str__(self):
        return (
            f"series {self.key!r} failed: {type(self.error).__name__}: {self.error}. "
            "Fix or drop this series and run again."
        )


class FleetRetryWarning(UserWarning):
    """Some series of a fleet call ran more than once: a worker died mid-run.

    On a Dask cluster the scheduler reruns the tasks of a worker that dies on
    another worker; the fleet call still returns each series once, and warns
    with this category which series were retried.

    Parameters
    ----------
    message : str
        The warning text; it names the retried series.
    retried : dict of str to int
        Series name -> number of times its task started.
    lost_workers : list of str
        Addresses of the workers that died during the call.

    Attributes
    ----------
    retried : dict of str to int
        Series name -> number of times its task started.
    lost_workers : list of str
        Addresses of the workers that died during the call.
    """

    def __init__(self, message, retried=None, lost_workers=None):
        super().__init__(message)
        self.retried = dict(retried or {})
        self.lost_workers = list(lost_workers or [])


def fit_fleet(series, estimator, *, n_jobs=None, backend=None, torch_threads="auto"):
    """Fit one clone of ``estimator`` per series, one parallel task per series.

    Parameters
    ----------
    series : Mapping of str to array-like of shape (n_samples, n_features)
        The fleet: series name -> training rows in time order. Series may
        differ in length and in number of features.
    estimator : estimator object
        Unfitted template, e.g. :class:`~maat_detector.MAATDetector`. Each
        series gets :func:`sklearn.base.clone` of it, ``random_state``
        included; ``estimator`` itself is left unfitted. Pass an int
        ``random_state`` for reproducible scores.
    n_jobs : int or None, default=None
        Series fitted at once, as in :class:`joblib.Parallel`: None means 1
        unless a :func:`joblib.parallel_config` context says otherwise; -1 means
        all CPUs (or, on Dask, all worker threads of the cluster).
    backend : str, joblib backend instance or None, default=None
        ``"loky"`` (processes), ``"threading"``, ``"dask"``, ``"ray"`` ...; None
        uses the backend of the enclosing :func:`joblib.parallel_config`, else
        joblib's default (``"loky"``).
    torch_threads : "auto", int or None, default="auto"
        Torch intra-op threads inside each task, restored when the task ends.
        "auto" uses ``max(1, cpu_count // n_workers)`` (see Notes); an int is
        used as given; None leaves torch's setting alone.

    Returns
    -------
    detectors : dict of str to estimator
        Fitted clones, in the order of ``series``.

    Raises
    ------
    ValueError
        If ``series`` is empty or ``torch_threads`` is not valid.
    TypeError
        If ``series`` is not a mapping or a key is not a string.
    FleetError
        If fitting a series fails; its message names the series and the
        original error, which is kept in ``error``.

    Warns
    -----
    FleetRetryWarning
        On Dask, when workers died during the call and series were rerun
        elsewhere; names those series (see :class:`FleetRetryWarning`).

    See Also
    --------
    score_fleet : Score each series with its detector.
    fit_score_fleet : Fit and score in one task per series.

    Notes
    -----
    **Threads.** Torch parallelises each operation over its own thread pool.
    Several workers on one machine, each with a full pool, oversubscribe the
    cores and run slower than fewer threads would. With
    ``torch_threads="auto"`` each task therefore sets
    ``torch.set_num_threads(k)`` for its duration, where

    ``k = max(1, cpu_count // n_workers)``,

    ``cpu_count`` is :func:`joblib.cpu_count` of the machine running the task
    (it respects CPU affinity and container limits) and ``n_workers`` is
    ``min(len(series), joblib.effective_n_jobs(n_jobs))`` under the chosen
    backend -- on Dask, the total number of worker threads of the cluster. On
    a cluster spanning several machines this undersubscribes; pass
    ``torch_threads=cores_per_machine // workers_per_machine`` instead. Tasks
    running at the same time in one process (the threading backend, Dask
    workers with several threads) share the setting, and the previous value
    is restored when the last of them ends.

    **Reproducibility.** With an int ``random_state``, a series' scores are
    identical whichever the backend and ``n_jobs``, provided the torch thread
    count is the same: torch may split floating-point sums differently with
    another number of threads, which moves the last bits. ``"auto"`` gives
    ``n_jobs=1`` all cores and ``n_jobs=2`` half of them, so for bit-identical
    results across ``n_jobs`` pass an int, e.g. ``torch_threads=1``.

    **Data movement.** Each task receives its series and the template and
    sends back the fitted estimator (for :class:`~maat_detector.MAATDetector`,
    its CPU weights). :func:`fit_score_fleet` avoids sending the detectors out
    again for scoring.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from maat_detector.fleet import fit_fleet
    >>> rng = np.random.default_rng(0)
    >>> fleet = {f"m{i}": rng.normal(size=(100, 3)) for i in range(3)}
    >>> detectors = fit_fleet(fleet, IsolationForest(random_state=0), n_jobs=1)
    >>> sorted(detectors)
    ['m0', 'm1', 'm2']
    """
    keys = _check_series(series)
    _check_estimator(estimator)
    tasks = [(key, _fit_one, (estimator, series[key])) for key in keys]
    results = _run(tasks, n_jobs, backend, torch_threads)
    return dict(zip(keys, results, strict=True))


def score_fleet(
    detectors,
    series,
    *,
    method="anomaly_score",
    n_jobs=None,
    backend=None,
    torch_threads="auto",
):
    """Score each series with its own fitted detector, one task per series.

    Parameters
    ----------
    detectors : Mapping of str to fitted estimator
        Series name -> fitted detector, e.g. the output of :func:`fit_fleet`.
        May hold more names than ``series``.
    series : Mapping of str to array-like of shape (n_samples, n_features)
        Series name -> rows to score; every name needs a detector.
    method : {"anomaly_score", "score_samples", "decision_function", \
"predict"}, default="anomaly_score"
        Detector method to call. ``"anomaly_score"`` is higher for more
        anomalous rows; ``"score_samples"`` and ``"decision_function"`` follow
        scikit-learn (higher = more normal); ``"predict"`` gives -1 for
        outliers and +1 for inliers.
    n_jobs : int or None, default=None
        As in :func:`fit_fleet`.
    backend : str, joblib backend instance or None, default=None
        As in :func:`fit_fleet`.
    torch_threads : "auto", int or None, default="auto"
        As in :func:`fit_fleet`.

    Returns
    -------
    scores : dict of str to ndarray of shape (n_samples,)
        One array per series, in the order of ``series``.

    Raises
    ------
    ValueError
        If ``series`` is empty, a series has no detector, or ``method`` is
        not one of the listed methods.
    TypeError
        If ``series`` is not a mapping or a key is not a string.
    FleetError
        If scoring a series fails; names the series and the original error.

    Warns
    -----
    FleetRetryWarning
        On Dask, when workers died during the call and series were rerun
        elsewhere; names those series (see :class:`FleetRetryWarning`).

    See Also
    --------
    fit_fleet : Fit one detector per series.
    fit_score_fleet : Fit and score in one task per series.
    """
    keys = _check_series(series)
    if not isinstance(detectors, Mapping):
        raise TypeError(
            f"detectors must be a mapping of series name to fitted detector, "
            f"got {type(detectors).__name__}; pass the dict fit_fleet returned."
        )
    missing = [key for key in keys if key not in detectors]
    if missing:
        raise ValueError(
            f"no detector for {len(missing)} series: {_preview(missing)}; "
            "fit them first (fit_fleet) or leave them out of series."
        )
    _check_method(method)
    tasks = [(key, _score_one, (detectors[key], series[key], method)) for key in keys]
    results = _run(tasks, n_jobs, backend, torch_threads)
    return dict(zip(keys, results, strict=True))


def fit_score_fleet(
    series,
    estimator,
    *,
    score_series=None,
    method="anomaly_score",
    n_jobs=None,
    backend=None,
    torch_threads="auto",
):
    """Fit one detector per series and score with it, in one task per series.

    Equivalent to :func:`fit_fleet` followed by :func:`score_fleet`, with the
    same results, but each fitted detector is used where it was trained
    instead of being sent back and out again: less data movement on a
    cluster.

    Parameters
    ----------
    series : Mapping of str to array-like of shape (n_samples, n_features)
        Series name -> training rows in time order.
    estimator : estimator object
        Unfitted template, cloned per series (see :func:`fit_fleet`).
    score_series : Mapping of str to array-like or None, default=None
        Series name -> rows to score, with the same names as ``series``;
        None scores the training rows themselves.
    method : {"anomaly_score", "score_samples", "decision_function", \
"predict"}, default="anomaly_score"
        As in :func:`score_fleet`.
    n_jobs : int or None, default=None
        As in :func:`fit_fleet`.
    backend : str, joblib backend instance or None, default=None
        As in :func:`fit_fleet`.
    torch_threads : "auto", int or None, default="auto"
        As in :func:`fit_fleet`.

    Returns
    -------
    detectors : dict of str to estimator
        Fitted clones, in the order of ``series``.
    scores : dict of str to ndarray of shape (n_samples,)
        Scores of ``score_series`` (or ``series``), in the order of ``series``.

    Raises
    ------
    ValueError
        If ``series`` is empty, ``score_series`` has other names than
        ``series``, or ``method`` is not one of the listed methods.
    TypeError
        If a mapping is not one or a key is not a string.
    FleetError
        If a series fails; names the series and the original error.

    Warns
    -----
    FleetRetryWarning
        On Dask, when workers died during the call and series were rerun
        elsewhere; names those series (see :class:`FleetRetryWarning`).

    See Also
    --------
    fit_fleet : Fit one detector per series.
    score_fleet : Score each series with its detector.
    """
    keys = _check_series(series)
    _check_estimator(estimator)
    _check_method(method)
    if score_series is None:
        score_series = series
    else:
        score_keys = _check_series(score_series, name="score_series")
        if set(score_keys) != set(keys):
            extra = [key for key in score_keys if key not in series]
            missing = [key for key in keys if key not in score_series]
            raise ValueError(
                "score_series must have the same names as series; missing: "
                f"{_preview(missing)}, not in series: {_preview(extra)}. "
                "Pass one scoring series per training series."
            )
    tasks = [
        (key, _fit_score_one, (estimator, series[key], score_series[key], method))
        for key in keys
    ]
    results = _run(tasks, n_jobs, backend, torch_threads)
    detectors, scores = {}, {}
    for key, (detector, score) in zip(keys, results, strict=True):
        detectors[key], scores[key] = detector, score
    return detectors, scores


# ---------------------------------------------------------------- tasks


def _fit_one(estimator, X):
    return clone(estimator).fit(X)


def _score_one(detector, X, method):
    return getattr(detector, method)(X)


def _fit_score_one(estimator, X, X_score, method):
    detector = clone(estimator).fit(X)
    return detector, getattr(detector, method)(X_score)


def _task(key, func, args, thread_rule, topic=None):
    """Run one series' work under ``thread_rule``; name the series on error."""
    _note_start(topic, key)
    try:
        with _torch_threads(thread_rule):
            return func(*args)
    except Exception as exc:
        raise FleetError(key, _sendable(exc)) from exc


# ----------------------------------------------------------- execution


def _run(tasks, n_jobs, backend, torch_threads):
    """Run ``(key, func, args)`` tasks through joblib; results in task order."""
    threads = _check_torch_threads(torch_threads)
    n_workers = _effective_workers(n_jobs, backend, len(tasks))
    logger.info(
        "running %d series on %d worker(s); torch_threads=%r",
        len(tasks),
        n_workers,
        threads,
    )
    topic = f"maat-fleet-{uuid.uuid4().hex}"
    began = time.time()
    parallel = joblib.Parallel(n_jobs=n_jobs, backend=backend)
    results = parallel(
        joblib.delayed(_task)(key, func, args, _ThreadRule(threads, n_workers), topic)
        for key, func, args in tasks
    )
    if len(results) != len(tasks):  # joblib guarantees it; checked, not trusted
        raise RuntimeError(
            f"the backend returned {len(results)} results for {len(tasks)} series"
        )
    _report_retries(topic, began)
    return results


# ------------------------------------------------------- retries on Dask
#
# When a Dask worker dies, the scheduler reruns the tasks it was running on
# another worker; joblib sees one result per task and cannot tell. Each task
# therefore logs a "started" event to the scheduler under a topic unique to
# the call (Worker.log_event, public API); after the call, a series with more
# than one start was retried. Worker deaths during the call are read from the
# scheduler's own "remove-worker" events. Outside Dask both steps do nothing.


def _note_start(topic, key):
    if topic is None or "distributed" not in sys.modules:
        return
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not running on a Dask worker
        return
    worker.log_event(topic, {"series": key, "worker": worker.address})


def _dask_events(topic):
    """Events of ``topic`` on the default Dask client's scheduler, or None."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import default_client

        return default_client().get_events(topic)
    except (ImportError, ValueError):  # no client: the call did not use Dask
        return None
    except Exception as exc:  # the report must not fail a finished call
        logger.info("could not read the scheduler's events: %s", exc)
        return None


def _report_retries(topic, began):
    starts = _dask_events(topic)
    if not starts:
        return
    counts = Counter(msg["series"] for _, msg in starts)
    retried = {key: n for key, n in counts.items() if n > 1}
    lost = [
        msg.get("worker")
        for stamp, msg in (_dask_events("all") or ())
        if stamp >= began
        and msg.get("action") == "remove-worker"
        and not msg.get("expected", False)
    ]
    if not retried and not lost:
        return
    if retried:
        message = (
            f"{len(retried)} series ran more than once because a Dask worker "
            f"died mid-run and the scheduler retried them: {_preview(list(retried))}"
            "; each is returned once, from the run that finished."
        )
    else:
        message = (
            f"{len(lost)} Dask worker(s) died during the call; every series is "
            "returned once, and none was seen starting twice."
        )
    logger.warning(message)
    warnings.warn(
        FleetRetryWarning(message, retried=retried, lost_workers=lost), stacklevel=4
    )


def _effective_workers(n_jobs, backend, n_tasks):
    """Tasks that can run at once: joblib's effective n_jobs, capped by the tasks."""
    if backend is None:
        n = joblib.effective_n_jobs(n_jobs)
    else:
        with joblib.parallel_config(backend=backend):
            n = joblib.effective_n_jobs(n_jobs)
    return max(1, min(int(n), n_tasks))


class _ThreadRule:
    """Torch threads for a task, resolved on the machine that runs it.

    "auto" is resolved in the task, not in the caller, because the worker's
    machine may have another number of CPUs.
    """

    def __init__(self, threads, n_workers):
        self.threads = threads
        self.n_workers = n_workers

    def resolve(self):
        if self.threads == "auto":
            return max(1, joblib.cpu_count() // self.n_workers)
        return self.threads


# Tasks running at once in one process share torch's setting: the first to
# start saves the previous value, the last to end restores it.
_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = None


@contextmanager
def _torch_threads(rule):
    threads = rule.resolve()
    if threads is None:
        yield
        return
    import torch

    global _threads_users, _threads_saved
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
        _threads_users += 1
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)


# ---------------------------------------------------------- validation


def _check_series(series, name="series"):
    if not isinstance(series, Mapping):
        raise TypeError(
            f"{name} must be a mapping of series name to array, got "
            f"{type(series).__name__}; pass e.g. {{'machine-1': X1, 'machine-2': X2}}."
        )
    if len(series) == 0:
        raise ValueError(
            f"{name} is empty; pass a mapping with at least one series name -> array."
        )
    bad = [key for key in series if not isinstance(key, str)]
    if bad:
        raise TypeError(
            f"{name} keys must be str, got {_preview(bad)} "
            f"({type(bad[0]).__name__}); convert them, e.g. "
            "{str(k): v for k, v in series.items()}."
        )
    return list(series)


def _check_estimator(estimator):
    if not hasattr(estimator, "fit") or not hasattr(estimator, "get_params"):
        raise TypeError(
            f"estimator must be an unfitted scikit-learn estimator such as "
            f"MAATDetector(...), got {type(estimator).__name__}."
        )


def _check_method(method):
    if method not in _SCORING_METHODS:
        raise ValueError(
            f"method={method!r} is not supported; use one of "
            f"{', '.join(map(repr, _SCORING_METHODS))}."
        )


def _check_torch_threads(torch_threads):
    if torch_threads is None or torch_threads == "auto":
        return torch_threads
    if isinstance(torch_threads, Integral) and not isinstance(torch_threads, bool):
        if torch_threads >= 1:
            return int(torch_threads)
    raise ValueError(
        f"torch_threads={torch_threads!r} is not valid; use 'auto', a positive "
        "int, or None to leave torch's thread setting alone."
    )


def _preview(items, limit=5):
    if not items:
        return "none"
    shown = ", ".join(repr(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _sendable(exc):
    """``exc`` if it survives pickling (to leave a worker process), else a stand-in."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
