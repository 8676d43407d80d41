"""Faults in a fleet run: a Dask worker killed mid-run.

The scheduler reruns a dead worker's tasks elsewhere; the fleet call must
still return every series exactly once, with the scores a run without the
fault gives, and warn which series were retried.
"""

import os
import signal
import threading
import time
import warnings

import joblib
import numpy as np
import pytest
from conftest import TINY, local_dask_cluster, sinusoids

from maat_detector import MAATDetector
from maat_detector.fleet import FleetRetryWarning, fit_score_fleet

distributed = pytest.importorskip("dask.distributed")

PARAMS = dict(TINY)


def started_on(client):
    """Workers where a fleet task has started (the fleet's start events)."""
    topics = client.get_events()
    return [
        msg["worker"]
        for topic, events in topics.items()
        if str(topic).startswith("maat-fleet-")
        for _, msg in events
    ]


def kill_a_busy_worker(client, pids, killed, stop):
    """SIGKILL the first worker process seen running a fleet task, once."""
    while not stop.is_set():
        busy = started_on(client)
        if busy:
            time.sleep(0.2)
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(busy[0])
            return
        time.sleep(0.05)


@pytest.mark.slow
def test_killed_worker_still_returns_every_series_once_and_names_retries():
    series = {f"machine-{i}": sinusoids(160, seed=i) for i in range(4)}
    cluster, client = local_dask_cluster(distributed)
    try:
        pids = client.run(os.getpid)
        killed, stop = [], threading.Event()
        killer = threading.Thread(
            target=kill_a_busy_worker, args=(client, pids, killed, stop)
        )
        killer.start()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with joblib.parallel_config("dask"):
                _, scores = fit_score_fleet(
                    series, MAATDetector(**PARAMS), torch_threads=1
                )
        stop.set()
        killer.join()
    finally:
        client.close()
        cluster.close()

    assert killed, "no worker was killed: the fleet finished too soon"
    assert list(scores) == list(series)  # every series, once, in order
    retries = [w.message for w in caught if w.category is FleetRetryWarning]
    assert len(retries) == 1
    retried = retries[0].retried
    assert retried and set(retried) <= set(series)
    assert all(n >= 2 for n in retried.values())
    assert killed[0] in retries[0].lost_workers
    for key in retried:
        assert repr(key) in str(retries[0])
    # The retried series score as a run without the fault does.
    _, expected = fit_score_fleet(
        {key: series[key] for key in retried},
        MAATDetector(**PARAMS),
        n_jobs=1,
        torch_threads=1,
    )
    for key in retried:
        np.testing.assert_array_equal(scores[key], expected[key])
