"""Do two independent fits of the default, same entity and seed, score alike?

Pairs every ``maat`` record of the quality table (``run.py``: the defaults,
``MAATDetector(random_state=seed)``) with the finished fit of the same
entity and seed in the training-curve file (``training_curve.py``: the
paper-size preset with ``batch_size=8, max_train_windows=504, epochs=3``,
which are exactly the defaults' parameters; the script checks this). The
two were made by different scripts, at different commits, at different
times; their VUS-PR should agree within the issue's 0.03. Usage::

    python benchmarks/quality/reproducibility.py

Writes ``benchmarks/results/quality/reproducibility.md`` (``--out``) and
prints the largest difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from training_curve import tag  # noqa: E402

from maat_detector import MAATDetector  # noqa: E402
from maat_detector.presets import paper_size  # noqa: E402

QUALITY = _common.RESULTS / "quality" / "quality.jsonl"
CURVE = _common.RESULTS / "quality" / "training_curve.jsonl"
#: The training-curve overrides that turn the paper-size preset into the defaults.
DEFAULT_OVERRIDES = {"batch_size": 8, "epochs": 3, "max_train_windows": 504}
TOLERANCE = 0.03


def check_overrides_are_the_defaults():
    preset = {**paper_size(random_state=0), **DEFAULT_OVERRIDES}
    if MAATDetector(**preset).get_params() != MAATDetector(random_state=0).get_params():
        raise SystemExit(
            "the training-curve overrides no longer give the defaults; "
            "update DEFAULT_OVERRIDES"
        )


def pairs(quality_path=QUALITY, curve_path=CURVE):
    """``(dataset, entity, seed, vus_pr in quality, vus_pr in curve, commits)``."""
    label = tag(DEFAULT_OVERRIDES)
    curve = {
        (r["dataset"], r["entity"], int(r["seed"])): r
        for r in _common.read_jsonl(curve_path)
        if r["config"] == label and r["windows"] == "final"
    }
    out = []
    for r in _common.read_jsonl(quality_path):
        key = (r["dataset"], r["entity"], int(r["seed"]))
        if r["method"] == "maat" and r.get("vus_pr") is not None and key in curve:
            c = curve[key]
            out.append((*key, r["vus_pr"], c["vus_pr"], (r["commit"], c["commit"])))
    return out


def largest_difference(rows):
    return max((abs(a - b) for *_, a, b, _ in rows), default=float("nan"))


def markdown(rows, command):
    lines = [
        "# Reproducibility of the default: two independent fits per entity",
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
    args = p.parse_args(argv)
    check_overrides_are_the_defaults()
    rows = pairs()
    md = markdown(rows, _common.command_line(__file__, argv))
    Path(args.out).with_suffix(".md").write_text(md)
    worst = largest_difference(rows)
    print(f"{len(rows)} pairs, largest |difference| {worst:.4f}")
    return 0 if worst <= TOLERANCE or not rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
