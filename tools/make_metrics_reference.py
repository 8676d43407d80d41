"""Compute TSB-AD's metric values on fixed inputs, for ``tests/test_metrics.py``.

Run it with a Python that has TSB-AD 1.5 (it pins numpy<2, so it lives in its
own virtual environment, not the project's)::

    python3 -m venv .venv-tsbad
    .venv-tsbad/bin/pip install --no-deps TSB-AD==1.5
    .venv-tsbad/bin/pip install "numpy<2" "scikit-learn<1.7"
    .venv-tsbad/bin/python tools/make_metrics_reference.py

It writes ``tests/data/metrics_reference.json``: for each case the recipe and
seed that made it, the inputs themselves (so the tests need no RNG), and the
values of TSB-AD's own functions. It never imports ``maat_detector``: the
numbers are TSB-AD's alone. ``--seed-offset`` makes new random cases with the
same recipes and ``--fuzz N`` writes N small random cases instead
(``tests/test_metrics_crosscheck.py`` uses both to check live).
"""

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import (
    average_precision_score,
    precision_recall_fscore_support,
    roc_auc_score,
)
from TSB_AD.evaluation.affiliation.generics import convert_vector_to_events
from TSB_AD.evaluation.affiliation.metrics import pr_from_events
from TSB_AD.evaluation.basic_metrics import basic_metricor, generate_curve

N_THRESHOLDS = 250  # TSB-AD's `thre` in get_metrics
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parents[1] / "tests" / "data" / "metrics_reference.json"
)


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #
def _labels(n, runs):
    y = np.zeros(n, dtype=int)
    for start, end in runs:
        y[start : end + 1] = 1
    return y


def _runs(vector):
    padded = np.diff(np.concatenate(([0], np.asarray(vector, dtype=int), [0])))
    starts = np.flatnonzero(padded == 1)
    ends = np.flatnonzero(padded == -1) - 1
    return [[int(s), int(e)] for s, e in zip(starts, ends, strict=True)]


def _random_runs(rng, n, n_runs, min_len, max_len, min_gap):
    """Non-overlapping runs separated by at least ``min_gap`` normal points."""
    for _ in range(1000):
        lengths = rng.integers(min_len, max_len + 1, size=n_runs)
        starts = np.sort(
            rng.choice(np.arange(1, n - max_len - 1), n_runs, replace=False)
        )
        ends = starts + lengths - 1
        if np.all(starts[1:] - ends[:-1] > min_gap):
            return [[int(s), int(e)] for s, e in zip(starts, ends, strict=True)]
    raise RuntimeError("could not place the runs; loosen the recipe")


def _correlated_score(rng, y, strength, noise, spread=5):
    """Noise plus a bump around the anomalies (wider than them by ``spread``)."""
    kernel = np.ones(2 * spread + 1)
    bump = np.convolve(y.astype(float), kernel, mode="same") > 0
    return noise * rng.standard_normal(y.size) + strength * bump


def _top_fraction(score, fraction):
    return (score > np.quantile(score, 1.0 - fraction)).astype(int)


def make_cases(seed_offset=0):
    """The reference cases: (name, recipe, seed, window, y, score, y_pred)."""
    cases = []

    def add(name, recipe, seed, window, y, score, y_pred):
        score = np.round(np.asarray(score, dtype=float), 6)
        cases.append(
            (name, recipe, seed, window, y, score, np.asarray(y_pred, dtype=int))
        )

    s = 1 + seed_offset
    rng = np.random.default_rng(s)
    y = _labels(2000, _random_runs(rng, 2000, 3, 20, 80, 150))
    score = rng.random(2000)
    add(
        "random_scores",
        "3 runs of 20-80 in 2000, uniform scores, top 5% flagged",
        s,
        100,
        y,
        score,
        _top_fraction(score, 0.05),
    )

    s = 2 + seed_offset
    rng = np.random.default_rng(s)
    y = _labels(2000, _random_runs(rng, 2000, 4, 10, 60, 120))
    score = _correlated_score(rng, y, 1.5, 1.0)
    add(
        "correlated_scores",
        "4 runs of 10-60 in 2000, noise + bump near runs, top 4% flagged",
        s,
        100,
        y,
        score,
        _top_fraction(score, 0.04),
    )

    s = 3 + seed_offset
    rng = np.random.default_rng(s)
    y = _labels(3000, _random_runs(rng, 3000, 15, 1, 50, 5))
    score = _correlated_score(rng, y, 1.0, 1.0, spread=2)
    add(
        "many_close_runs",
        "15 runs of 1-50 in 3000, gaps >= 5 so buffers merge, "
        "window 50, top 8% flagged",
        s,
        50,
        y,
        score,
        _top_fraction(score, 0.08),
    )

    s = 4 + seed_offset
    rng = np.random.default_rng(s)
    y = _labels(800, [[0, 24], [400, 420], [780, 799]])
    score = _correlated_score(rng, y, 1.0, 1.0)
    y_pred = _top_fraction(score, 0.06)
    y_pred[0:3] = 0  # the first run is hit, but not at index 0
    y_pred[10] = 1
    add(
        "runs_at_both_ends",
        "runs at index 0 and at the end of 800, window 20, "
        "index 0 not predicted but its run is",
        s,
        20,
        y,
        score,
        y_pred,
    )

    s = 5 + seed_offset
    rng = np.random.default_rng(s)
    y = _labels(1500, _random_runs(rng, 1500, 5, 5, 40, 60))
    score = np.round(_correlated_score(rng, y, 1.0, 1.0) * 2) / 2  # many ties
    add(
        "tied_scores",
        "5 runs in 1500, scores rounded to 0.5 (many ties), "
        "window 10, score >= 1 flagged",
        s,
        10,
        y,
        score,
        (score >= 1.0).astype(int),
    )

    s = 6 + seed_offset
    rng = np.random.default_rng(s)
    y = _labels(120, _random_runs(rng, 120, 2, 3, 8, 20))
    score = _correlated_score(rng, y, 0.8, 1.0, spread=2)
    add(
        "short_series",
        "120 points (< 250 thresholds), 2 runs, odd window 7, top 10% flagged",
        s,
        7,
        y,
        score,
        _top_fraction(score, 0.10),
    )

    s = 7 + seed_offset
    rng = np.random.default_rng(s)
    y = _labels(1000, _random_runs(rng, 1000, 6, 1, 1, 40))
    score = _correlated_score(rng, y, 1.2, 1.0, spread=3)
    add(
        "point_anomalies",
        "6 single-point anomalies in 1000, window 30, top 3% flagged",
        s,
        30,
        y,
        score,
        _top_fraction(score, 0.03),
    )

    s = 8 + seed_offset
    rng = np.random.default_rng(s)
    y = _labels(1500, _random_runs(rng, 1500, 3, 30, 90, 200))
    score = _correlated_score(rng, y, 1.0, 1.0, spread=15)
    add(
        "large_window",
        "3 runs in 1500, window 300 (buffers span 150), top 5% flagged",
        s,
        300,
        y,
        score,
        _top_fraction(score, 0.05),
    )

    s = 9 + seed_offset
    rng = np.random.default_rng(s)
    y = _labels(600, _random_runs(rng, 600, 3, 10, 30, 50))
    score = rng.random(600)
    add(
        "no_buffer",
        "3 runs in 600, uniform scores, window 0 (no buffer), random 10% flagged",
        s,
        0,
        y,
        score,
        (rng.random(600) < 0.1).astype(int),
    )
    return cases


def make_fuzz_cases(n_cases, seed_offset=0):
    """Small random cases: runs touching the ends, merging buffers, ties."""
    cases = []
    for k in range(n_cases):
        seed = 10_000 + seed_offset + k
        rng = np.random.default_rng(seed)
        n = int(rng.integers(20, 300))
        y = np.zeros(n, dtype=int)
        while y.all() or not y.any():
            y[:] = 0
            for _ in range(int(rng.integers(1, 7))):
                start = int(rng.integers(-3, n))
                y[max(start, 0) : start + int(rng.integers(1, max(n // 8, 2)))] = 1
        if rng.random() < 0.5:
            score = rng.integers(0, 6, size=n).astype(float)  # many ties
        else:
            score = np.round(rng.random(n) + rng.random() * y, 6)
        y_pred = (rng.random(n) < rng.uniform(0.02, 0.4)).astype(int)
        y_pred[int(rng.integers(0, n))] = 1  # affiliation needs one prediction
        window = int(rng.integers(0, 60))
        cases.append((f"fuzz_{k}", "random small case", seed, window, y, score, y_pred))
    return cases


# --------------------------------------------------------------------------- #
# TSB-AD values
# --------------------------------------------------------------------------- #
def _range_auc_slice(tpr, fpr, prec):
    """Areas of one buffer of RangeAUC_volume_opt, as that function computes them."""
    roc = np.dot(fpr[1:] - fpr[:-1], (tpr[1:] + tpr[:-1]) / 2)
    pr = np.dot(tpr[1:-1] - tpr[:-2], prec[1:])
    return float(roc), float(pr)


def tsbad_values(y, score, y_pred, window):
    grader = basic_metricor()
    values = {
        "roc_auc": float(roc_auc_score(y, score)),  # grader.metric_ROC
        "pr_auc": float(average_precision_score(y, score)),  # grader.metric_PR
    }
    assert values["roc_auc"] == grader.metric_ROC(y, score)
    assert values["pr_auc"] == grader.metric_PR(y, score)

    # get_metrics: generate_curve(labels.astype(int), score, slidingWindow, 'opt', 250)
    *_, vus_roc, vus_pr = generate_curve(
        y.astype(int), score, window, "opt", N_THRESHOLDS
    )
    values["vus_roc"] = float(vus_roc)
    values["vus_pr"] = float(vus_pr)
    tpr3, fpr3, prec3, *_ = grader.RangeAUC_volume_opt(
        labels_original=y, score=score, windowSize=window, thre=N_THRESHOLDS
    )
    values["range_roc_auc"], values["range_pr_auc"] = _range_auc_slice(
        tpr3[window], fpr3[window], prec3[window]
    )
    values["range_roc_auc_w0"], values["range_pr_auc_w0"] = _range_auc_slice(
        tpr3[0], fpr3[0], prec3[0]
    )

    p, r, f, _ = precision_recall_fscore_support(y, y_pred, zero_division=0)
    values["point_prf"] = [float(p[1]), float(r[1]), float(f[1])]
    assert np.isclose(f[1], grader.metric_PointF1(y, score, preds=y_pred))

    adjusted = grader._adjust_predicts(score, y, pred=y_pred.copy()).astype(int)
    p, r, f, _ = precision_recall_fscore_support(y, adjusted, zero_division=0)
    values["point_adjusted_prf"] = [float(p[1]), float(r[1]), float(f[1])]
    values["point_adjusted_runs"] = _runs(adjusted)

    recall = grader.range_recall_new(y, y_pred, 0.2)[0]
    precision = grader.range_recall_new(y_pred, y, 0)[0]
    rf1 = grader.metric_RF1(y, score, preds=y_pred)
    values["range_prf_alpha0.2_reciprocal"] = [
        float(precision),
        float(recall),
        float(rf1),
    ]
    recall0 = grader.range_recall_new(y, y_pred, 0.0)[0]
    values["range_recall_alpha0_reciprocal"] = float(recall0)

    aff = pr_from_events(
        convert_vector_to_events(y_pred), convert_vector_to_events(y), (0, len(y))
    )
    values["affiliation_prf"] = [
        float(aff["Affiliation_Precision"]),
        float(aff["Affiliation_Recall"]),
        float(grader.metric_Affiliation(y, score, preds=y_pred)),
    ]
    return values


def build(seed_offset=0, fuzz=0):
    out = {
        "description": (
            "Values computed by TSB-AD's own functions on the inputs stored here. "
            "Regenerate with tools/make_metrics_reference.py run by a Python "
            "that has TSB-AD installed."
        ),
        "generator": "tools/make_metrics_reference.py",
        "tsb_ad_version": version("TSB_AD"),
        "numpy_version": np.__version__,
        "sklearn_version": sklearn.__version__,
        "n_thresholds": N_THRESHOLDS,
        "seed_offset": seed_offset,
        "keys": {
            "roc_auc": "sklearn roc_auc_score = basic_metricor.metric_ROC",
            "pr_auc": "sklearn average_precision_score = basic_metricor.metric_PR",
            "vus_roc, vus_pr": "generate_curve(y, score, sliding_window, 'opt', 250)",
            "range_roc_auc, range_pr_auc": (
                "areas of RangeAUC_volume_opt at buffer sliding_window (_w0: buffer 0)"
            ),
            "point_prf": "sklearn precision_recall_fscore_support, positive class",
            "point_adjusted_prf": "same, on basic_metricor._adjust_predicts output",
            "point_adjusted_runs": "runs of TSB-AD's adjusted predictions",
            "range_prf_alpha0.2_reciprocal": (
                "range_recall_new(pred, y, 0)[0], range_recall_new(y, pred, 0.2)[0], "
                "metric_RF1"
            ),
            "range_recall_alpha0_reciprocal": "range_recall_new(y, pred, 0)[0]",
            "affiliation_prf": (
                "affiliation pr_from_events(pred, gt, (0, n)) precision, recall; "
                "metric_Affiliation F (eps 1e-15 in the denominator)"
            ),
        },
        "cases": [],
    }
    cases = make_fuzz_cases(fuzz, seed_offset) if fuzz else make_cases(seed_offset)
    for name, recipe, seed, window, y, score, y_pred in cases:
        tic = time.perf_counter()
        values = tsbad_values(y, score, y_pred, window)
        elapsed = time.perf_counter() - tic
        print(f"{name}: {elapsed:.1f} s", file=sys.stderr)
        out["cases"].append(
            {
                "name": name,
                "recipe": recipe,
                "seed": seed,
                "n": int(y.size),
                "sliding_window": window,
                "y_true_runs": _runs(y),
                "y_pred_runs": _runs(y_pred),
                "score": score.tolist(),
                "tsbad_seconds": round(elapsed, 2),
                "values": values,
            }
        )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="JSON file to write (default: %(default)s)",
    )
    parser.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="add this to every seed, for fresh cases (default: 0)",
    )
    parser.add_argument(
        "--fuzz",
        type=int,
        default=0,
        metavar="N",
        help="write N small random cases instead of the recipes",
    )
    args = parser.parse_args(argv)
    data = build(args.seed_offset, args.fuzz)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
