"""Quality suite: MAAT and baselines on every entity with a test anomaly, resumable.

Usage::

    # cheap baselines, then the paper-size reference, then LSTMAD (hours):
    nice -n 15 python benchmarks/quality/run.py \\
        --methods pca iforest iforest_window zscore random \\
        --methods maat_paper --methods lstmad --threads 1
    python benchmarks/quality/run.py --methods maat maat_no_mamba --seeds 0 1
    python benchmarks/quality/run.py --datasets SMD UCR --per-dataset 1 \\
        --methods pca zscore --out /tmp/q             # a quick try
    python benchmarks/quality/run.py --summarize-only  # rebuild .json/.md
    python benchmarks/quality/run.py --methods maat maat_no_mamba \\
        --set e_layers=2 --out benchmarks/results/quality/two_layers \\
        --part 0/2 &                        # and --part 1/2 beside it

Each ``--methods`` group is run on every selected entity before the next
group starts, so the cheap methods cover everything first. Entities go
round-robin across datasets (SMD, MSL, SMAP, SKAB, NAB, UCR, SMD, ...), so a
partial run covers every dataset.

Protocol per entity (the honest one): every detector is fitted on ``train``
only and scores ``test``, higher = more anomalous. MAATDetector scales itself
from its fit data; the baselines get a StandardScaler fitted on ``train``.
VUS-PR and VUS-ROC (sliding window 100), PR-AUC and ROC-AUC come from
:mod:`maat_detector.metrics`. No threshold is involved.

Methods: ``maat`` = ``MAATDetector(random_state=seed)`` (the defaults, as
they are when the record is made); ``maat_paper`` =
``MAATDetector(**presets.paper_size(random_state=seed))``, the pinned
paper-size reference; ``maat_no_mamba`` = the defaults with
``use_mamba=False``; baselines (``baselines.py``): ``pca``, ``iforest`` (single
rows), ``iforest_window`` (windows of 32), ``zscore`` (largest |z| of a row),
``random`` (chance) and ``lstmad`` (PyOD's LSTMAD, multivariate datasets
only).

``--set NAME=VALUE`` (repeatable) changes a parameter of ``maat`` and
``maat_no_mamba``, never of the pinned ``maat_paper``: it measures a
candidate default as ``maat`` would run once it is the default. Every MAAT
record keeps the parameters it ran with, and a restart skips on (dataset,
entity, method, seed) alone, so give a candidate its own ``--out``.

Resumable: each record is appended as one JSON line to ``<out>.jsonl`` as
soon as it finishes; a restart skips every (dataset, entity, method, seed)
already there. ``<out>.json`` and ``<out>.md`` are rebuilt from the
``.jsonl`` at the end of a run and by ``--summarize-only``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))  # first: this suite's baselines.py

import _common  # noqa: E402
import baselines  # noqa: E402
from honest import SLIDING_WINDOW, threshold_free  # noqa: E402

from maat_detector import MAATDetector  # noqa: E402
from maat_detector import datasets as mdata  # noqa: E402
from maat_detector._params import with_parameters_added_later  # noqa: E402
from maat_detector.cli import _parse_override  # noqa: E402
from maat_detector.presets import paper_size  # noqa: E402

DATASETS = ("SMD", "MSL", "SMAP", "SKAB", "NAB", "UCR")
MULTIVARIATE = ("SMD", "MSL", "SMAP", "SKAB")
MAAT_METHODS = ("maat", "maat_paper", "maat_no_mamba")
BASELINES = ("pca", "iforest", "iforest_window", "zscore", "random", "lstmad")
METHODS = MAAT_METHODS + BASELINES
CHEAP = ("pca", "iforest", "iforest_window", "zscore", "random")
CONTAMINATION = 0.01  # baselines' threshold_ only; no metric here uses it
DEFAULT_OUT = _common.RESULTS / "quality" / "quality"
RECORD_KEYS = (
    "dataset",
    "entity",
    "method",
    "seed",
    "vus_pr",
    "vus_roc",
    "auc_pr",
    "auc_roc",
    "fit_s",
    "score_s",
)


def maat_params(method, seed, overrides=None):
    """The MAATDetector parameters of one MAAT method.

    ``overrides`` change the defaults of ``maat`` and ``maat_no_mamba``; the
    pinned reference ``maat_paper`` ignores them.
    """
    overrides = dict(overrides or {})
    if method == "maat":
        return {**overrides, "random_state": seed}
    if method == "maat_paper":
        return paper_size(random_state=seed)
    if method == "maat_no_mamba":
        return {**overrides, "random_state": seed, "use_mamba": False}
    raise ValueError(f"{method!r} is not one of {MAAT_METHODS}")


def make_detector(method, seed, overrides=None):
    """``(detector, needs_scaling)``; ``seed`` seeds what has randomness."""
    if method in MAAT_METHODS:
        return MAATDetector(**maat_params(method, seed, overrides)), False
    c = CONTAMINATION
    if method == "pca":
        det = baselines.PCABaseline(contamination=c)
    elif method == "iforest":
        det = baselines.IForestBaseline(contamination=c, random_state=seed)
    elif method == "iforest_window":
        det = baselines.WindowIForestBaseline(contamination=c, random_state=seed)
    elif method == "zscore":
        det = baselines.ZScoreBaseline(contamination=c)
    elif method == "random":
        det = baselines.RandomBaseline(seed=seed, contamination=c)
    elif method == "lstmad":
        det = baselines.PyODLSTMAD(contamination=c, seed=seed)
    else:
        raise ValueError(f"unknown method {method!r}; pick from {METHODS}")
    return det, True


def applies(method, dataset):
    """LSTMAD runs on the multivariate datasets only."""
    return method != "lstmad" or dataset in MULTIVARIATE


# -------------------------------------------------------------------- entities


def has_anomaly(data_dir, dataset, entity):
    with np.load(Path(data_dir) / dataset / f"{entity}.npz") as f:
        return bool(np.asarray(f["test_label"]).any())


def eligible_entities(data_dir, dataset):
    """Entities with at least one test anomaly, in natural order."""
    names = mdata.list_entities(dataset, data_dir)
    return [e for e in names if has_anomaly(data_dir, dataset, e)]


def spread(names, n):
    """``n`` entities evenly spaced over ``names`` (all when n is 0 or more)."""
    if not n or n >= len(names):
        return list(names)
    m = len(names)
    return [names[int((i + 0.5) * m / n)] for i in range(n)]


def round_robin(per_dataset):
    """``[(dataset, entity)]`` taking one entity of each dataset in turn."""
    order, queues = [], {ds: list(ents) for ds, ents in per_dataset.items()}
    while any(queues.values()):
        for ds, queue in queues.items():
            if queue:
                order.append((ds, queue.pop(0)))
    return order


def select(data_dir, datasets, per_dataset=0, names=(), order="round-robin"):
    """The ``(dataset, entity)`` pairs to run, in run order."""
    chosen = {}
    for ds in datasets:
        ents = eligible_entities(data_dir, ds)
        if names:
            ents = [e for e in ents if e in names or f"{ds}/{e}" in names]
        chosen[ds] = spread(ents, per_dataset)
    if order == "dataset":
        return [(ds, e) for ds, ents in chosen.items() for e in ents]
    return round_robin(chosen)


# ------------------------------------------------------------------------ run


def score_record(method, seed, data, overrides=None):
    """Fit ``method`` on ``data.train``, score ``data.test``; the metrics."""
    det, needs_scaling = make_detector(method, seed, overrides)
    train, test = data.train, data.test
    if needs_scaling:
        scaler = StandardScaler().fit(train)
        train = scaler.transform(train).astype(np.float32)
        test = scaler.transform(test).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        began = time.perf_counter()
        det.fit(train)
        fit_s = time.perf_counter() - began
        began = time.perf_counter()
        score = np.asarray(det.anomaly_score(test), dtype=np.float64)
        score_s = time.perf_counter() - began
        y = np.asarray(data.test_label).astype(int)
        out = {**threshold_free(y, score), "fit_s": fit_s, "score_s": score_s}
    if method in MAAT_METHODS:
        out["params"] = {k: v for k, v in det.get_params().items() if k != "verbose"}
        out["epochs_run"] = int(det.n_epochs_)
        out["device"] = str(det.device_)
    else:
        out["params"] = det.params()
    return out


def key(rec):
    return (rec["dataset"], rec["entity"], rec["method"], int(rec["seed"]))


def run(args, jsonl):
    records = _common.read_jsonl(jsonl)
    done = {key(r) for r in records if args.retry_errors is False or "error" not in r}
    pairs = select(
        args.data_dir, args.datasets, args.per_dataset, set(args.entities), args.order
    )
    index, count = args.part
    pairs = pairs[index::count]
    info = _common.run_info()
    commit = info["git"]["commit"]
    began = time.time()
    for group in args.methods:
        todo = [
            (ds, ent, m, s)
            for ds, ent in pairs
            for s in args.seeds
            for m in group
            if applies(m, ds) and (ds, ent, m, s) not in done
        ]
        print(f"group {' '.join(group)}: {len(todo)} records to make", flush=True)
        loaded = (None, None)
        for ds, ent, method, seed in todo:
            if loaded[0] != (ds, ent):
                loaded = (
                    (ds, ent),
                    mdata.load_benchmark_entity(ds, ent, args.data_dir),
                )
            data = loaded[1]
            rec = {"dataset": ds, "entity": ent, "method": method, "seed": seed}
            try:
                rec.update(score_record(method, seed, data, args.overrides))
            except Exception as exc:  # recorded, so a rerun does not retry forever
                rec["error"] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            rec.update(
                n_train=int(len(data.train)),
                n_test=int(len(data.test)),
                n_channels=int(data.train.shape[1]),
                threads=args.threads,
                commit=commit,
                dirty=info["git"]["dirty"],
                date=_common.machine_info()["date"],
            )
            with open(jsonl, "a") as f:
                f.write(json.dumps(_common._clean(rec), default=str) + "\n")
                f.flush()
                os.fsync(f.fileno())
            done.add((ds, ent, method, seed))
            what = (
                rec.get("error")
                or f"VUS-PR {rec['vus_pr']:.3f} ROC {rec['auc_roc']:.3f} "
                f"fit {rec['fit_s']:.1f}s score {rec['score_s']:.1f}s"
            )
            print(
                f"[{(time.time() - began) / 60:6.1f} min] {ds}/{ent} {method} "
                f"seed {seed}: {what}",
                flush=True,
            )


# ------------------------------------------------------------------ summaries


def _mean(values):
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def entity_values(records, metric="vus_pr"):
    """``{(dataset, method): {entity: mean over seeds}}`` of ``metric``."""
    by = {}
    for r in records:
        if r.get(metric) is None:
            continue
        by.setdefault((r["dataset"], r["method"]), {}).setdefault(
            r["entity"], []
        ).append(r[metric])
    return {k: {e: _mean(v) for e, v in ents.items()} for k, ents in by.items()}


def summarize(records, data_dir):
    """Per-dataset means, mean of six, paired ratio to PCA, entity counts."""
    methods = [m for m in METHODS if any(r["method"] == m for r in records)]
    datasets = [d for d in DATASETS if any(r["dataset"] == d for r in records)]
    totals = {}
    for ds in DATASETS:
        try:
            totals[ds] = len(eligible_entities(data_dir, ds))
        except (OSError, ValueError):
            totals[ds] = None
    table = {}
    for metric in ("vus_pr", "vus_roc", "auc_pr", "auc_roc", "fit_s", "score_s"):
        vals = entity_values(records, metric)
        table[metric] = {
            m: {ds: _mean(vals.get((ds, m), {}).values()) for ds in datasets}
            for m in methods
        }
    vus = entity_values(records, "vus_pr")
    summary = {}
    for m in methods:
        per_ds = table["vus_pr"][m]
        counts = {ds: len(vus.get((ds, m), {})) for ds in datasets}
        covered = [ds for ds in DATASETS if per_ds.get(ds) is not None]
        mean6 = _mean([per_ds[ds] for ds in covered])
        # PCA on the same entities as m, so a partial run compares like with like.
        pca_ds = []
        for ds in covered:
            ents = vus.get((ds, m), {})
            pca = vus.get((ds, "pca"), {})
            pca_ds.append(_mean([pca[e] for e in ents if e in pca]))
        pca_mean = _mean(pca_ds) if None not in pca_ds else None
        summary[m] = {
            "vus_pr": per_ds,
            "mean_of_datasets": mean6,
            "datasets_covered": len(covered),
            "pca_same_entities": pca_mean,
            "ratio_to_pca": (mean6 / pca_mean) if mean6 and pca_mean else None,
            "entities": counts,
            "errors": sum(1 for r in records if r["method"] == m and "error" in r),
        }
    return {
        "methods": methods,
        "datasets": datasets,
        "entities_with_anomaly": totals,
        "by_method": summary,
        "means": table,
        "paired": {
            anchor: paired_means(vus, anchor, methods, datasets)
            for anchor in methods
            if anchor in MAAT_METHODS
        },
    }


def paired_means(vus, anchor, methods, datasets):
    """``{method: {dataset: mean VUS-PR over the entities anchor has}}``.

    While a MAAT method has run on part of a dataset, its mean and a
    baseline's mean over the whole dataset compare different entities; this
    compares like with like.
    """
    out = {}
    for m in methods:
        out[m] = {}
        for ds in datasets:
            ents = vus.get((ds, anchor), {})
            mine = vus.get((ds, m), {})
            values = [mine[e] for e in ents if e in mine]
            out[m][ds] = _mean(values) if len(values) == len(ents) else None
    return out


#: Parameters that leave what a fit computes unchanged.
IGNORED_PARAMS = ("random_state", "verbose")


def comparable_params(params):
    """MAAT ``params`` as records are compared: sorted, without IGNORED_PARAMS.

    A record made before a parameter existed ran with the value that
    ``PARAMETERS_ADDED_LATER`` gives it, so it counts as that value.
    """
    params = with_parameters_added_later(params)
    return {k: params[k] for k in sorted(params) if k not in IGNORED_PARAMS}


def configs_of(records):
    """``{method: params}``; a method whose records differ lists each variant.

    MAAT records' parameters are compared by :func:`comparable_params`.
    """
    out = {}
    for m in METHODS:
        seen = []
        for r in records:
            if r["method"] == m and "params" in r:
                if m in MAAT_METHODS:
                    p = comparable_params(r["params"])
                else:
                    p = dict(sorted(r["params"].items()))
                    p.pop("random_state", None)
                if p not in seen:
                    seen.append(p)
        if seen:
            out[m] = seen[0] if len(seen) == 1 else seen
    return out


def set_options(maat_config):
    """The ``--set`` options that make today's defaults run as ``maat_config``.

    Empty when the ``maat`` records ran with the defaults as they are now, so
    that the command written into the table regenerates it either way.
    """
    if not isinstance(maat_config, dict):
        return ""  # no maat records, or several configurations (listed apart)
    defaults = comparable_params(MAATDetector().get_params())
    changed = {
        k: v for k, v in maat_config.items() if k in defaults and defaults[k] != v
    }
    return "".join(f" --set {k}={v!r}" for k, v in sorted(changed.items()))


def _fmt(v, digits=3):
    return "–" if v is None else f"{v:.{digits}f}"


def markdown(result):
    s = result["summary"]
    methods, datasets = s["methods"], s["datasets"]
    by = s["by_method"]
    totals = s["entities_with_anomaly"]
    lines = [
        "# Quality: VUS-PR of MAAT and baselines on every entity with a test anomaly",
        "",
        f"Regenerate: `{result['command']}` (resumable; "
        f"`{result['summarize_command']}` rebuilds this file from "
        f"`{result['records_file']}`).",
        "",
        "Honest protocol: every detector fitted on train only, scored on test "
        "(higher = more anomalous); MAATDetector scales itself from its fit data, "
        "the baselines get a StandardScaler fitted on train. Threshold-free "
        f"metrics from `maat_detector.metrics`, VUS sliding window {SLIDING_WINDOW}. "
        "A dataset's figure is the mean over its entities (each entity's mean over "
        "seeds). Records made from "
        f"{len(result['commits'])} commit(s): "
        + ", ".join(f"`{c[:12]}`" for c in result["commits"])
        + ".",
        "",
        "## Mean VUS-PR per dataset",
        "",
    ]
    header = ["method", *datasets, "mean of datasets", "x PCA (same entities)"]
    rows = []
    for m in methods:
        b = by[m]
        n_cov = b["datasets_covered"]
        mean_label = _fmt(b["mean_of_datasets"])
        if n_cov < len(DATASETS):
            mean_label += f" ({n_cov} of {len(DATASETS)})"
        rows.append(
            [
                f"`{m}`",
                *[_fmt(b["vus_pr"].get(ds)) for ds in datasets],
                mean_label,
                _fmt(b["ratio_to_pca"], 2),
            ]
        )
    lines += [_common.md_table(header, rows), ""]
    lines += [
        "The ratio divides the method's mean of datasets by PCA's on the entities "
        "the method has records for.",
        "",
    ]
    for anchor, table in s.get("paired", {}).items():
        counts = by[anchor]["entities"]
        if all(counts[ds] == totals.get(ds) for ds in datasets):
            continue  # complete: the table above already pairs everything
        lines += [
            f"## Mean VUS-PR on the entities `{anchor}` has run (paired)",
            "",
            "Entities per dataset: "
            + ", ".join(f"{ds} {counts[ds]}" for ds in datasets)
            + ".",
            "",
        ]
        rows = [
            [f"`{m}`", *[_fmt(table[m].get(ds)) for ds in datasets]] for m in methods
        ]
        lines += [_common.md_table(["method", *datasets], rows), ""]
    lines += [
        "## Entities per method (records / entities with a test anomaly)",
        "",
    ]
    header = ["method", *datasets, "errors"]
    rows = [
        [
            f"`{m}`",
            *[f"{by[m]['entities'][ds]} / {totals.get(ds)}" for ds in datasets],
            by[m]["errors"],
        ]
        for m in methods
    ]
    lines += [_common.md_table(header, rows), ""]
    for metric, title, digits in (
        ("vus_roc", "VUS-ROC", 3),
        ("auc_pr", "PR-AUC", 3),
        ("auc_roc", "ROC-AUC", 3),
        ("fit_s", "fit seconds", 1),
        ("score_s", "test scoring seconds", 1),
    ):
        lines += [f"## Mean {title} per dataset", ""]
        t = s["means"][metric]
        rows = [
            [f"`{m}`", *[_fmt(t[m].get(ds), digits) for ds in datasets]]
            for m in methods
        ]
        lines += [_common.md_table(["method", *datasets], rows), ""]
    lines += ["## Configurations", ""]
    for m, cfg in result["configs"].items():
        if isinstance(cfg, list):
            lines.append(f"- `{m}`: {len(cfg)} configurations (see the JSON)")
        else:
            lines.append(f"- `{m}`: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    return "\n".join(lines) + "\n"


def write_summary(jsonl, out, data_dir):
    records = _common.read_jsonl(jsonl)
    seeds = sorted({int(r["seed"]) for r in records}) or [0]
    methods = [m for m in METHODS if any(r["method"] == m for r in records)]
    rel_out = _common._relative(out)
    configs = configs_of(records)
    command = (
        f"python benchmarks/quality/run.py --methods {' '.join(methods)} "
        f"--seeds {' '.join(map(str, seeds))}"
        f"{set_options(configs.get('maat'))} --out {rel_out}"
    )
    result = {
        "command": command,
        "summarize_command": f"python benchmarks/quality/run.py --summarize-only "
        f"--out {rel_out}",
        "records_file": _common._relative(Path(jsonl)),
        "protocol": "honest: fit on train only; threshold-free metrics on test",
        "sliding_window": SLIDING_WINDOW,
        "config": configs.get("maat"),
        "configs": configs,
        "commits": sorted({r["commit"] for r in records if r.get("commit")}),
        "run": _common.run_info(),
        "summary": summarize(records, data_dir),
        "records": [
            {k: r.get(k) for k in RECORD_KEYS} for r in records if "error" not in r
        ],
        "errors": [
            {k: r[k] for k in ("dataset", "entity", "method", "seed", "error")}
            for r in records
            if "error" in r
        ],
    }
    return _common.write_results(out, result, markdown(result), rows_key="records")


def _parse_part(text):
    """``"I/N"`` as ``(I, N)``, with ``0 <= I < N``."""
    index, sep, count = text.partition("/")
    try:
        index, count = int(index), int(count)
    except ValueError:
        index = count = -1
    if not sep or not 0 <= index < count:
        raise argparse.ArgumentTypeError(
            f"--part expects I/N with 0 <= I < N (such as 0/2), got {text!r}"
        )
    return index, count


def build_parser():
    p = _common.parser(__doc__, out=DEFAULT_OUT, threads=1, data_dir=True)
    p.add_argument(
        "--methods",
        nargs="+",
        action="append",
        metavar="NAME",
        help=f"from {' '.join(METHODS)}; repeat the option for groups run one "
        f"after the other (default: {' '.join(CHEAP)})",
    )
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument(
        "--entities",
        nargs="+",
        default=[],
        metavar="NAME",
        help="only these entities (NAME or DATASET/NAME)",
    )
    p.add_argument(
        "--per-dataset",
        type=int,
        default=0,
        help="entities per dataset, evenly spaced (default 0: all)",
    )
    p.add_argument(
        "--part",
        type=_parse_part,
        default=(0, 1),
        metavar="I/N",
        help="only every N-th entity of the run order, from the I-th (0-based): "
        "N processes given 0/N to N-1/N share the entities between them",
    )
    p.add_argument(
        "--order",
        choices=("round-robin", "dataset"),
        default="round-robin",
        help="round-robin across datasets (default) or one dataset after another",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=_parse_override,
        metavar="NAME=VALUE",
        help="change a parameter of maat and maat_no_mamba (repeatable); "
        "give such a run its own --out",
    )
    p.add_argument(
        "--retry-errors",
        action="store_true",
        help="rerun the records that failed before",
    )
    p.add_argument(
        "--summarize-only",
        action="store_true",
        help="only rebuild <out>.json and <out>.md from <out>.jsonl",
    )
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.overrides = dict(args.overrides)
    if args.overrides and Path(args.out).resolve() == Path(DEFAULT_OUT).resolve():
        raise SystemExit(
            "--set measures a candidate, whose maat records would mix with the "
            "defaults' in the table the README cites; give it its own --out"
        )
    args.data_dir = _common.resolve_data_dir(args.data_dir)
    out = Path(args.out)
    jsonl = out.with_suffix(".jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.summarize_only:
        args.methods = args.methods or [list(CHEAP)]
        for m in (m for g in args.methods for m in g):
            if m not in METHODS:
                raise SystemExit(f"unknown method {m!r}; pick from {METHODS}")
            if m == "lstmad" and not baselines.pyod_available()[0]:
                raise SystemExit("lstmad needs PyOD >= 3: pip install pyod")
        _common.set_threads(args.threads)
        run(args, jsonl)
    paths = write_summary(jsonl, out, args.data_dir)
    print("wrote " + " and ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
