"""How far ``precision="bfloat16"`` moves MAAT's scores on SMD, and what it buys.

One SMD machine (default machine-1-6, the one with the most labelled
anomalies), two configurations:

- ``quick``: ``MAAT_QUICK`` of ``benchmarks/quality/protocols.py`` (d_model 64,
  2 layers,
  2 epochs, training stride 20, scoring stride 10) on the whole entity;
- ``paper``: the paper's size (window 100, d_model 512, 8 heads, 3 layers,
  d_ff 512), one epoch, training stride 20, scoring stride 10, on the first
  ``--paper-rows`` train and test rows (the paper size costs ~2.3 GFLOP per
  scored window; the whole entity would take an hour on 2 cores).

For each: a float32 fit scored in float32 (the reference); the same weights
scored in bfloat16 (what the lower precision does to scoring alone); and a
bfloat16 fit scored in bfloat16 (training and scoring both lowered: its
weights differ, so this is the bound a user who opts in sees). Against the
reference, for both score modes (reconstruction, the default, and the
paper's energy, taken from the same fitted models): Spearman rank
correlation of the test scores; the share of the reference's top 1 % of rows
also in the variant's top 1 %; the median relative change of a score (the
largest is meaningless for the energy, whose softmax leaves many scores at
or near zero); and VUS-PR.
Seconds of fit and scoring are on a shared machine: indicative only;
``benchmarks/speed/speed.py`` is the speed measurement.

Usage::

    OMP_WAIT_POLICY=PASSIVE python tools/precision_check.py
"""

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "benchmarks" / "quality"))
import _common  # noqa: E402
from protocols import MAAT_QUICK  # noqa: E402

from maat_detector import MAATDetector, __version__  # noqa: E402
from maat_detector import datasets as mdata  # noqa: E402
from maat_detector.metrics import vus_pr  # noqa: E402
from maat_detector.presets import paper_size  # noqa: E402

OUT = _common.RESULTS / "checks" / "precision_check"
PAPER = paper_size(
    epochs=1,
    batch_size=128,
    train_step=20,
    score_step=10,
    random_state=0,
    device="cpu",
)
MODES = ("reconstruction", "paper")


def scores_by_mode(det, X):
    """{score_mode: anomaly scores of X} from one fitted detector, and seconds."""
    out, seconds = {}, 0.0
    original = det.score_mode
    try:
        for mode in MODES:
            det.set_params(score_mode=mode)
            began = time.perf_counter()
            out[mode] = det.anomaly_score(X)
            seconds += time.perf_counter() - began
    finally:
        det.set_params(score_mode=original)
    return out, seconds


def compare(reference, other, label):
    row = {}
    for mode in MODES:
        ref, new = reference[mode], other[mode]
        rel = np.abs(new - ref) / np.maximum(np.abs(ref), 1e-12)
        top = max(1, len(ref) // 100)
        overlap = np.intersect1d(np.argsort(ref)[-top:], np.argsort(new)[-top:])
        row[mode] = {
            "spearman": float(spearmanr(ref, new).statistic),
            "top1pct_overlap": len(overlap) / top,
            "median_rel_change": float(np.median(rel)),
            "vus_pr": float(vus_pr(label, new)),
        }
    return row


def check(name, params, train, test, label):
    print(f"{name}: train {train.shape}, test {test.shape}", flush=True)
    results = {}
    began = time.perf_counter()
    fp32 = MAATDetector(**params).fit(train)
    fit_fp32 = time.perf_counter() - began
    reference, score_fp32 = scores_by_mode(fp32, test)
    results["fp32"] = {
        "fit_s": fit_fp32,
        "score_s": score_fp32,
        **{m: {"vus_pr": float(vus_pr(label, reference[m]))} for m in MODES},
    }
    fp32.set_params(precision="bfloat16")
    lowered, score_s = scores_by_mode(fp32, test)
    results["bf16_scoring"] = {"score_s": score_s, **compare(reference, lowered, label)}
    began = time.perf_counter()
    bf16 = MAATDetector(**params, precision="bfloat16").fit(train)
    fit_s = time.perf_counter() - began
    both, score_s = scores_by_mode(bf16, test)
    results["bf16_fit_and_scoring"] = {
        "fit_s": fit_s,
        "score_s": score_s,
        **compare(reference, both, label),
    }
    for variant, r in results.items():
        print(f"  {variant}: " + json.dumps(r), flush=True)
    return results


def to_markdown(report):
    c = report["config"]
    lines = [
        f"SMD {c['machine']}; torch {report['versions']['torch']}, {c['threads']} "
        f"threads, OMP_WAIT_POLICY={c['omp_wait_policy']}. Reference: float32 fit, "
        "float32 scores. Seconds are single runs on a shared machine (load "
        f"{report['loadavg_before'][0]:.1f} before, {report['loadavg_after'][0]:.1f} "
        "after): indicative only.",
        "",
        "| config | variant | score mode | Spearman vs fp32 | top-1% overlap "
        "| median rel. change | VUS-PR (fp32) | fit s | score s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, res in report["results"].items():
        ref = res["fp32"]
        lines.append(
            f"| {name} | fp32 | both | 1 | 1 | 0 | "
            + " / ".join(f"{ref[m]['vus_pr']:.3f}" for m in MODES)
            + f" | {ref['fit_s']:.1f} | {ref['score_s']:.1f} |"
        )
        for variant in ("bf16_scoring", "bf16_fit_and_scoring"):
            r = res[variant]
            for mode in MODES:
                fit = r.get("fit_s")
                lines.append(
                    f"| {name} | {variant} | {mode} | {r[mode]['spearman']:.4f} "
                    f"| {r[mode]['top1pct_overlap']:.3f} "
                    f"| {r[mode]['median_rel_change']:.4f} "
                    f"| {r[mode]['vus_pr']:.3f} ({ref[mode]['vus_pr']:.3f}) "
                    f"| {'-' if fit is None else f'{fit:.1f}'} | {r['score_s']:.1f} |"
                )
    lines += ["", f"Configurations: {json.dumps(report['configs'])}"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = _common.parser(__doc__, out=OUT, threads=2, data_dir=True)
    parser.add_argument("--machine", default="machine-1-6")
    parser.add_argument("--paper-rows", type=int, default=6000)
    parser.add_argument("--configs", default="quick,paper")
    args = parser.parse_args(argv)
    args.data_dir = _common.resolve_data_dir(args.data_dir)
    torch.set_num_threads(args.threads)
    data = mdata.load_benchmark_entity("SMD", args.machine, args.data_dir)
    configs = {"quick": dict(MAAT_QUICK), "paper": dict(PAPER)}
    load_before = os.getloadavg()
    results = {}
    for name in args.configs.split(","):
        rows = None if name == "quick" else args.paper_rows
        results[name] = check(
            name,
            configs[name],
            data.train[:rows],
            data.test[:rows],
            data.test_label[:rows],
        )
    report = {
        "command": _common.command_line(__file__, argv),
        "config": {
            "machine": args.machine,
            "paper_rows": args.paper_rows,
            "threads": args.threads,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
        },
        "configs": {n: configs[n] for n in results},
        "versions": {
            "maat_detector": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "run": _common.run_info(),
        "results": results,
    }
    markdown = to_markdown(report)
    _common.write_results(args.out, report, markdown)
    print(markdown)


if __name__ == "__main__":
    sys.exit(main())
