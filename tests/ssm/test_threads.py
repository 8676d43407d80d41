"""The CPU scans' thread budget: ranges spread over a pool kept between calls."""

import multiprocessing
import sys
import threading
import time

import pytest
import torch
from conftest import torch_threads

from maat_detector.ssm._threads import for_each_range, split_range

CPU = torch.device("cpu")


@pytest.fixture
def two_threads():
    with torch_threads(2):
        yield


def _threads_used(ranges):
    used, lock = {}, threading.Lock()

    def work(begin, end):
        with lock:
            used[(begin, end)] = threading.current_thread()

    for_each_range(ranges, work, CPU)
    return used


def test_split_range_covers_every_index_once():
    for count, parts in ((10, 3), (2, 5), (7, 7), (1, 1)):
        ranges = split_range(count, parts)
        assert [i for b, e in ranges for i in range(b, e)] == list(range(count))
        assert len(ranges) == min(count, parts)


@pytest.mark.usefixtures("two_threads")
def test_worker_threads_are_kept_between_calls():
    # A fresh pool per call started its threads anew every time; on a loaded
    # machine a start took as long as a share of the work.
    ranges = split_range(8, 2)
    first, second = _threads_used(ranges), _threads_used(ranges)
    workers = {t for t in first.values() if t is not threading.current_thread()}
    assert workers, "the second range ran on the calling thread"
    assert workers == {
        t for t in second.values() if t is not threading.current_thread()
    }
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("two_threads")
def test_every_range_runs_once_in_the_callers_grad_mode():
    calls, lock = [], threading.Lock()

    def work(begin, end):
        with lock:
            calls.append((begin, end, torch.is_grad_enabled()))

    with torch.no_grad():
        for_each_range(split_range(9, 3), work, CPU)
    assert sorted(calls) == [(0, 3, False), (3, 6, False), (6, 9, False)]


@pytest.mark.usefixtures("two_threads")
def test_an_error_in_a_share_propagates_after_every_share_finished():
    finished = []

    def work(begin, end):
        if begin == 0:
            raise ValueError("range 0 failed")
        time.sleep(0.05)
        finished.append(begin)

    with pytest.raises(ValueError, match="range 0 failed"):
        for_each_range(split_range(2, 2), work, CPU)
    assert finished == [1]
    assert torch.get_num_threads() == 2


def _forked_child(queue):
    torch.set_num_threads(2)
    done = []
    for_each_range(split_range(4, 2), lambda b, e: done.append((b, e)), CPU)
    queue.put(sorted(done))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
@pytest.mark.usefixtures("two_threads")
def test_a_forked_child_starts_its_own_pool():
    _threads_used(split_range(4, 2))  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_forked_child, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=60) == [(0, 2), (2, 4)]
    finally:
        child.join(timeout=60)
    assert child.exitcode == 0


@pytest.mark.usefixtures("two_threads")
def test_callers_on_several_threads_run_their_shares_at_once():
    # Two callers, two shares each, every share waiting for all four: a pool
    # of one thread would queue one caller's second share behind the other's.
    barrier = threading.Barrier(4, timeout=10)

    def call():
        torch.set_num_threads(2)
        for_each_range(split_range(2, 2), lambda b, e: barrier.wait(), CPU)

    callers = [threading.Thread(target=call) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)
    assert not barrier.broken
