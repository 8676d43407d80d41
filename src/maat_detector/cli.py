r"""Command line: ``maat-detector run`` fits a preset on a dataset and evaluates it.

Example::

    maat-detector run --dataset SMD --data-dir ServerMachineDataset \
        --machine machine-1-1
    maat-detector run --dataset npz --data-dir ../shared/data --benchmark SMD \
        --entity machine-2-2 --set d_model=64 --set epochs=1

The honest metrics (threshold from the training series) are printed beside the
reference's protocol (threshold from train and test scores, point-adjusted F1)
and the paper's published F1.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import logging
import re
import sys
import time
from pathlib import Path

from . import datasets, presets
from .evaluation import evaluate_scores

__all__ = ["main"]


def _parse_override(text):
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {text!r}")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value  # a bare string such as attention=full
    return key.strip(), parsed


class UsageError(Exception):
    """A mistake in the command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in one line and a nearest-name hint."""

    def error(self, message):
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            valid = re.findall(r"'?([\w-]+)'?", choice.group(2))
            message += _did_you_mean(choice.group(1), valid)
        self.exit(2, f"{self.prog}: error: {_one_line(message)}; see --help.\n")


def _did_you_mean(name, valid):
    """``" (did you mean 'X'?)"`` for the valid name nearest ``name``, or ''."""
    by_lower = {str(v).lower(): str(v) for v in valid}
    close = difflib.get_close_matches(str(name).lower(), by_lower, n=1, cutoff=0.5)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def _one_line(text):
    return " ".join(str(text).split())


def build_parser():
    """The argument parser of ``maat-detector``."""
    parser = _Parser(prog="maat-detector", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="fit with a preset, score the test part, print metrics"
    )
    run.add_argument(
        "--dataset", required=True, help=f"one of {', '.join(datasets.DATASET_NAMES)}"
    )
    run.add_argument(
        "--data-dir",
        default=None,
        help="folder of the original files (npz: the benchmark folder)",
    )
    run.add_argument("--machine", help="SMD machine, e.g. machine-1-1 (default: all)")
    run.add_argument("--channel", help="MSL/SMAP channel, e.g. C-1 (default: all)")
    run.add_argument("--benchmark", help="npz layout: dataset folder, e.g. SMD")
    run.add_argument("--entity", help="npz layout: entity, e.g. machine-2-2")
    run.add_argument(
        "--preset",
        default=None,
        help="paper preset name (default: the dataset's, else SMD's)",
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=_parse_override,
        metavar="KEY=VALUE",
        help="override a MAATDetector parameter (repeatable)",
    )
    run.add_argument("--sliding-window", type=_positive_int, default=100)
    run.add_argument("--json", dest="json_path", help="also write the results here")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expects a positive integer, got {text!r}")
    return value


def check_args(args):
    """Check names, folders and parameters before any work; raise UsageError."""
    key = args.dataset.replace("-", "_").lower()
    names = {name.lower(): name for name in datasets.DATASET_NAMES}
    if key not in names:
        raise UsageError(
            f"unknown dataset {args.dataset!r}"
            f"{_did_you_mean(args.dataset, datasets.DATASET_NAMES)}; "
            f"use one of {', '.join(datasets.DATASET_NAMES)}"
        )
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise UsageError(
            f"--data-dir {args.data_dir} is not a folder; pass the folder that "
            "holds the dataset's files"
        )
    if args.preset is not None:
        known = list(presets.PAPER_PRESETS)
        try:
            presets.paper_preset(args.preset)
        except (KeyError, ValueError):
            raise UsageError(
                f"unknown preset {args.preset!r}{_did_you_mean(args.preset, known)}; "
                f"use one of {', '.join(known)}"
            ) from None
    if args.overrides:
        from .estimator import MAATDetector  # imports torch: only when needed

        valid = MAATDetector._get_param_names()
    for name, _ in args.overrides:
        if name not in valid:
            raise UsageError(
                f"--set {name}=...: MAATDetector has no parameter {name!r}"
                f"{_did_you_mean(name, valid)}; see help(MAATDetector) for the "
                "parameters"
            )
    if args.json_path is not None:
        folder = Path(args.json_path).resolve().parent
        if not folder.is_dir():
            raise UsageError(
                f"--json {args.json_path}: folder {folder} does not exist; "
                "create it or write the results elsewhere"
            )


def _load(args):
    kwargs = {}
    key = args.dataset.replace("-", "_").lower()
    if key == "smd" and args.machine:
        kwargs["machine"] = args.machine
    if key in ("msl", "smap") and args.channel:
        kwargs["channel"] = args.channel
    if key == "npz" and (args.benchmark or args.entity):
        kwargs.update(dataset=args.benchmark, entity=args.entity)
    try:
        return datasets.load_dataset(args.dataset, args.data_dir, **kwargs)
    except FileNotFoundError as exc:
        if key == "npz" and args.benchmark and args.entity:
            try:
                known = datasets.list_entities(args.benchmark, args.data_dir)
            except (OSError, ValueError):
                known = []
            hint = _did_you_mean(args.entity, known)
            if hint:
                raise UsageError(f"{_one_line(exc)}{hint}") from exc
        raise


def run(args):
    """Fit, score and print; returns the results dict."""
    from .estimator import MAATDetector

    data = _load(args)
    preset_name = args.preset or (
        args.benchmark if args.dataset.lower() == "npz" else args.dataset
    )
    try:
        params = presets.paper_preset(preset_name)
    except (KeyError, ValueError):
        params = presets.paper_preset("SMD")
        preset_name = "SMD"
    params.update(dict(args.overrides))
    params.setdefault("verbose", 0 if args.quiet else 1)
    print(
        f"{data.name}: train {data.train.shape}, test {data.test.shape}, "
        f"{data.test_label.mean():.2%} anomalous; preset {preset_name!r}"
    )
    print("parameters:", params)

    detector = MAATDetector(**params)
    began = time.perf_counter()
    detector.fit(data.train)
    fit_seconds = time.perf_counter() - began
    began = time.perf_counter()
    test_score = detector.anomaly_score(data.test)
    score_seconds = time.perf_counter() - began
    train_score = detector.anomaly_score(data.train)
    results = evaluate_scores(
        data.test_label,
        test_score,
        threshold=detector.threshold_,
        train_score=train_score,
        contamination=params.get("contamination", 0.005),
        sliding_window=args.sliding_window,
    )
    honest, paper = results["honest"], results["paper"]
    print(f"fit {fit_seconds:.1f} s, scoring {score_seconds:.1f} s")
    print(
        f"honest  VUS-PR {honest['vus_pr']:.3f}  VUS-ROC {honest['vus_roc']:.3f}  "
        f"PR-AUC {honest['pr_auc']:.3f}  ROC-AUC {honest['roc_auc']:.3f}  "
        f"(sliding window {args.sliding_window})"
    )
    print(
        f"honest  F1 {honest['point_f1']:.3f}  affiliation F1 "
        f"{honest['affiliation_f1']:.3f}  range F1 {honest['range_f1']:.3f} "
        "(threshold from the training series)"
    )
    published = presets.PAPER_F1.get(preset_name)
    published_text = f"{published:.2f}" if published is not None else "none published"
    print(
        f"paper   point-adjusted F1 {100 * paper['point_adjusted_f1']:.2f} "
        f"(threshold from train+test scores; inflated) vs paper's {published_text}"
    )
    results.update(
        dataset=data.name,
        parameters=params,
        fit_seconds=fit_seconds,
        score_seconds=score_seconds,
        paper_published_f1=published,
    )
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(results, f, indent=2, default=str)
    return results


def main(argv=None):
    """Entry point of the ``maat-detector`` console script.

    Returns the exit status: 0 on success, 2 for a mistake in the command
    line or the data (a one-line message on stderr, no traceback), 130 when
    interrupted. Other errors are bugs and keep their traceback.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code
    logging.basicConfig(level=logging.WARNING)
    try:
        check_args(args)
        run(args)
    except (UsageError, OSError, ValueError) as exc:
        print(f"maat-detector: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("maat-detector: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
