"""Streaming soak: one row per ``update`` for a long time, memory and latency.

Fits a tiny detector on a synthetic 3-channel series, then feeds ``--rows``
new rows (default 1,000,000) to ``detector.stream().update`` one row at a
time. Every ``--sample-every`` rows it records the process's resident memory
(RSS). It reports

- the latency of one ``update`` call: p50, p99, p99.9 and max;
- RSS after the warm-up rows, at the end, its maximum, and the slope of a
  least-squares line through the samples (MiB per million rows): a leak
  shows as a positive slope, flat memory as about 0;
- that every score was finite.

Results go to ``benchmarks/results/speed/stream_soak.json`` and ``.md``.
Usage::

    nice python benchmarks/speed/stream_soak.py [--rows 1000000] [--threads 1]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from maat_detector import MAATDetector

CONFIG = dict(
    win_size=16,
    d_model=16,
    n_heads=2,
    e_layers=1,
    d_ff=16,
    d_state=4,
    block_size=4,
    epochs=1,
    batch_size=32,
    random_state=0,
)
RESULTS = Path(__file__).resolve().parents[1] / "results" / "speed"


def rss_mib():
    """Resident memory of this process in MiB (Linux /proc, else psutil)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss / 2**20


def make_series(n, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    periods = np.array([20.0, 33.0, 47.0, 13.0, 29.0])[:channels]
    return np.sin(2 * np.pi * t / periods) + 0.05 * rng.standard_normal((n, channels))


def soak(rows, sample_every, warmup):
    train = make_series(2000, seed=0)
    detector = MAATDetector(**CONFIG).fit(train)
    stream = detector.stream()
    new = make_series(rows, seed=1)
    latency = np.empty(rows)  # seconds per update, preallocated
    scores = np.empty(rows)
    samples = []  # (rows done, RSS MiB, seconds since start)
    gc.collect()
    began = time.perf_counter()
    for i in range(rows):
        chunk = new[i : i + 1]
        t0 = time.perf_counter()
        scores[i] = stream.update(chunk)[0]
        latency[i] = time.perf_counter() - t0
        if (i + 1) % sample_every == 0:
            samples.append((i + 1, rss_mib(), time.perf_counter() - began))
    total = time.perf_counter() - began
    return detector, stream, latency, scores, samples, total


def summarize(rows, latency, scores, samples, total, warmup, threads):
    ms = latency * 1e3
    steady = [(n, r) for n, r, _ in samples if n >= warmup]
    n_done = np.array([n for n, _ in steady], dtype=float)
    rss = np.array([r for _, r in steady])
    slope = float(np.polyfit(n_done / 1e6, rss, 1)[0]) if len(steady) > 1 else 0.0
    return {
        "benchmark": "stream_soak",
        "command": f"python benchmarks/speed/stream_soak.py --rows {rows}",
        "config": CONFIG,
        "channels": 3,
        "rows": rows,
        "chunk_rows": 1,
        "torch_threads": threads,
        "seconds": round(total, 1),
        "updates_per_s": round(rows / total, 1),
        "latency_ms": {
            "p50": round(float(np.percentile(ms, 50)), 3),
            "p99": round(float(np.percentile(ms, 99)), 3),
            "p99_9": round(float(np.percentile(ms, 99.9)), 3),
            "max": round(float(ms.max()), 3),
        },
        "rss_mib": {
            "after_warmup": round(float(rss[0]), 1) if len(rss) else None,
            "end": round(float(rss[-1]), 1) if len(rss) else None,
            "max": round(float(rss.max()), 1) if len(rss) else None,
            "slope_mib_per_million_rows": round(slope, 3) + 0.0,
            "warmup_rows": warmup,
        },
        "rss_samples": [[n, round(r, 1), round(s, 1)] for n, r, s in samples],
        "all_scores_finite": bool(np.isfinite(scores).all()),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_end": round(os.getloadavg()[0], 2),
    }


def write_markdown(result, path):
    lat, mem = result["latency_ms"], result["rss_mib"]
    lines = [
        "# Streaming soak: `python benchmarks/speed/stream_soak.py`",
        "",
        f"{result['rows']:,} rows fed one row per `update` to a tiny detector "
        f"({result['channels']} channels, config {result['config']}), "
        f"{result['torch_threads']} torch thread(s), {result['cpus']} CPUs, "
        f"load average {result['load_average_at_end']} at the end, "
        f"{result['machine']}, torch {result['torch']}.",
        "",
        "| updates | seconds | updates/s | p50 ms | p99 ms | p99.9 ms | max ms |",
        "|---|---|---|---|---|---|---|",
        f"| {result['rows']:,} | {result['seconds']} | {result['updates_per_s']} | "
        f"{lat['p50']} | {lat['p99']} | {lat['p99_9']} | {lat['max']} |",
        "",
        "| RSS after warm-up MiB | RSS end MiB | RSS max MiB | slope MiB per 1M rows |",
        "|---|---|---|---|",
        f"| {mem['after_warmup']} | {mem['end']} | {mem['max']} | "
        f"{mem['slope_mib_per_million_rows']} |",
        "",
        f"Warm-up: the first {mem['warmup_rows']:,} rows are left out of the slope. "
        f"All scores finite: {result['all_scores_finite']}. RSS samples "
        "(rows, MiB, seconds) are in the JSON file.",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample-every", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "stream_soak.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sample_every = min(args.sample_every, max(1, args.rows // 10))
    warmup = min(args.warmup, args.rows // 2)
    _, _, latency, scores, samples, total = soak(args.rows, sample_every, warmup)
    result = summarize(args.rows, latency, scores, samples, total, warmup, args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(result, args.out.with_suffix(".md"))
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples"}))


if __name__ == "__main__":
    main()
