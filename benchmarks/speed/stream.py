"""Streaming throughput and per-call latency of MAATDetector.stream().

Fits a small detector on a synthetic 38-channel series, then feeds a stream of
new rows in chunks of 1, 10, 100 and 1,000 rows and reports rows/s and the
median and p99 latency of one ``update`` call. Usage::

    python benchmarks/speed/stream.py [--rows 3000] [--threads 1]

Writes ``benchmarks/results/speed/stream.json`` and ``.md`` (``--out``).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common  # noqa: E402

from maat_detector import MAATDetector  # noqa: E402

OUT = _common.RESULTS / "speed" / "stream"

CONFIG = dict(
    win_size=100,
    d_model=64,
    n_heads=4,
    e_layers=2,
    d_ff=64,
    epochs=1,
    batch_size=128,
    max_train_windows=500,
    random_state=0,
)


def series(n, seed=0):
    """``n`` rows of 38 channels (the train half of ``_common.make_series``)."""
    return _common.make_series(n, 38, seed, max_period=200)[0]


def main(argv=None):
    parser = _common.parser(__doc__, out=OUT, threads=1)
    parser.add_argument(
        "--rows", type=int, default=3000, help="streamed rows per chunk size"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    det = MAATDetector(**CONFIG).fit(series(6000))
    stream_rows = series(args.rows, seed=1)
    rows = []
    for chunk in (1, 10, 100, 1000):
        stream = det.stream()
        n = max(chunk, (args.rows // chunk) * chunk)
        if chunk == 1:
            n = min(n, 500)  # one call per row: keep the run short
        latencies = []
        began = time.perf_counter()
        for start in range(0, n, chunk):
            t0 = time.perf_counter()
            stream.update(stream_rows[start : start + chunk])
            latencies.append(time.perf_counter() - t0)
        wall = time.perf_counter() - began
        rows.append(
            dict(
                chunk=chunk,
                rows=n,
                calls=len(latencies),
                rows_per_s=n / wall,
                median_ms=1e3 * float(np.median(latencies)),
                p99_ms=1e3 * float(np.percentile(latencies, 99)),
            )
        )
    lines = [
        f"# Streaming: `{_common.command_line(__file__, argv)}`",
        "",
        f"Config {CONFIG}, 38 channels, {args.threads} torch thread(s), "
        f"load average {os.getloadavg()[0]:.1f}, {platform.machine()}.",
        "",
        "| chunk rows | rows | calls | rows/s | median ms/call | p99 ms/call |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['chunk']} | {r['rows']} | {r['calls']} | {r['rows_per_s']:,.0f} | "
        f"{r['median_ms']:.1f} | {r['p99_ms']:.1f} |"
        for r in rows
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    record = dict(
        command=_common.command_line(__file__, argv),
        config=CONFIG,
        threads=args.threads,
        run=_common.run_info(),
        rows=rows,
    )
    _common.write_results(args.out, record, text)


if __name__ == "__main__":
    sys.exit(main())
