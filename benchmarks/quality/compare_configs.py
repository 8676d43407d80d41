"""Compare training-curve configurations with the defaults, entity by entity.

Reads ``benchmarks/results/quality/training_curve.jsonl`` (the final record
of each fit) and prints, per dataset, the mean VUS-PR of each candidate
configuration beside that of a base configuration on the same
(entity, seed) pairs, then the mean of the datasets. ``--quality`` compares
with the ``maat`` records of ``quality.jsonl`` instead (the defaults as they
ran, seed 0), and PCA on the same entities; ``--exclude-tuning`` leaves
out the tuning set and ``--tuning-only`` keeps just it; ``--per-entity``
prints every pair as well. ``--seeds`` keeps the pairs of those seeds; with
``--quality``, the defaults' fits of seeds other than 0 come from the
training curves (the quality table holds seed 0 only), and
``--candidate-method`` takes a candidate's seed-0 values from a quality-table
method (``maat_no_mamba``) where the training curves have none.

The base is the defaults' training-curve tag, :data:`DEFAULTS`. Until the
defaults became two encoder layers they were three, tagged
:data:`THREE_LAYERS`, and the quality table's three-layer ``maat`` and
``maat_no_mamba`` records moved to ``three_layers.jsonl``; a comparison made
against them then reads the same today with both named::

    python benchmarks/quality/compare_configs.py --quality --exclude-tuning \\
        --base "batch_size=8 epochs=3 max_train_windows=504" \\
        --quality-file benchmarks/results/quality/three_layers.jsonl \\
        "batch_size=8 e_layers=2 epochs=3 max_train_windows=504" --rule

``--base-seed N`` pairs every candidate fit with the base's fit of the same
entity and seed N: the defaults against themselves with another seed, the
difference that seeds alone make (what the comparison rules must tell apart
from a real change)::

    python benchmarks/quality/compare_configs.py --tuning-only --seeds 0 \
        --base-seed 1 "batch_size=8 epochs=3 max_train_windows=504"

``--rule`` applies the rule that scales with the seeds' spread (docs,
"A rule that scales with the seeds' spread") to the pairs and prints its
verdict: a dataset is lost when its mean paired difference is below
``-max(0.02, 2 x standard error)``, and the candidate passes when no
dataset is lost and the mean of the datasets' differences is at least
-0.01::

    python benchmarks/quality/compare_configs.py --tuning-only --rule \
        "batch_size=8 epochs=1 lr=0.0005 max_train_windows=504"

``--last-epoch`` gives each candidate fit the VUS-PR of its last epoch's
weights: its own where it kept the last epoch, else that of its twin fit
with ``restore_best=False`` (which must be in the file; each fit without
one is named).

``--unchanged DATASET ...`` (after the candidates) names datasets on which
a candidate trains as the base bit for bit, so it was not fitted there;
each enters ``--rule``'s mean of datasets with a difference of 0::

    python benchmarks/quality/compare_configs.py \
        "batch_size=8 epochs=3 max_batch_size=32 max_train_windows=504" \
        --tuning-only --rule --unchanged SMAP SMD SKAB

Usage::

    python benchmarks/quality/compare_configs.py \\
        "batch_size=8 d_model=256 epochs=3 lr=0.0002 max_train_windows=504" \\
        --last-epoch
    python benchmarks/quality/compare_configs.py --quality --exclude-tuning \\
        "batch_size=8 d_model=256 epochs=3 lr=0.0002 max_train_windows=504 \\
restore_best=False"
    python benchmarks/quality/compare_configs.py --quality --exclude-tuning \\
        "batch_size=8 d_model=384 epochs=3 lr=0.00015 max_train_windows=504 \\
restore_best=False" --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import _common  # noqa: E402
from score_ablation import TUNING_SET  # noqa: E402
from training_curve import curves, tag  # noqa: E402

CURVE = _common.RESULTS / "quality" / "training_curve.jsonl"
QUALITY = _common.RESULTS / "quality" / "quality.jsonl"
#: The training-curve tag of ``MAATDetector()``'s defaults (the ``--set``
#: options over :func:`maat_detector.presets.paper_size` that they ran with).
DEFAULTS = "batch_size=8 e_layers=2 epochs=3 max_train_windows=504"
#: The defaults' tag before they became two encoder layers.
THREE_LAYERS = "batch_size=8 epochs=3 max_train_windows=504"


def fits(path=CURVE):
    """``{(config, dataset, entity, seed): final record}`` of the training curves."""
    return {
        (config, *key): run_["final"]
        for config, runs in curves(path).items()
        for key, run_ in runs.items()
        if "final" in run_
    }


def last_epoch_value(record, records):
    """VUS-PR with the last epoch's weights, or None when not measured.

    The same as ``record`` when the kept epoch was the last; else the fit of
    the same entity and seed with ``restore_best=False`` added to the config.
    """
    if record["best_epoch"] == record["epochs_run"]:
        return record["vus_pr"]
    overrides = dict(item.split("=", 1) for item in record["config"].split())
    twin = tag({**overrides, "restore_best": False})
    found = records.get((twin, record["dataset"], record["entity"], record["seed"]))
    return None if found is None else found["vus_pr"]


def rule_verdict(differences, *, floor=0.02, spread=2.0, mean_floor=0.01):
    """Judge paired differences by the rule that scales with the seeds' spread.

    Parameters
    ----------
    differences : dict of str to list of float
        Per dataset, candidate minus base VUS-PR of each (entity, seed) pair.
    floor : float, default=0.02
        The smallest loss that counts, however small the spread.
    spread : float, default=2.0
        How many standard errors of the mean difference a loss must exceed.
    mean_floor : float, default=0.01
        The largest loss allowed on the mean of the datasets' differences.

    Returns
    -------
    rows : list of tuple
        ``(dataset, n, mean, standard_error, allowed_loss, lost)`` per dataset;
        the standard error is the sample standard deviation over ``sqrt(n)``
        (0 for a single pair).
    mean : float
        Mean of the datasets' mean differences.
    passed : bool
        No dataset lost and ``mean >= -mean_floor``.
    """
    rows = []
    for dataset in sorted(differences):
        values = differences[dataset]
        n, mean = len(values), statistics.fmean(values)
        se = statistics.stdev(values) / math.sqrt(n) if n > 1 else 0.0
        allowed = max(floor, spread * se)
        rows.append((dataset, n, mean, se, allowed, mean < -allowed))
    overall = statistics.fmean(row[2] for row in rows)
    passed = not any(row[5] for row in rows) and overall >= -mean_floor
    return rows, overall, passed


def shared_pairs(base_values, cand_values):
    """The ``(dataset, entity, seed)`` keys that both sides have, sorted."""
    return sorted(set(base_values) & set(cand_values))


def print_verdict(base_values, cand_values, unchanged=()):
    """Print :func:`rule_verdict` on the pairs that both sides have.

    Each dataset in ``unchanged`` that has no pair (the candidate trains
    exactly as the base on all its entities, so was not fitted) enters as
    one difference of 0.
    """
    differences = defaultdict(list)
    for key in shared_pairs(base_values, cand_values):
        differences[key[0]].append(cand_values[key] - base_values[key])
    for dataset in unchanged:
        differences.setdefault(dataset, [0.0])
    if not differences:
        print("  rule: no pairs")
        return
    rows, overall, passed = rule_verdict(differences)
    for dataset, n, mean, se, allowed, lost in rows:
        print(
            f"  rule {dataset:5s} n={n:2d} diff {mean:+.3f} se {se:.3f} "
            f"allowed -{allowed:.3f} {'LOST' if lost else 'held'}"
        )
    print(f"  rule: mean of datasets {overall:+.3f}; {'PASS' if passed else 'FAIL'}")


def compare(candidate, base_values, cand_values, pca_values=None, per_entity=False):
    """Print per-dataset means on the shared pairs, then their mean."""
    shared = shared_pairs(base_values, cand_values)
    print(f"== {candidate}: {len(shared)} pairs")
    if per_entity:
        for key in shared:
            dataset, entity, seed = key
            cand, base = cand_values[key], base_values[key]
            print(
                f"    {dataset}/{entity[:32]:32s} seed {seed} "
                f"{cand:.3f} {base:.3f} {cand - base:+.3f}"
            )
    by = defaultdict(list)
    for key in shared:
        row = (cand_values[key], base_values[key])
        if pca_values is not None:
            row += (pca_values.get(key[:2]),)
        by[key[0]].append(row)
    means = []
    for ds in sorted(by):
        rows = by[ds]
        cols = [statistics.fmean(column) for column in zip(*rows, strict=True)]
        means.append(cols)
        pca = f" pca {cols[2]:.3f}" if len(cols) > 2 else ""
        print(
            f"  {ds:5s} n={len(rows):2d} candidate {cols[0]:.3f} "
            f"base {cols[1]:.3f} diff {cols[0] - cols[1]:+.3f}{pca}"
        )
    if means:
        six = [statistics.fmean(column) for column in zip(*means, strict=True)]
        print("  mean of datasets", " ".join(f"{v:.3f}" for v in six))


def _kept(key, args):
    """Whether a ``(dataset, entity, seed)`` pair passes the set and seed filters."""
    in_tuning = f"{key[0]}:{key[1]}" in TUNING_SET
    if (args.exclude_tuning and in_tuning) or (args.tuning_only and not in_tuning):
        return False
    return not args.seeds or key[2] in args.seeds


def _seed_zero(records, *methods):
    """The seed-0 records of ``methods`` in a quality table that have a VUS-PR."""
    return [
        r
        for r in records
        if r["seed"] == 0 and r.get("vus_pr") is not None and r["method"] in methods
    ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("candidates", nargs="+", help="training-curve config strings")
    p.add_argument("--base", default=DEFAULTS, help="config string to compare with")
    p.add_argument("--quality", action="store_true", help="compare with `maat`")
    p.add_argument(
        "--quality-file",
        type=Path,
        default=QUALITY,
        metavar="JSONL",
        help="with --quality: the file whose maat (and --candidate-method) "
        "records are compared, such as the three-layer archive; PCA's come "
        "from the quality table",
    )
    p.add_argument("--last-epoch", action="store_true")
    p.add_argument(
        "--exclude-tuning", action="store_true", help="leave out the tuning set"
    )
    p.add_argument(
        "--tuning-only", action="store_true", help="only the tuning set's pairs"
    )
    p.add_argument("--per-entity", action="store_true", help="print every pair")
    p.add_argument(
        "--rule",
        action="store_true",
        help="print the verdict of the rule that scales with the seeds' spread",
    )
    p.add_argument(
        "--unchanged",
        nargs="+",
        default=(),
        metavar="DATASET",
        help="with --rule: datasets on which the candidate's training is the "
        "base's, bit for bit; each enters the verdict with a difference of 0 "
        "(give the candidates before this option)",
    )
    p.add_argument(
        "--seeds", nargs="+", type=int, help="only these seeds (default: all)"
    )
    p.add_argument(
        "--base-seed",
        type=int,
        metavar="N",
        help="pair each candidate fit with the base's fit of seed N",
    )
    p.add_argument(
        "--candidate-method",
        metavar="METHOD",
        help="with --quality: seed-0 values of the candidates from this "
        "quality-table method where the training curves have none",
    )
    args = p.parse_args(argv)
    if args.exclude_tuning and args.tuning_only:
        p.error("--exclude-tuning and --tuning-only exclude each other")
    if args.candidate_method and not args.quality:
        p.error("--candidate-method needs --quality")
    records = fits()
    pca = None
    from_method = {}
    if args.quality:
        base, pca = {}, {}
        table = _common.read_jsonl(QUALITY)
        if args.quality_file.resolve() != QUALITY.resolve():
            table_compared = _common.read_jsonl(args.quality_file)
        else:
            table_compared = table
        for r in _seed_zero(table, "pca"):
            pca[(r["dataset"], r["entity"])] = r["vus_pr"]
        for r in _seed_zero(table_compared, "maat", args.candidate_method):
            key = (r["dataset"], r["entity"], 0)
            (base if r["method"] == "maat" else from_method)[key] = r["vus_pr"]
    curve_base = {k[1:]: r["vus_pr"] for k, r in records.items() if k[0] == args.base}
    if not args.quality:
        base = curve_base
    elif args.seeds:
        # Pairs are matched on the candidate's kept keys, so base needs no filter.
        base.update({k: v for k, v in curve_base.items() if k[2] != 0})
    for candidate in args.candidates:
        values = {k: v for k, v in from_method.items() if _kept(k, args)}
        for key, r in records.items():
            if key[0] != candidate or not _kept(key[1:], args):
                continue
            value = last_epoch_value(r, records) if args.last_epoch else r["vus_pr"]
            if value is None:
                print(f"  no restore_best=False fit of {key[1:]}")
                continue
            values[key[1:]] = value
        paired = base
        if args.base_seed is not None:
            paired = {
                k: base[(k[0], k[1], args.base_seed)]
                for k in values
                if (k[0], k[1], args.base_seed) in base
            }
        compare(candidate, paired, values, pca, args.per_entity)
        if args.rule:
            print_verdict(paired, values, args.unchanged)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
