"""Spreading the CPU scans' work over the torch thread budget."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import torch

# Worker threads are kept between calls. A fresh pool per call started its
# threads anew six times a training step; on a loaded virtual machine a
# start took milliseconds, as long as a thread's whole share of the scan at
# the default's batch of 8, so the shares often ran one after the other.
_pool = None
_pool_workers = 0
_pool_lock = threading.Lock()


def _worker_pool(workers):
    """A pool with at least ``workers`` threads, kept for later calls."""
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_workers < workers:
            # The smaller pool is dropped, not shut down: a call on another
            # thread may still be submitting to it; its threads exit once it
            # is garbage. Threads start only when no idle one is free, so
            # the headroom costs nothing to one caller and lets callers on
            # several threads (a threaded fleet) run their shares at once.
            size = max(workers, 2 * (os.cpu_count() or 1))
            _pool = ThreadPoolExecutor(size, thread_name_prefix="maat-scan")
            _pool_workers = size
        return _pool


def _forget_pool():
    # A forked child has the pool's bookkeeping but not its threads.
    global _pool, _pool_workers, _pool_lock
    _pool, _pool_workers, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def split_range(count, parts):
    """``[0, count)`` cut into at most ``parts`` contiguous, near-equal ranges.

    Parameters
    ----------
    count : int
    parts : int

    Returns
    -------
    ranges : list of (int, int)
        ``(begin, end)`` pairs, none empty.
    """
    parts = max(1, min(parts, count))
    return [(i * count // parts, (i + 1) * count // parts) for i in range(parts)]


def for_each_range(ranges, work, device):
    """Call ``work(begin, end)`` for every range, ranges spread over threads.

    The PyTorch scan issues thousands of tiny ops; with several OpenMP
    threads each op pays a fork/join, and on a busy machine the spin-waiting
    threads made the loop 5-100x slower than on one thread
    (benchmarks/speed/speed.py, the speed issue). So every op runs on one thread,
    and the torch thread budget is spent on ranges instead: up to
    ``torch.get_num_threads()`` threads, the caller and threads of a pool kept
    between calls, take every k-th range (torch ops and ctypes calls release
    the GIL). A range is computed by one thread
    from start to end into its own slices, so the results do not depend on
    the number of threads.

    Parameters
    ----------
    ranges : list of (int, int)
    work : callable
        Called as ``work(begin, end)``, in the caller's grad and inference
        mode. Its exceptions propagate.
    device : torch.device
        Off the CPU the ranges run one after another on the calling thread.
    """
    if device.type != "cpu":
        for begin, end in ranges:
            work(begin, end)
        return
    threads = torch.get_num_threads()
    workers = min(threads, len(ranges))

    # Grad and inference mode are per thread too: the workers take the caller's.
    modes = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def run(first):
        torch.set_num_threads(1)  # OpenMP's count is per calling thread
        # Inference mode first: entering inference_mode(False) turns grad on.
        with torch.inference_mode(modes[1]), torch.set_grad_enabled(modes[0]):
            for begin, end in ranges[first::workers]:
                work(begin, end)

    try:
        if workers <= 1:
            run(0)
        else:
            # The caller takes the first share itself; pool threads the rest.
            pool = _worker_pool(workers - 1)
            futures = [pool.submit(run, w) for w in range(1, workers)]
            try:
                run(0)
            finally:
                wait(futures)  # every share ends before the caller goes on
            for future in futures:
                future.result()  # a worker's exception, raised here
    finally:
        torch.set_num_threads(threads)  # MKL's count is process-wide
