"""Time to a fitted and scored SMD machine, as a user runs it, per configuration.

Fits ``MAATDetector(random_state=0, **overrides)`` on the shipped SMD
machine-2-2 (23,699 training rows, 38 channels) and scores its 23,700 test
rows, for each configuration in turn in one process (a small warm-up fit
first), with ``--threads`` torch threads. Also counts the matrix-product FLOPs
of one training window (forward and backward) and of one scoring window of
each configuration's network (``torch.utils.flop_counter``).

Usage::

    # the defaults, the paper-size reference and a batch of 4 (the figures of
    # docs/quality.rst, "Cheaper training at the paper's size"):
    OMP_WAIT_POLICY=PASSIVE python benchmarks/speed/default_fit.py \\
        --config '{}' \\
        --config '{"batch_size": 32, "max_train_windows": 2000}' \\
        --config '{"batch_size": 4, "max_train_windows": 252}'

Writes ``<out>.json`` and ``<out>.md``. Run it on an otherwise idle machine:
the figures are wall times. ``--flops-only`` counts the FLOPs alone, split
by the part of the network that spends them, and writes ``<out>.md``::

    python benchmarks/speed/default_fit.py --flops-only --config '{}' \\
        --config '{"e_layers": 2}' --config '{"e_layers": 2, "expand": 1}' \\
        --out benchmarks/results/speed/window_flops
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _common  # noqa: E402

from maat_detector import MAATDetector  # noqa: E402
from maat_detector._params import fit_settings  # noqa: E402
from maat_detector.demo import load_shipped_machine  # noqa: E402
from maat_detector.engine.network import forward  # noqa: E402
from maat_detector.nn import MAAT, minimax_loss  # noqa: E402

#: The network's parts, by the last name of their modules, for the breakdown.
PARTS = ("attention", "ff_in", "ff_out", "mamba", "gate")


def window_gflop(detector, n_features):
    """Matrix-product GFLOP of one training and one scoring window.

    The counted network is the one ``detector`` would fit on ``n_features``
    channels (the estimator's own config builder sizes it). Returns
    ``(train, score, score_parts)``, ``score_parts`` mapping each name of
    ``PARTS`` (and ``"other"``) to its GFLOP of the scoring window.
    """
    config = fit_settings(detector, n_features).config
    model = MAAT(config)
    x = torch.randn(1, config.win_size, n_features)
    with FlopCounterMode(display=False) as training:
        losses = minimax_loss(x, *forward(model, x, "float32"), 3.0)
        losses["objective"].backward()
    with torch.no_grad(), FlopCounterMode(display=False, depth=None) as scoring:
        forward(model, x, "float32")
    total = scoring.get_total_flops()
    parts = dict.fromkeys(PARTS, 0)
    for module, counts in scoring.get_flop_counts().items():
        last = module.rsplit(".", 1)[-1]
        if last in parts:
            parts[last] += sum(counts.values())
    parts["other"] = total - sum(parts.values())
    gflop = {name: flops / 1e9 for name, flops in parts.items()}
    return training.get_total_flops() / 1e9, total / 1e9, gflop


def count_flops(args, n_features, command):
    """Print and write each configuration's FLOPs, by part of the network."""
    rows = []
    for text in args.config or ["{}"]:
        det = MAATDetector(random_state=0, **json.loads(text))
        train_gflop, score_gflop, parts = window_gflop(det, n_features)
        rows.append([text, f"{train_gflop:.2f}", f"{score_gflop:.3f}"])
        rows[-1] += [f"{parts[name]:.3f}" for name in (*PARTS, "other")]
    table = _common.md_table(["config", "train", "score", *PARTS, "other"], rows)
    md = (
        f"# Matrix-product GFLOP of one window\n\n`{command}`\n\n"
        f"SMD machine-2-2 ({n_features} channels): one training window "
        "(forward and backward) and one scoring window (forward), the latter "
        "split by the part of the network that spends it (a part shared by "
        "the layers, as the Mamba fusion is, counts every call).\n\n"
        f"{table}\n"
    )
    print(md)
    Path(args.out).with_suffix(".md").write_text(md)
    return 0


def main(argv=None):
    p = _common.parser(
        __doc__, out=_common.RESULTS / "speed" / "default_fit", threads=2
    )
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="JSON",
        help="parameters over the defaults, as a JSON object (repeatable)",
    )
    p.add_argument(
        "--flops-only",
        action="store_true",
        help="only count each configuration's FLOPs, by part of the network; "
        "no fits (the counts do not depend on the machine's load)",
    )
    args = p.parse_args(argv)
    _common.set_threads(args.threads)
    train, test, _ = load_shipped_machine()
    if args.flops_only:
        return count_flops(args, train.shape[1], _common.command_line(__file__, argv))
    MAATDetector(epochs=1, max_train_windows=32, d_model=64, random_state=0).fit(
        train[:2000]
    )  # warm-up: first calls and allocations
    rows = []
    for text in args.config or ["{}"]:
        overrides = json.loads(text)
        det = MAATDetector(random_state=0, **overrides)
        train_gflop, score_gflop, _ = window_gflop(det, train.shape[1])
        began = time.perf_counter()
        det.fit(train)
        fit_s = time.perf_counter() - began
        began = time.perf_counter()
        det.anomaly_score(test)
        score_s = time.perf_counter() - began
        rows.append(
            {
                "config": overrides,
                "fit_s": fit_s,
                "score_s": score_s,
                "total_s": fit_s + score_s,
                "epoch_s": [h["seconds"] for h in det.history_],
                "train_gflop_per_window": train_gflop,
                "score_gflop_per_window": score_gflop,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    result = {
        "command": _common.command_line(__file__, argv),
        "run": _common.run_info(),
        "threads": args.threads,
        "rows": rows,
    }
    table = _common.md_table(
        ["config", "GFLOP train / score window", "fit s", "score s", "total s"],
        [
            [
                json.dumps(r["config"]),
                f"{r['train_gflop_per_window']:.2f} / "
                f"{r['score_gflop_per_window']:.2f}",
                f"{r['fit_s']:.1f}",
                f"{r['score_s']:.1f}",
                f"{r['total_s']:.1f}",
            ]
            for r in rows
        ],
    )
    md = (
        f"# Time to a fitted SMD machine\n\n`{result['command']}`\n\n"
        f"SMD machine-2-2, {args.threads} threads. GFLOP: the matrix products "
        f"of one window, counted with torch.utils.flop_counter.\n\n{table}\n"
    )
    print("wrote", *_common.write_results(args.out, result, md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
