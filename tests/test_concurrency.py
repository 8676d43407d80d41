"""Concurrency: threads scoring one detector, processes saving to one path."""

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import TINY, sinusoids

from maat_detector import MAATDetector


@pytest.fixture(scope="module")
def fitted():
    X = sinusoids(160)
    return MAATDetector(**{**TINY, "epochs": 1}).fit(X), X


def test_scoring_from_several_threads_equals_scoring_serially(fitted):
    det, _ = fitted
    batches = [sinusoids(40 + 8 * i, seed=i) for i in range(8)]
    serial = [det.score_samples(X) for X in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            threaded = list(pool.map(det.score_samples, batches))
            for got, expected in zip(threaded, serial, strict=True):
                np.testing.assert_array_equal(got, expected)


def test_streams_in_several_threads_equal_serial_streams(fitted):
    det, _ = fitted
    rows = [sinusoids(30, seed=10 + i) for i in range(4)]

    def run(X):
        stream = det.stream()
        return np.concatenate([stream.update(X[i : i + 5]) for i in range(0, 30, 5)])

    serial = [run(X) for X in rows]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(run, rows))
    for got, expected in zip(threaded, serial, strict=True):
        np.testing.assert_array_equal(got, expected)


SAVER = textwrap.dedent(
    """
    import sys
    from maat_detector import MAATDetector

    source, target, times = sys.argv[1], sys.argv[2], int(sys.argv[3])
    det = MAATDetector.load(source)
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for _ in range(times):
        det.save(target)
    """
)


def test_two_processes_saving_to_one_path_leave_one_loadable_file(fitted, tmp_path):
    """This process and a child save different detectors to one path at once."""
    det, X = fitted
    other = MAATDetector(**{**TINY, "epochs": 1, "random_state": 1}).fit(X)
    other.save(tmp_path / "other.maat")
    target = tmp_path / "shared" / "det.maat"
    target.parent.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(tmp_path / "other.maat"), str(target), "30"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "ready"
    child.stdin.write("go\n")
    child.stdin.close()
    for _ in range(30):
        det.save(target)
    assert child.wait(timeout=300) == 0
    assert [p.name for p in target.parent.iterdir()] == ["det.maat"]  # no temp left
    scores = MAATDetector.load(target).score_samples(X)
    candidates = [det.score_samples(X), other.score_samples(X)]
    assert any(np.array_equal(scores, c) for c in candidates)
