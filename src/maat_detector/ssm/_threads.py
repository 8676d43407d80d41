"""Spreading the CPU scans' work over the torch thread budget."""

from concurrent.futures import ThreadPoolExecutor

import torch


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
    ``torch.get_num_threads()`` Python threads take every k-th range (torch
    ops and ctypes calls release the GIL). A range is computed by one thread
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
        with torch.set_grad_enabled(modes[0]), torch.inference_mode(modes[1]):
            for begin, end in ranges[first::workers]:
                work(begin, end)

    try:
        if workers <= 1:
            run(0)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="maat-scan") as pool:
                for future in [pool.submit(run, w) for w in range(workers)]:
                    future.result()
    finally:
        torch.set_num_threads(threads)  # MKL's count is process-wide
