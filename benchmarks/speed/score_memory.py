"""Peak memory and time of scoring a long series, as a user scores it.

Each case runs in a fresh subprocess: it builds a series of ``--rows`` rows
and ``--channels`` channels in the given dtype (sinusoids plus noise, built
block by block so that building it costs no more than the array itself),
fits ``MAATDetector(random_state=0, **config)`` on its first ``--fit-rows``
rows and calls ``anomaly_score`` on the whole series. It reports the peak
resident set of the scoring call alone (Linux's high-water mark, reset with
``/proc/self/clear_refs`` just before the call), the resident set before it
(the input, torch and the model), the peak of the whole process, and the
seconds the call took.

Usage::

    # the issue's case: 10 M x 38 rows at the default configuration
    OMP_WAIT_POLICY=PASSIVE python benchmarks/speed/score_memory.py \\
        --rows 10000000 --dtype float64 --dtype float32 --threads 2

    # a small network, to see the part of memory that grows with the rows
    python benchmarks/speed/score_memory.py --rows 1000000 10000000 \\
        --config '{"d_model": 16, "n_heads": 2, "e_layers": 1, "d_ff": 16}'

Each finished case is appended to ``<out>.jsonl`` (a case already there is
skipped, so an interrupted run resumes), and ``<out>.md`` is rewritten from
it. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common  # noqa: E402

OUT = _common.RESULTS / "speed" / "score_memory"
GIB = 2**30


def _status_bytes(field):
    """A ``kB`` field of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def build_series(rows, channels, dtype, seed=0):
    """Sinusoids of several periods plus noise, filled 100,000 rows at a time."""
    rng = np.random.default_rng(seed)
    X = np.empty((rows, channels), dtype=dtype)
    phase = np.arange(channels)
    period = 20.0 + 3.0 * phase
    for begin in range(0, rows, 100_000):
        t = np.arange(begin, min(begin + 100_000, rows))[:, None]
        noise = 0.1 * rng.standard_normal((len(t), channels))
        X[begin : begin + len(t)] = np.sin(2 * np.pi * t / period + phase) + noise
    return X


def run_case(rows, channels, dtype, fit_rows, config, threads):
    """Fit on the head, score everything, in this process; the measurement."""
    from maat_detector import MAATDetector

    _common.set_threads(threads)
    X = build_series(rows, channels, dtype)
    detector = MAATDetector(random_state=0, **config)
    began = time.perf_counter()
    detector.fit(X[:fit_rows])
    fit_s = time.perf_counter() - began
    rss_before = _status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to VmRSS
    began = time.perf_counter()
    scores = detector.anomaly_score(X)
    score_s = time.perf_counter() - began
    return {
        "rows": rows,
        "channels": channels,
        "dtype": dtype,
        "fit_rows": fit_rows,
        "config": config,
        "threads": threads,
        "input_gib": X.nbytes / GIB,
        "rss_before_score_gib": rss_before / GIB,
        "score_peak_rss_gib": _status_bytes("VmHWM") / GIB,
        "process_peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        * 1024
        / GIB,
        "fit_s": fit_s,
        "score_s": score_s,
        "score_us_per_row": 1e6 * score_s / rows,
        "scores_finite": bool(np.isfinite(scores).all()),
    }


def case_key(record):
    return (
        record["rows"],
        record["channels"],
        record["dtype"],
        record["fit_rows"],
        json.dumps(record["config"], sort_keys=True),
        record["threads"],
    )


def spawn(case):
    """Run one case in a fresh interpreter; its measurement."""
    command = [sys.executable, __file__, "--child", json.dumps(case)]
    return _common.run_child(command, str(case))


def markdown(records):
    commands = dict.fromkeys(r["command"] for r in records)
    lines = [
        "# Peak memory of scoring a long series",
        "",
        "Regenerate (each command appends to the `.jsonl` and skips the cases "
        "already there):",
        "",
        *(f"- `{c}`" for c in commands),
        "",
        "`score peak` is the resident set's high-water mark during "
        "`anomaly_score` alone; `before` holds the input, torch and the model.",
        "",
        "| rows | channels | dtype | config | input GiB | before GiB "
        "| score peak GiB | process peak GiB | score s | µs/row |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        config = json.dumps(r["config"]) if r["config"] else "defaults"
        lines.append(
            f"| {r['rows']:,} | {r['channels']} | {r['dtype']} | `{config}` "
            f"| {r['input_gib']:.2f} | {r['rss_before_score_gib']:.2f} "
            f"| {r['score_peak_rss_gib']:.2f} | {r['process_peak_rss_gib']:.2f} "
            f"| {r['score_s']:.0f} | {r['score_us_per_row']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = _common.parser(__doc__, out=OUT, threads=1)
    p.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    p.add_argument("--channels", type=int, default=38)
    p.add_argument(
        "--dtype", action="append", choices=["float64", "float32"], default=None
    )
    p.add_argument("--fit-rows", type=int, default=20_000)
    p.add_argument(
        "--config",
        action="append",
        default=None,
        help="MAATDetector parameters as JSON (repeatable; default: the defaults)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        case = json.loads(args.child)
        result = run_case(**case)
        _common.report_to_parent(result)
        return
    jsonl = Path(args.out).with_suffix(".jsonl")
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    done = _common.read_jsonl(jsonl)
    have = {case_key(r) for r in done}
    configs = [json.loads(c) for c in (args.config or ["{}"])]
    command = _common.command_line(__file__, argv)
    for config in configs:
        for rows in args.rows:
            for dtype in args.dtype or ["float64"]:
                case = {
                    "rows": rows,
                    "channels": args.channels,
                    "dtype": dtype,
                    "fit_rows": args.fit_rows,
                    "config": config,
                    "threads": args.threads,
                }
                if case_key(case) in have:
                    continue
                record = spawn(case)
                record["commit"] = _common.git_info().get("commit")
                record["command"] = command
                with jsonl.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                done.append(record)
                print(
                    f"{rows:,} x {args.channels} {dtype} {config or 'defaults'}: "
                    f"score peak {record['score_peak_rss_gib']:.2f} GiB, "
                    f"{record['score_s']:.0f} s",
                    flush=True,
                )
                Path(args.out).with_suffix(".md").write_text(markdown(done))


if __name__ == "__main__":
    main()
