"""Quality against training spent: one fit per entity, scored at checkpoints.

Fits ``MAATDetector(**presets.paper_size(random_state=seed), **overrides)`` on
``train`` and, after the optimizer steps that first reach each checkpoint
(training windows seen), calibrates a copy of the weights on the validation
tail and scores ``test`` with it (VUS-PR, VUS-ROC with sliding window 100,
PR-AUC, ROC-AUC). Training itself is not disturbed, and the window draws are
a prefix of one permutation, so the checkpoint at ``N`` windows of the first
epoch *is* the fit with ``max_train_windows=N, epochs=1``: one run measures a
whole family of cheaper configurations. The finished fit is recorded too
(``windows: "final"``). Labels are used only to evaluate.

Usage::

    # paper size, first epoch only, checkpoints 128 .. 1024 windows, 2 seeds:
    nice -n 15 python benchmarks/quality/training_curve.py --tuning-set \\
        --seeds 0 1 --set epochs=1 --set max_train_windows=1024
    python benchmarks/quality/training_curve.py --summarize-only

Resumable: each record is appended to ``<out>.jsonl`` as it is made; a
restart skips every (entity, seed, overrides) whose final record is there
when its turn comes, so two runs may share the file (say, one list of
entities in either order, one run a core).
``<out>.md`` compares each checkpoint with the paper-size reference and PCA
of ``benchmarks/results/quality/quality.jsonl`` on the same entities.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import _common  # noqa: E402
from honest import threshold_free  # noqa: E402
from score_ablation import TUNING_SET  # noqa: E402

from maat_detector import MAATDetector, engine  # noqa: E402
from maat_detector._params import check_input, fit_settings  # noqa: E402
from maat_detector.cli import _parse_override  # noqa: E402
from maat_detector.datasets import load_benchmark_entity  # noqa: E402
from maat_detector.presets import paper_size  # noqa: E402

DEFAULT_OUT = _common.REPO / "benchmarks" / "results" / "quality" / "training_curve"
QUALITY = _common.REPO / "benchmarks" / "results" / "quality" / "quality.jsonl"


def curve(data, params, checkpoints, emit):
    """Fit on ``data.train``; ``emit(record)`` at each checkpoint and at the end."""
    det = MAATDetector(**params)
    X = check_input(det, data.train, reset=True)
    y = np.asarray(data.test_label).astype(int)
    pending = sorted(checkpoints)
    spent = {"eval": 0.0}
    began = time.perf_counter()

    def score(fitted):
        scored = time.perf_counter()
        det._set_fitted(fitted)
        values = np.asarray(det.anomaly_score(data.test), dtype=np.float64)
        return threshold_free(y, values), time.perf_counter() - scored

    def on_step(seen, snapshot):
        if not pending or seen < pending[0]:
            return
        while pending and seen >= pending[0]:
            # A batch may overshoot the checkpoint (an epoch of 505 windows
            # reaches 504 at 505): record it under the checkpoint it stands for.
            checkpoint = pending.pop(0)
        paused = time.perf_counter()
        train_s = paused - began - spent["eval"]
        fitted = snapshot()
        calibrate_s = time.perf_counter() - paused
        values, score_s = score(fitted)
        emit(
            dict(
                windows=checkpoint,
                windows_seen=seen,
                train_s=train_s,
                calibrate_s=calibrate_s,
                score_s=score_s,
                **values,
            )
        )
        spent["eval"] += time.perf_counter() - paused

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = engine.fit(X, fit_settings(det, X.shape[1]), on_step=on_step)
        fit_s = time.perf_counter() - began - spent["eval"]
        values, score_s = score(fitted)
    emit(
        dict(
            windows="final",
            epochs_run=int(fitted.n_epochs),
            best_epoch=int(fitted.best_epoch),
            fit_s=fit_s,
            score_s=score_s,
            **values,
        )
    )


def tag(overrides):
    return " ".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "paper_size"


def append(jsonl, head, values):
    """Append one record (``head`` and ``values``) to ``jsonl`` and say so."""
    rec = dict(head, **values)
    with open(jsonl, "a") as f:
        f.write(json.dumps(_common._clean(rec)) + "\n")
        f.flush()
        os.fsync(f.fileno())
    print(
        f"{head['dataset']}/{head['entity']} seed {head['seed']} {head['config']} "
        f"windows {values['windows']}: VUS-PR {values['vus_pr']:.3f}",
        flush=True,
    )


def _finished(jsonl):
    """The ``(dataset, entity, seed, config)`` of every finished fit in ``jsonl``."""
    return {
        (r["dataset"], r["entity"], r["seed"], r["config"])
        for r in _common.read_jsonl(jsonl)
        if r.get("windows") == "final"
    }


def run(args, jsonl):
    config = tag(args.overrides)
    commit = _common.git_info()["commit"]  # one git call for the whole run
    for name in args.entities:
        ds, ent = name.split(":", 1)
        data = None
        for seed in args.seeds:
            # Read before every fit, not once: another run appending to the
            # same file (say, the same entities in the other order) may have
            # finished this one meanwhile.
            if (ds, ent, seed, config) in _finished(jsonl):
                continue
            if data is None:
                data = load_benchmark_entity(ds, ent, args.data_dir)
            params = dict(paper_size(random_state=seed), **args.overrides)
            head = dict(dataset=ds, entity=ent, seed=seed, config=config, commit=commit)

            curve(
                data, params, args.checkpoints, functools.partial(append, jsonl, head)
            )


# ------------------------------------------------------------------ summary


def _reference(path):
    """``{(dataset, entity, method): mean VUS-PR over seeds}`` of the quality suite."""
    by = {}
    for r in _common.read_jsonl(path):
        if r.get("vus_pr") is not None:
            by.setdefault((r["dataset"], r["entity"], r["method"]), []).append(
                r["vus_pr"]
            )
    return {k: float(np.mean(v)) for k, v in by.items()}


def curves(jsonl):
    """``{config: {(dataset, entity, seed): {windows: record}}}``, filled in.

    A series with fewer training windows than a checkpoint ends its epoch
    before it, so its final record stands for that checkpoint too (the fit
    with ``max_train_windows`` at the checkpoint is the same fit).
    """
    by = {}
    for r in _common.read_jsonl(jsonl):
        run_ = by.setdefault(r["config"], {}).setdefault(
            (r["dataset"], r["entity"], r["seed"]), {}
        )
        run_[r["windows"]] = r
    for runs in by.values():
        points = {w for run_ in runs.values() for w in run_}
        for run_ in runs.values():
            if "final" in run_:
                for w in points - set(run_):
                    run_[w] = run_["final"]
    return by


def _dataset_means(values):
    """``{dataset: mean}`` and their mean, from ``{(dataset, entity): value}``."""
    per = {}
    for (ds, _), v in values.items():
        per.setdefault(ds, []).append(v)
    means = {ds: float(np.mean(v)) for ds, v in per.items()}
    return means, float(np.mean(list(means.values())))


def _means_table(entities, points, value, ref, finished):
    """Per-dataset mean VUS-PR of ``entities`` per checkpoint, ref and PCA below."""
    datasets = sorted({d for d, _ in entities})
    with_ref = [e for e in entities if (*e, "maat_paper") in ref]
    header = ["windows", *datasets, "mean of datasets", "where ref", "train s"]
    table = []
    for w in points:
        means, overall = _dataset_means({e: value(e, w) for e in entities})
        seconds = [
            r[w].get("train_s", r[w].get("fit_s"))
            for (d, e, _), r in finished.items()
            if (d, e) in entities
        ]
        where = np.mean([value(e, w) for e in with_ref]) if with_ref else None
        table.append(
            [
                str(w),
                *(f"{means[d]:.3f}" for d in datasets),
                f"{overall:.3f}",
                "-" if where is None else f"{where:.3f}",
                f"{np.mean(seconds):.0f}",
            ]
        )
    for method in ("maat_paper", "pca"):
        have = {e: ref[(*e, method)] for e in entities if (*e, method) in ref}
        means, _ = _dataset_means(have) if have else ({}, None)
        where = [ref[(*e, method)] for e in with_ref if (*e, method) in ref]
        table.append(
            [
                "ref (where run)" if method == "maat_paper" else method,
                *(f"{means[d]:.3f}" if d in means else "-" for d in datasets),
                "-",
                f"{np.mean(where):.3f}" if where else "-",
                "",
            ]
        )
    return _common.md_table(header, table)


def summarize(jsonl, out, quality=QUALITY):
    """``<out>.md``: mean VUS-PR per checkpoint against the reference and PCA."""
    ref = _reference(quality)
    lines = [
        "# Training curve: VUS-PR against training windows",
        "",
        "Summary: `python benchmarks/quality/training_curve.py --summarize-only`; "
        "each config's records come from the command under its heading; an "
        "entity counts once a fit of it has finished. `ref` is the "
        "paper-size reference (`maat_paper`, seed 0, 3 epochs of up to 2,000 "
        "windows) of `benchmarks/results/quality/quality.jsonl` and `pca` its "
        "PCA; `where ref` compares on the entities that have the reference.",
    ]
    for config, runs in sorted(curves(jsonl).items()):
        seeds = sorted({s for _, _, s in runs})
        finished = {k: r for k, r in runs.items() if "final" in r}
        entities = sorted({(d, e) for d, e, _ in finished})
        n_seeds = {e: sum((*e, s) in finished for s in seeds) for e in entities}
        if not entities:
            continue
        points = sorted(
            {w for run_ in runs.values() for w in run_},
            key=lambda w: (w == "final", w),
        )

        def value(e, w, finished=finished, seeds=seeds):
            runs_ = [finished[(*e, s)] for s in seeds if (*e, s) in finished]
            return float(np.mean([r[w]["vus_pr"] for r in runs_]))

        sets = "".join(f" --set {o}" for o in config.split() if "=" in o)
        ints = " ".join(str(w) for w in points if w != "final")
        lines += [
            "",
            f"## {config} (seeds {' '.join(map(str, seeds))})",
            "",
            f"`python benchmarks/quality/training_curve.py --tuning-set --seeds "
            f"{' '.join(map(str, seeds))}{sets} --checkpoints {ints}`",
            "",
            f"{len(entities)} entities, "
            f"{sum(n == len(seeds) for n in n_seeds.values())} with every seed "
            "(the others averaged over the seeds run).",
        ]
        tuning = {tuple(name.split(":", 1)) for name in TUNING_SET}
        for label, group in (
            ("tuning set", [e for e in entities if e in tuning]),
            ("outside the tuning set", [e for e in entities if e not in tuning]),
        ):
            if group:
                lines += ["", f"Mean VUS-PR per dataset, {label}:", ""]
                lines.append(_means_table(group, points, value, ref, finished))
        lines += ["", "Per entity (mean over seeds):", ""]
        header = ["entity", "seeds", *map(str, points), "ref", "pca"]
        table = []
        for e in entities:
            r, p = ref.get((*e, "maat_paper")), ref.get((*e, "pca"))
            table.append(
                [
                    f"{e[0]}/{e[1][:28]}",
                    str(n_seeds[e]),
                    *(f"{value(e, w):.3f}" for w in points),
                    "-" if r is None else f"{r:.3f}",
                    "-" if p is None else f"{p:.3f}",
                ]
            )
        lines.append(_common.md_table(header, table))
    Path(out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    return Path(out).with_suffix(".md")


def main(argv=None):
    p = _common.parser(__doc__, out=DEFAULT_OUT, threads=1, data_dir=True)
    p.add_argument("--entities", nargs="+", default=[], metavar="DATASET:NAME")
    p.add_argument("--tuning-set", action="store_true", help="add the tuning set")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--checkpoints", nargs="+", type=int, default=[128, 256, 512, 1024])
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a paper-size parameter (repeatable)",
    )
    p.add_argument("--summarize-only", action="store_true")
    args = p.parse_args(argv)
    args.data_dir = _common.resolve_data_dir(args.data_dir)
    args.overrides = dict(_parse_override(o) for o in args.overrides)
    if args.tuning_set:
        args.entities = [*args.entities, *TUNING_SET]
    jsonl = Path(args.out).with_suffix(".jsonl")
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    if not args.summarize_only:
        _common.set_threads(args.threads)
        run(args, jsonl)
    print(f"wrote {summarize(jsonl, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
