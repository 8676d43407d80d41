"""Consecutive paper-size batches with and without reusing freed memory.

``speed.py`` fits on 200 windows: two training batches, each
started with a cold heap, so it hardly sees what happens over a long fit.
This script runs, in one fresh subprocess per setting, ``--train-steps``
consecutive training steps and then ``--score-batches`` inference batches of
the paper's model (window 100, d_model 512, 3 layers, 8 heads, d_ff 512,
batch 128, 25 channels) inside ``maat_detector._memory.reusing_freed_memory``,
the scope ``fit`` and scoring run in, with ``MAAT_REUSE_MEMORY`` unset (the
detector's default) and ``0`` (glibc's default behaviour). For every batch
it reports the seconds, the minor page faults and the system CPU time.

Usage::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/speed/batch.py

Writes ``benchmarks/results/speed/batch.json`` and ``.md`` (``--out``).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common  # noqa: E402

OUT = _common.RESULTS / "speed" / "batch"


def child(backend, train_steps, score_batches, threads):
    import torch
    from speed import CHANNELS, WIN, paper_model  # speed.py beside this file

    from maat_detector._memory import reusing_freed_memory
    from maat_detector.nn import minimax_loss, window_components
    from maat_detector.ssm import resolve_scan_backend

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = paper_model(dropout=0.0, scan_backend=resolve_scan_backend(backend, "cpu"))
    x = torch.randn(128, WIN, CHANNELS)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train():
        model.train()
        reconstruction, associations = model(x)
        loss = minimax_loss(x, reconstruction, associations, 3.0)["objective"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def score():
        model.eval()
        with torch.inference_mode():
            window_components(x, *model(x), 50.0)

    rows = []
    with reusing_freed_memory():
        for phase, func, count in (
            ("train", train, train_steps),
            ("score", score, score_batches),
        ):
            for index in range(count):
                before = resource.getrusage(resource.RUSAGE_SELF)
                began = time.perf_counter()
                func()
                seconds = time.perf_counter() - began
                after = resource.getrusage(resource.RUSAGE_SELF)
                rows.append(
                    {
                        "phase": phase,
                        "batch": index,
                        "seconds": seconds,
                        "minor_faults": after.ru_minflt - before.ru_minflt,
                        "system_seconds": after.ru_stime - before.ru_stime,
                    }
                )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "peak_rss_mib": peak}))


def main(argv=None):
    parser = _common.parser(__doc__, out=OUT, threads=2)
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--score-batches", type=int, default=4)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.backend, args.train_steps, args.score_batches, args.threads)

    results = {}
    for setting in ("reuse", "glibc default"):
        env = dict(os.environ)
        env.pop("MAAT_REUSE_MEMORY", None)
        if setting != "reuse":
            env["MAAT_REUSE_MEMORY"] = "0"
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--train-steps",
                str(args.train_steps),
                "--score-batches",
                str(args.score_batches),
                "--threads",
                str(args.threads),
                "--backend",
                args.backend,
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        results[setting] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(setting, json.dumps(results[setting]), flush=True)

    lines = [
        f"Paper-size batches (128 windows of 100 x 25, d_model 512, 3 layers), "
        f"scan_backend={args.backend!r}, {args.threads} threads, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, one "
        "subprocess per setting; batches in order: the first training batch "
        "starts from a cold heap, scoring follows in the same scope.",
        "",
        "| setting | phase | seconds per batch | minor page faults | system s "
        "| median after the first |",
        "|---|---|---|---|---|---|",
    ]
    for setting, result in results.items():
        for phase in ("train", "score"):
            rows = [r for r in result["rows"] if r["phase"] == phase]
            seconds = ", ".join(f"{r['seconds']:.2f}" for r in rows)
            faults = ", ".join(str(r["minor_faults"]) for r in rows)
            system = ", ".join(f"{r['system_seconds']:.1f}" for r in rows)
            settled = statistics.median(r["seconds"] for r in rows[1:])
            lines.append(
                f"| {setting} | {phase} | {seconds} | {faults} | {system} "
                f"| {settled:.2f} s |"
            )
    lines += [""] + [
        f"Peak RSS, {setting}: {result['peak_rss_mib']:.0f} MiB."
        for setting, result in results.items()
    ]
    markdown = "\n".join(lines) + "\n"
    record = {
        "command": _common.command_line(__file__, argv),
        "run": _common.run_info(),
        **results,
    }
    _common.write_results(args.out, record, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
