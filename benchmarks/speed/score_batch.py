"""Scoring time against the scoring batch size, at the paper's size and a small one.

Fits ``MAATDetector(random_state=0, max_train_windows=16, epochs=1, **size)``
on the first 3,000 rows of the shipped SMD machine (the network's size, not
its training, sets the scoring cost), then times ``anomaly_score`` on 12,000
test rows with scoring batches of ``--batches`` windows, alternating within
each repeat, and checks that the scores do not move. The scoring batch is set
by patching the one function that chooses it
(``maat_detector._params._scoring_batch_size``). Usage::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/speed/score_batch.py

Writes ``benchmarks/results/speed/score_batch.json`` and ``.md`` (``--out``).
Run it on an otherwise idle machine: the figures are wall times.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _common  # noqa: E402

from maat_detector import MAATDetector, _params  # noqa: E402
from maat_detector.demo import load_shipped_machine  # noqa: E402

SIZES = {
    "paper size": {},
    "d_model 128": {"d_model": 128, "n_heads": 4, "e_layers": 2, "d_ff": 512},
}


def main(argv=None):
    p = _common.parser(
        __doc__, out=_common.RESULTS / "speed" / "score_batch", threads=2, repeats=2
    )
    p.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128])
    args = p.parse_args(argv)
    _common.set_threads(args.threads)
    train, test, _ = load_shipped_machine()
    rows = test[:12_000]
    table, result_rows = [], []
    for name, size in SIZES.items():
        det = MAATDetector(random_state=0, max_train_windows=16, epochs=1, **size)
        det.fit(train[:3000])
        det.anomaly_score(rows[:2000])  # first calls out of the timing
        seconds = {b: [] for b in args.batches}
        scores = {}
        for _ in range(args.repeats):
            for batch in args.batches:
                with mock.patch.object(
                    _params, "_scoring_batch_size", lambda *_, b=batch: b
                ):
                    began = time.perf_counter()
                    scores[batch] = det.anomaly_score(rows)
                    seconds[batch].append(time.perf_counter() - began)
        base = args.batches[0]
        for batch in args.batches:
            median = statistics.median(seconds[batch])
            same = bool(np.allclose(scores[batch], scores[base], rtol=1e-5))
            result_rows.append(
                {"size": name, "batch": batch, "seconds": median, "same_scores": same}
            )
            ratio = median / statistics.median(seconds[base])
            table.append([name, batch, f"{median:.2f}", f"{ratio:.2f}x", same])
            print(name, batch, f"{median:.2f} s", f"{ratio:.2f}x", same, flush=True)
    command = _common.command_line(__file__, argv)
    result = {"command": command, "run": _common.run_info(), "rows": result_rows}
    md = (
        f"# Scoring time by scoring batch\n\n`{command}`\n\nShipped SMD machine, "
        f"12,000 test rows x 38 channels, window 100, {args.threads} threads, "
        f"median of {args.repeats}. Time relative to batch {base}.\n\n"
        + _common.md_table(
            ["network", "batch (windows)", "seconds", "relative", "same scores"],
            table,
        )
        + "\n"
    )
    print("wrote", *_common.write_results(args.out, result, md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
