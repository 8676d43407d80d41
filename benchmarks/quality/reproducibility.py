"""Do two independent fits of the same configuration, entity and seed score alike?

Pairs every ``maat`` record of a quality table (``run.py``: the defaults,
``MAATDetector(random_state=seed)``, or a candidate measured with ``--set``)
with the finished fit of the same entity and seed in the training-curve file
(``training_curve.py``: the paper-size preset with ``--set`` overrides)
whose parameters are exactly the record's. The two were made by different
scripts, at different commits, at different times; their VUS-PR should
agree within the issue's 0.03. Usage::

    python benchmarks/quality/reproducibility.py
    python benchmarks/quality/reproducibility.py \\
        --quality benchmarks/results/quality/two_layers.jsonl \\
        --out benchmarks/results/quality/reproducibility_two_layers

Writes ``benchmarks/results/quality/reproducibility.md`` (``--out``) and
prints the largest difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from run import comparable_params  # noqa: E402

from maat_detector import MAATDetector  # noqa: E402
from maat_detector.cli import _parse_override  # noqa: E402
from maat_detector.presets import paper_size  # noqa: E402

QUALITY = _common.RESULTS / "quality" / "quality.jsonl"
CURVE = _common.RESULTS / "quality" / "training_curve.jsonl"
TOLERANCE = 0.03


def _comparable(params):
    """``params`` as a hashable value, compared as the quality suite compares them."""
    return tuple(comparable_params(params).items())


def curve_params(config):
    """The parameters a training-curve fit of ``config`` (its tag) ran with."""
    overrides = dict(_parse_override(o) for o in config.split() if "=" in o)
    det = MAATDetector(**{**paper_size(random_state=0), **overrides})
    return _comparable(det.get_params())


def pairs(quality_path=QUALITY, curve_path=CURVE):
    """``(dataset, entity, seed, vus_pr in quality, vus_pr in curve, commits)``."""
    params_of = {}
    curve = {}
    for r in _common.read_jsonl(curve_path):
        if r["windows"] == "final":
            if r["config"] not in params_of:
                params_of[r["config"]] = curve_params(r["config"])
            key = (r["dataset"], r["entity"], int(r["seed"]), params_of[r["config"]])
            curve[key] = r
    out = []
    for r in _common.read_jsonl(quality_path):
        if r["method"] != "maat" or r.get("vus_pr") is None or "params" not in r:
            continue
        params = _comparable(r["params"])
        key = (r["dataset"], r["entity"], int(r["seed"]), params)
        if key in curve:
            c = curve[key]
            out.append((*key[:3], r["vus_pr"], c["vus_pr"], (r["commit"], c["commit"])))
    return out


def largest_difference(rows):
    return max((abs(a - b) for *_, a, b, _ in rows), default=float("nan"))


def markdown(rows, command):
    lines = [
        "# Reproducibility: two independent fits per entity",
        "",
        f"`{command}`",
        "",
        f"{len(rows)} pairs; largest |difference| "
        f"{largest_difference(rows):.1e} (tolerance {TOLERANCE}).",
        "",
        "| dataset | entity | seed | VUS-PR, quality run | VUS-PR, training curve "
        "| difference | commits |",
        "|---|---|---|---|---|---|---|",
    ]
    for ds, entity, seed, a, b, commits in rows:
        lines.append(
            f"| {ds} | {entity} | {seed} | {a:.4f} | {b:.4f} | {a - b:+.1e} "
            f"| {commits[0][:8]}, {commits[1][:8]} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = _common.parser(
        __doc__, out=_common.RESULTS / "quality" / "reproducibility", threads=None
    )
    p.add_argument(
        "--quality",
        default=QUALITY,
        help="the quality records (.jsonl) whose maat fits are checked",
    )
    args = p.parse_args(argv)
    rows = pairs(args.quality)
    md = markdown(rows, _common.command_line(__file__, argv))
    Path(args.out).with_suffix(".md").write_text(md)
    worst = largest_difference(rows)
    print(f"{len(rows)} pairs, largest |difference| {worst:.4f}")
    return 0 if worst <= TOLERANCE or not rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
