"""One-command benchmark: MAAT, its ablations and baselines, honest and paper protocols.

Usage::

    nice -n 10 python benchmarks/quality/protocols.py --quick --jobs 2  # 8-10 min
    python benchmarks/quality/protocols.py --full     # all entities, paper size: GPU
    python benchmarks/quality/protocols.py --quick --datasets SMD UCR \
        --methods maat pca random
    python benchmarks/quality/protocols.py --quick --entities 0 \
        --methods pca iforest random --out /tmp/baselines_all   # 0 = every entity

For the threshold-free quality table of every entity (VUS-PR of the defaults,
the paper-size reference and the baselines) see ``run.py`` beside this file;
this script adds the thresholded metrics and the reference code's protocol.

Data: ``--data-dir``, else ``$MAAT_DATA``, else ``../shared/data`` next to the
repository (the ``.npz`` layout read by
:func:`maat_detector.datasets.load_benchmark_entity`).

Protocol, the same for every method, per entity:

1. a StandardScaler fitted on ``train`` only scales train and test for the
   baselines; MAATDetector scales itself from its fit data (the same z-score);
2. every detector is fitted on ``train`` only;
3. anomaly scores on ``test``, higher = more anomalous;
4. ``honest``: threshold from the training series only (MAATDetector's own
   ``threshold_``, calibrated on its validation tail; baselines: the 99th
   percentile of their training scores; contamination 0.01 for all);
   threshold-free metrics (VUS-PR, VUS-ROC with sliding window 100, PR-AUC,
   ROC-AUC) from the test scores;
5. ``paper``: the reference code's protocol, only for comparison: threshold =
   percentile ``100 - anomaly ratio`` of train and test scores together, then
   point adjustment (:func:`maat_detector.evaluation.evaluate_scores`).

Writes ``<out>.json`` (one row per entity, method and protocol, with run
metadata) and ``<out>.md`` (tables). ``<out>`` defaults to
``benchmarks/results/quality/quick`` or ``benchmarks/results/quality/full``.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import _common  # noqa: E402
import baselines  # noqa: E402
from honest import SLIDING_WINDOW  # noqa: E402

from maat_detector import MAATDetector  # noqa: E402
from maat_detector import datasets as mdata  # noqa: E402
from maat_detector.demo import DEMO_PARAMS  # noqa: E402
from maat_detector.evaluation import evaluate_scores  # noqa: E402
from maat_detector.presets import PAPER_PRESETS  # noqa: E402

ALL_DATASETS = ("MSL", "SMAP", "SMD", "SKAB", "NAB", "UCR")
ALL_METHODS = (
    "maat",
    "maat_paper",
    "maat_no_mamba",
    "maat_reconstruction",
    "maat_calibrated",
    "maat_unsmoothed",
    "pca",
    "iforest",
    "iforest_window",
    "pyod_at",
    "random",
)
# The ablations on request (--methods): they would lengthen the quick mode.
ON_REQUEST = ("maat_reconstruction", "maat_calibrated", "maat_unsmoothed")
DEFAULT_METHODS = tuple(m for m in ALL_METHODS if m not in ON_REQUEST)
CONTAMINATION = 0.01  # honest threshold: 1 - contamination quantile of train scores
# Paper protocol: the reference scripts' anormly_ratio (percent / 100) where it has
# one (SMD, MSL, SMAP); 1 % for the datasets the paper does not use.
PAPER_RATIO = {
    name: float(PAPER_PRESETS[name]["contamination"]) for name in ("SMD", "MSL", "SMAP")
}
DEFAULT_PAPER_RATIO = 0.01

# ----------------------------------------------------------------- configurations

# The demo's model (maat_detector.demo.DEMO_PARAMS: d 64, 2 layers, 2 epochs,
# batch 16 at stride 1, scoring stride 10), so the quick run measures what
# the demo ships.
MAAT_QUICK = dict(DEMO_PARAMS, contamination=CONTAMINATION, device="cpu")
# Paper size (MODEL.md §1): d 512, H 8, 3 layers, F 512, lr 1e-4, window 100
# (SMAP 105), train stride 1 (SMD 100, as the reference), every training window
# every epoch, scoring stride 10.
MAAT_FULL = dict(
    win_size=100,
    d_model=512,
    n_heads=8,
    e_layers=3,
    d_ff=512,
    epochs=3,
    batch_size=128,
    lr=1e-4,
    train_step=1,
    max_train_windows=None,
    score_step=10,
    contamination=CONTAMINATION,
    random_state=0,
    device="auto",
)
# maat: the defaults (objective="forecast", score_mode="reconstruction": the
# forecast error of the 3 worst channels). maat_paper: the paper's model and
# scoring (objective="reconstruction", the energy with association weighting).
# maat_no_mamba: the defaults without the Mamba branch (the Anomaly Transformer
# with sparse attention). On request: maat_reconstruction, the defaults with
# the paper's reconstruction objective; maat_calibrated, the calibrated score;
# maat_unsmoothed, the defaults without score smoothing (it only changes
# univariate series).
MAAT_VARIANTS = {
    "maat": {},
    "maat_paper": {
        "objective": "reconstruction",
        "score_mode": "paper",
        "score_smoothing": 1,
    },
    "maat_no_mamba": {"use_mamba": False},
    "maat_reconstruction": {"objective": "reconstruction"},
    "maat_calibrated": {"score_mode": "calibrated"},
    "maat_unsmoothed": {"score_smoothing": 1},
}
# Variants that differ from maat only in how scores are made. Training does not
# depend on score_mode or score_smoothing, so they reuse maat's trained network
# when maat runs too, and only recalibrate (MAATDetector.calibrate on the rows
# fit calibrated on): the same detector as a fit of their own, at a fraction of
# the cost.
RESCORED_VARIANTS = ("maat_calibrated", "maat_unsmoothed")
PYOD_AT_QUICK = dict(
    window_size=100, d_model=64, n_heads=4, n_layers=2, epochs=1, batch_size=64, step=20
)
# shared/BASELINES.md settings.
PYOD_AT_FULL = dict(
    window_size=100,
    d_model=128,
    n_heads=4,
    n_layers=3,
    epochs=3,
    batch_size=64,
    step=10,
)
QUICK_ENTITIES = 2


def maat_params(mode, dataset, method, seed=0):
    params = dict(MAAT_QUICK if mode == "quick" else MAAT_FULL, random_state=seed)
    if mode == "full":
        params["win_size"] = int(PAPER_PRESETS.get(dataset, {}).get("win_size", 100))
        if dataset == "SMD":
            params["train_step"] = 100
    params.update(MAAT_VARIANTS[method])
    return params


def make_detector(method, mode, dataset, seed=0):
    """``(detector, params, needs_scaling)`` for one method; ``seed`` is MAAT's."""
    if method in MAAT_VARIANTS:
        params = maat_params(mode, dataset, method, seed)
        return MAATDetector(**params), params, False
    if method == "pca":
        det = baselines.PCABaseline(contamination=CONTAMINATION)
    elif method == "iforest":
        det = baselines.IForestBaseline(contamination=CONTAMINATION)
    elif method == "iforest_window":
        det = baselines.WindowIForestBaseline(contamination=CONTAMINATION)
    elif method == "pyod_at":
        cfg = PYOD_AT_QUICK if mode == "quick" else PYOD_AT_FULL
        det = baselines.PyODAnomalyTransformer(contamination=CONTAMINATION, **cfg)
    elif method == "random":
        det = baselines.RandomBaseline(contamination=CONTAMINATION)
    else:
        raise ValueError(f"unknown method {method!r}; pick from {ALL_METHODS}")
    return det, det.params(), True


# ------------------------------------------------------------------- entities


def has_anomaly(data_dir, dataset, entity):
    with np.load(data_dir / dataset / f"{entity}.npz") as f:
        return bool(np.asarray(f["test_label"]).any())


def select_entities(data_dir, dataset, n):
    """Entities with at least one test anomaly; ``n`` > 0 picks ``n`` evenly spaced.

    Picks index ``floor((i + 0.5) * m / n)`` of the ``m`` eligible entities in
    natural order, i = 0..n-1: deterministic and spread over the list.
    Returns ``(chosen, left_out_without_anomaly)``.
    """
    names = mdata.list_entities(dataset, data_dir)
    eligible = [e for e in names if has_anomaly(data_dir, dataset, e)]
    skipped = [e for e in names if e not in eligible]
    if n and n < len(eligible):
        m = len(eligible)
        eligible = [eligible[int((i + 0.5) * m / n)] for i in range(n)]
    return eligible, skipped


# ---------------------------------------------------------------------- run


def machine_info():
    """The machine and library versions, PyOD's among them."""
    ok, pyod_version = baselines.pyod_available()
    return {
        **_common.machine_info(),
        **_common.torch_info(),
        "pyod": pyod_version if ok else None,
    }


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return _clean(value.item())
    return value


def run_one(method, mode, dataset, data, fit_cache, seed=0):
    """Fit, score, evaluate one method on one entity; returns two rows.

    ``fit_cache`` is shared by the methods run on one entity: the scaled
    series of the baselines, and maat's fitted detector for the
    ``RESCORED_VARIANTS``.
    """
    det, params, needs_scaling = make_detector(method, mode, dataset, seed)
    if needs_scaling:
        if "scaled" not in fit_cache:
            scaler = StandardScaler().fit(data.train)
            fit_cache["scaled"] = (
                scaler.transform(data.train).astype(np.float32),
                scaler.transform(data.test).astype(np.float32),
            )
        train, test = fit_cache["scaled"]
    else:
        train, test = data.train, data.test

    began, cpu_began = time.perf_counter(), time.process_time()
    if method in RESCORED_VARIANTS and "maat" in fit_cache:
        trained, shared_fit_s, shared_cpu_s = fit_cache["maat"]
        det = copy.deepcopy(trained).set_params(**MAAT_VARIANTS[method])
        det.calibrate(train[len(train) - det.n_calibration_rows_ :])
        # Charged with the shared training, as a fit of its own would be.
        fit_s = shared_fit_s + time.perf_counter() - began
        cpu_began -= shared_cpu_s
    else:
        det.fit(train)
        fit_s = time.perf_counter() - began
        if method == "maat":
            fit_cache["maat"] = (det, fit_s, time.process_time() - cpu_began)
    began = time.perf_counter()
    test_score = np.asarray(det.anomaly_score(test), dtype=np.float64)
    score_s = time.perf_counter() - began
    began = time.perf_counter()
    if needs_scaling:
        train_score = det.train_score_
    else:
        train_score = det.anomaly_score(train)
    train_score_s = time.perf_counter() - began
    cpu_s = time.process_time() - cpu_began

    paper_ratio = PAPER_RATIO.get(dataset, DEFAULT_PAPER_RATIO)
    results = evaluate_scores(
        data.test_label,
        test_score,
        threshold=float(det.threshold_),
        train_score=train_score,
        contamination=paper_ratio,
        sliding_window=SLIDING_WINDOW,
    )
    if not needs_scaling:
        params = {k: v for k, v in det.get_params().items() if k != "verbose"}
    common = {
        "method": method,
        "fit_s": fit_s,
        "score_s": score_s,
        "train_score_s": train_score_s,
        "cpu_s": cpu_s,
        "config": {k: _clean(v) for k, v in params.items()},
    }
    if method in MAAT_VARIANTS:
        common["epochs_run"] = int(det.n_epochs_)
        common["best_epoch"] = int(det.best_epoch_)
    if method == "pca":
        common["pca_components"] = det.n_components_
    honest = {
        "protocol": "honest",
        "threshold": float(det.threshold_),
        "threshold_source": "train only",
        "contamination": CONTAMINATION,
        **results["honest"],
    }
    paper = {
        "protocol": "paper",
        "threshold_source": "train+test percentile",
        "contamination": paper_ratio,
        **results["paper"],
    }
    return [{**common, **honest}, {**common, **paper}]


def run_entity(ds, ent, *, methods, mode, data_dir, threads, meta, began, seed=0):
    """Every method on one entity; ``(rows, process CPU seconds)``.

    Runs in a worker process when ``--jobs`` > 1, so it sets the thread
    limits itself.
    """
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    cpu_began = time.process_time()
    data = mdata.load_benchmark_entity(ds, ent, data_dir)
    cache, rows = {}, []
    with threadpool_limits(threads):
        for m in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                new = run_one(m, mode, ds, data, cache, seed)
            base = {
                "dataset": ds,
                "entity": ent,
                "n_train": int(len(data.train)),
                "n_test": int(len(data.test)),
                "n_channels": int(data.train.shape[1]),
                "anomaly_ratio": float(data.test_label.mean()),
                "commit": meta["git"]["commit"],
                "dirty": meta["git"]["dirty"],
                "date": meta["machine"]["date"],
                "cpu_threads": meta["machine"]["cpu_count"],
            }
            rows += [{**base, **{k: _clean(v) for k, v in r.items()}} for r in new]
            h, pa = new[0], new[1]["point_adjusted_f1"]
            print(
                f"[{(time.time() - began) / 60:5.1f} min] {ds}/{ent} "
                f"{m:14s} VUS-PR {h['vus_pr']:.3f} PR-AUC {h['pr_auc']:.3f} "
                f"F1[h] {h['point_f1']:.3f} PA-F1[p] {pa:.3f} "
                f"fit {h['fit_s']:.1f}s score {h['score_s']:.1f}s",
                flush=True,
            )
    return rows, time.process_time() - cpu_began


# ----------------------------------------------------------------- reporting

COLUMNS = [  # (row key, protocol, header)
    ("vus_pr", "honest", "VUS-PR"),
    ("vus_roc", "honest", "VUS-ROC"),
    ("pr_auc", "honest", "PR-AUC"),
    ("roc_auc", "honest", "ROC-AUC"),
    ("affiliation_f1", "honest", "Aff-F1 [h]"),
    ("range_f1", "honest", "R-F1 [h]"),
    ("point_f1", "honest", "F1 [h]"),
    ("point_adjusted_f1", "honest", "PA-F1 [h]"),
    ("point_f1", "paper", "F1 [p]"),
    ("point_adjusted_f1", "paper", "PA-F1 [p]"),
    ("fit_s", "honest", "fit s"),
    ("score_s", "honest", "score s"),
    ("cpu_s", "honest", "CPU s"),
]


def _mean(values):
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _fmt(value, key):
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.1f}" if key.endswith("_s") else f"{value:.3f}"


def summarise(rows, methods, datasets_):
    """``{(dataset, method): {(key, protocol): mean}}`` over entities."""
    out = {}
    for ds in datasets_:
        for m in methods:
            sel = [r for r in rows if r["dataset"] == ds and r["method"] == m]
            if not sel:
                continue
            cell = {"n": len({r["entity"] for r in sel})}
            for key, proto, _ in COLUMNS:
                cell[(key, proto)] = _mean(
                    [r.get(key) for r in sel if r["protocol"] == proto]
                )
            out[(ds, m)] = cell
    return out


def markdown(rows, meta, methods, datasets_, entities, skipped):
    summary = summarise(rows, methods, datasets_)
    lines = [f"# Benchmark: `{meta['command']}`", ""]
    git, mach = meta["git"], meta["machine"]
    lines += [
        f"Mode **{meta['mode']}**; commit `{git['commit'][:12]}`"
        f"{' (dirty tree)' if git['dirty'] else ''}; {mach['date']}; "
        f"{mach['cpu_count']} CPU threads (torch {mach['torch_threads']}),"
        f" CUDA {'yes' if meta['machine']['cuda'] else 'no'}; "
        f"wall time {meta['wall_s'] / 60:.1f} min, process CPU time "
        f"{meta['cpu_s'] / 60:.1f} min ({meta.get('jobs', 1)} worker process(es) of "
        f"{meta['threads']} thread(s); the machine was "
        f"shared, load average {meta['load_avg']}).",
        "",
        "Protocol per entity: StandardScaler fitted on train only (MAATDetector scales "
        "itself from its fit data), detectors fitted on train only, scores on test "
        "(higher = more anomalous). **[h] honest**: threshold from the training series "
        f"only (contamination {CONTAMINATION}: MAATDetector's `threshold_` from its "
        "validation tail; baselines: 99th percentile of their train scores). "
        "**[p] paper**: the reference's threshold, percentile 100 - anomaly ratio of "
        "train+test scores (SMD 0.5 %, MSL 0.85 %, SMAP 0.5 %, others 1 %), then point "
        "adjustment: test leakage, inflated, shown only for comparison. VUS-PR, "
        "VUS-ROC, PR-AUC, ROC-AUC are threshold-free (same for both protocols), "
        f"**VUS sliding window {SLIDING_WINDOW}**. PA = point-adjusted; Aff = "
        "affiliation; R = range. fit s includes the threshold calibration; "
        "score s is the test set only (both wall-clock); CPU s is the process CPU time "
        "of fit + test + train scoring.",
        "",
        "## Configuration",
        "",
    ]
    for name, cfg in meta["configs"].items():
        lines.append(f"- `{name}`: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    if any(m in MAAT_VARIANTS for m in methods):
        lines.append(
            "- other MAATDetector parameters at their defaults (all of them are in "
            "each JSON row's `config`)."
        )
    if meta.get("notes"):
        lines += [""] + [f"- {note}" for note in meta["notes"]]
    lines += ["", "## Entities", ""]
    for ds in datasets_:
        text = ", ".join(entities.get(ds, []))
        extra = (
            f" (left out, no test anomaly: {', '.join(skipped[ds])})"
            if skipped.get(ds)
            else ""
        )
        lines.append(f"- {ds} ({len(entities.get(ds, []))}): {text}{extra}")

    lines += [
        "",
        f"## VUS-PR [h] by dataset (mean over entities, window {SLIDING_WINDOW})",
        "",
    ]
    lines.append("| dataset | " + " | ".join(methods) + " |")
    lines.append("|---|" + "---|" * len(methods))
    for ds in datasets_:
        cells = []
        vals = {m: summary.get((ds, m), {}).get(("vus_pr", "honest")) for m in methods}
        finite = [v for v in vals.values() if v is not None and math.isfinite(v)]
        best = max(finite) if finite else None
        for m in methods:
            v = vals[m]
            s = _fmt(v, "vus_pr")
            cells.append(f"**{s}**" if v is not None and v == best else s)
        n = len(entities.get(ds, []))
        lines.append(f"| {ds} ({n}) | " + " | ".join(cells) + " |")

    lines += ["", "## All metrics (mean over entities)", ""]
    lines.append("| dataset | method | " + " | ".join(h for *_, h in COLUMNS) + " |")
    lines.append("|---|---|" + "---|" * len(COLUMNS))
    for ds in datasets_:
        for m in methods:
            cell = summary.get((ds, m))
            if cell is None:
                continue
            vals = " | ".join(_fmt(cell[(k, p)], k) for k, p, _ in COLUMNS)
            lines.append(f"| {ds} ({cell['n']}) | {m} | {vals} |")

    smd = [r for r in rows if r["dataset"] == "SMD" and r["protocol"] == "honest"]
    if smd:
        machines = entities.get("SMD", [])
        lines += ["", "## SMD per machine: VUS-PR / PR-AUC [h]", ""]
        lines.append("| machine | " + " | ".join(methods) + " |")
        lines.append("|---|" + "---|" * len(methods))
        for mach in [*machines, "mean"]:
            cells = []
            for m in methods:
                sel = [
                    r
                    for r in smd
                    if r["method"] == m and (mach == "mean" or r["entity"] == mach)
                ]
                vp = _mean([r["vus_pr"] for r in sel])
                pa = _mean([r["pr_auc"] for r in sel])
                cells.append(f"{_fmt(vp, 'x')} / {_fmt(pa, 'x')}" if sel else "–")
            label = f"**mean ({len(machines)})**" if mach == "mean" else mach
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _rounded(row):
    """Floats to 6 significant digits, enough for every metric and timing."""
    return {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in row.items()}


# ----------------------------------------------------------------------- main


def build_parser():
    # --threads below, with the reason for its default.
    p = _common.parser(__doc__, threads=None, data_dir=True)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_const",
        dest="mode",
        const="quick",
        help="small MAAT on CPU, a few entities per dataset (default)",
    )
    mode.add_argument(
        "--full",
        action="store_const",
        dest="mode",
        const="full",
        help="paper-size MAAT, every entity (hours on CPU)",
    )
    p.add_argument(
        "--datasets",
        nargs="+",
        default=list(ALL_DATASETS),
        metavar="NAME",
        help=f"from {' '.join(ALL_DATASETS)}",
    )
    p.add_argument(
        "--entities",
        type=int,
        default=None,
        help=f"entities per dataset, evenly spaced; 0 = all "
        f"(default: {QUICK_ENTITIES} quick, all full)",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(DEFAULT_METHODS),
        metavar="NAME",
        help=f"from {' '.join(ALL_METHODS)} (default: all but "
        f"{' and '.join(ON_REQUEST)})",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and BLAS threads (default 1: on a shared machine, "
        "2 torch threads ran 10x slower than 1)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="entities run in parallel worker processes, each with --threads "
        "threads (default 1; the quick mode on 2 cores: --jobs 2 --threads 1). "
        "Timings then include the workers' contention.",
    )
    p.add_argument(
        "--maat-seed",
        type=int,
        default=0,
        help="random_state of the MAAT variants (default 0), to measure how "
        "much a result owes to the seed",
    )
    p.add_argument(
        "--out",
        default=None,
        help="output path without suffix (default benchmarks/results/quality/<mode>)",
    )
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    mode = args.mode or "quick"
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    for name in args.datasets:
        if name not in ALL_DATASETS:
            raise SystemExit(f"unknown dataset {name!r}; pick from {ALL_DATASETS}")
    for name in args.methods:
        if name not in ALL_METHODS:
            raise SystemExit(f"unknown method {name!r}; pick from {ALL_METHODS}")
    methods = [m for m in ALL_METHODS if m in args.methods]
    datasets_ = [d for d in ALL_DATASETS if d in args.datasets]
    n_entities = (
        args.entities
        if args.entities is not None
        else (QUICK_ENTITIES if mode == "quick" else 0)
    )
    data_dir = _common.resolve_data_dir(args.data_dir)
    out = Path(args.out) if args.out else _common.RESULTS / "quality" / mode
    out.parent.mkdir(parents=True, exist_ok=True)

    notes = []
    if "pyod_at" in methods:
        ok, why = baselines.pyod_available()
        if not ok:
            notes.append(f"pyod_at skipped: PyOD {why}; `pip install 'pyod>=3'`.")
            methods.remove("pyod_at")
    configs = {}
    for m in methods:
        _, params, _ = make_detector(m, mode, "MSL", args.maat_seed)
        configs[m] = params
    if mode == "full" and any(m in MAAT_VARIANTS for m in methods):
        notes.append(
            "MAAT full: win_size 105 on SMAP and train_step 100 on SMD, as the "
            "reference scripts."
        )

    shared = [m for m in RESCORED_VARIANTS if m in methods]
    if shared and "maat" in methods:
        notes.append(
            f"{' and '.join(shared)}: maat's trained network, recalibrated for "
            "its scoring parameters (training does not depend on them); fit s "
            "and CPU s include the shared training."
        )

    meta = {
        "command": _common.command_line(__file__, argv),
        "mode": mode,
        "data_dir": str(data_dir),
        "sliding_window": SLIDING_WINDOW,
        "threads": args.threads,
        "jobs": args.jobs,
        "git": _common.git_info(),
        "machine": machine_info(),
        "configs": configs,
        "notes": notes,
    }
    entities, skipped = {}, {}
    for ds in datasets_:
        entities[ds], skipped[ds] = select_entities(data_dir, ds, n_entities)
        print(f"{ds}: {', '.join(entities[ds])}", flush=True)

    rows, worker_cpu_s = [], 0.0
    # Wall clock as time.time(): workers print elapsed minutes against it.
    began, cpu_began = time.time(), time.process_time()
    tasks = [(ds, ent) for ds in datasets_ for ent in entities[ds]]
    run = functools.partial(
        run_entity,
        methods=methods,
        mode=mode,
        data_dir=data_dir,
        threads=args.threads,
        meta=meta,
        began=began,
        seed=args.maat_seed,
    )
    if args.jobs == 1:
        results = [run(ds, ent) for ds, ent in tasks]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=args.jobs, backend="loky")(
            delayed(run)(ds, ent) for ds, ent in tasks
        )
    for entity_rows, cpu_s in results:
        rows += entity_rows
        worker_cpu_s += cpu_s
    meta["wall_s"] = time.time() - began
    meta["load_avg"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    meta["cpu_s"] = time.process_time() - cpu_began if args.jobs == 1 else worker_cpu_s
    meta["entities"] = entities
    meta["left_out_no_anomaly"] = {k: v for k, v in skipped.items() if v}

    _common.write_results(
        out,
        {"meta": meta, "rows": [_rounded(r) for r in rows]},
        markdown(rows, meta, methods, datasets_, entities, skipped),
        rows_key="rows",
    )
    print(
        f"wrote {out.with_suffix('.md')} and .json; wall {meta['wall_s'] / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
