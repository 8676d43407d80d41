"""Freed memory is reused while the detector runs, and given back after it."""

import resource
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, sinusoids

from maat_detector import MAATDetector, _memory

BLOCK = 64 * 2**20  # above glibc's largest mmap threshold (32 MiB)
PAGES = BLOCK // resource.getpagesize()

glibc_only = pytest.mark.skipif(
    _memory._glibc() is None, reason="needs glibc's malloc, untuned by the environment"
)


def faults_of_a_fresh_block():
    """Minor page faults of allocating and writing a 64 MiB block, right after
    a block of that size was freed."""
    torch.empty(BLOCK // 4).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(BLOCK // 4).fill_(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


_FRESH_PROCESS = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_memory import faults_of_a_fresh_block
print(min(faults_of_a_fresh_block() for _ in range(3)))
"""


@glibc_only
def test_freed_blocks_are_reused_inside_not_page_faulted_again():
    # glibc's default (a fresh process): every large block is mapped anew.
    fresh = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(fresh.stdout) > PAGES // 2
    with _memory.reusing_freed_memory():
        faults_of_a_fresh_block()  # the heap grows once
        assert max(faults_of_a_fresh_block() for _ in range(3)) < PAGES // 10


class FakeLibc:
    """Records the malloc calls instead of making them."""

    def __init__(self):
        self.calls = []

    def mallopt(self, parameter, value):
        self.calls.append(("mallopt", parameter, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


ENTER = [("mallopt", -4, 0), ("mallopt", -1, 2**31 - 1)]
EXIT = [
    ("mallopt", -4, 65536),
    ("mallopt", -3, 32 * 2**20),
    ("mallopt", -1, 64 * 2**20),
    ("malloc_trim", 0),
]


@pytest.fixture
def fake_libc(monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(_memory, "_glibc", lambda: libc)
    return libc


def test_settings_change_on_entry_and_are_restored_on_exit(fake_libc):
    with _memory.reusing_freed_memory():
        assert fake_libc.calls == ENTER
    assert fake_libc.calls == ENTER + EXIT


def test_nested_and_threaded_scopes_restore_only_when_the_last_leaves(fake_libc):
    inside, release = threading.Event(), threading.Event()

    def other_caller():
        with _memory.reusing_freed_memory():
            inside.set()
            release.wait(timeout=30)

    worker = threading.Thread(target=other_caller)
    worker.start()
    try:
        assert inside.wait(timeout=30)
        with _memory.reusing_freed_memory(), _memory.reusing_freed_memory():
            pass
        assert fake_libc.calls == ENTER  # the worker is still inside
    finally:
        release.set()
        worker.join()
    assert fake_libc.calls == ENTER + EXIT
    assert _memory._depth == 0


def test_exception_inside_restores(fake_libc):
    with pytest.raises(RuntimeError), _memory.reusing_freed_memory():
        raise RuntimeError("boom")
    assert fake_libc.calls == ENTER + EXIT
    assert _memory._depth == 0


@pytest.mark.parametrize(
    "variable, value",
    [
        ("MAAT_REUSE_MEMORY", "0"),
        ("MALLOC_ARENA_MAX", "2"),
        ("GLIBC_TUNABLES", "glibc.malloc.mmap_max=0"),
    ],
)
def test_environment_opts_out(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    _memory._glibc.cache_clear()
    try:
        assert _memory._glibc() is None
        with _memory.reusing_freed_memory():
            assert _memory._depth == 0  # nothing was entered
    finally:
        monkeypatch.undo()
        _memory._glibc.cache_clear()


def test_fit_and_scoring_run_inside_the_scope(monkeypatch):
    from maat_detector.engine import fitting as fit_module

    depths = []
    original = fit_module.train

    def spy(*args, **kwargs):
        depths.append(_memory._depth)
        return original(*args, **kwargs)

    monkeypatch.setattr(fit_module, "train", spy)
    X = np.random.default_rng(0).standard_normal((60, 2))
    det = MAATDetector(
        win_size=8,
        block_size=4,
        d_model=8,
        n_heads=2,
        e_layers=1,
        d_ff=8,
        d_state=2,
        epochs=1,
    ).fit(X)
    det.score_samples(X)
    expected = 1 if _memory._glibc() is not None else 0
    assert depths == [expected]
    assert _memory._depth == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scoring_memory_beyond_the_input_is_a_fraction_of_it(dtype):
    """Scoring scales rows batch by batch and keeps a few numbers per row: it
    used to hold two float64 copies of X and a float32 one (10 M x 38 float64
    rows peaked at 8.9 GiB; benchmarks/speed/score_memory.py)."""

    def series(n):  # 38 channels, as an SMD machine has
        return np.tile(sinusoids(n, n_features=5), 8)[:, :38].astype(dtype)

    det = MAATDetector(**TINY).fit(series(400))
    X = series(200_000)
    det.anomaly_score(X[:1000])  # first-call allocations out of the measurement
    tracemalloc.start()  # numpy reports its buffers to tracemalloc
    try:
        det.anomaly_score(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # About 40 bytes a row remain (window sums and counts, the result).
    assert peak < 64 * len(X), (peak, X.nbytes)
