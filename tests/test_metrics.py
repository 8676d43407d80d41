"""Tests for maat_detector.metrics.

Reference values: ``tests/data/metrics_reference.json`` was written by
``tools/make_metrics_reference.py`` run with TSB-AD 1.5 (``pip install
TSB-AD==1.5`` in its own virtual environment, numpy 1.26, scikit-learn 1.6).
Each stored value comes from TSB-AD's own code (``basic_metricor``,
``generate_curve``, the bundled ``affiliation`` package) or, for the plain
AUCs and point precision/recall, from the scikit-learn functions TSB-AD calls.
The file holds the inputs themselves, so these tests need no TSB-AD and no
RNG stream to stay stable. ``test_metrics_crosscheck.py`` recomputes fresh
cases live when TSB-AD is at hand.

Hand-computed cases spell out the arithmetic from the papers' definitions.
"""

import json
import math
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from maat_detector import metrics as M
from maat_detector.metrics import (
    UndefinedMetricWarning,
    affiliation_prf,
    evaluate,
    point_adjusted_prf,
    point_prf,
    pr_auc,
    range_pr_auc,
    range_prf,
    range_roc_auc,
    roc_auc,
    to_binary_labels,
    vus_pr,
    vus_roc,
)

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "metrics_reference.json").read_text()
)
TOL = 1e-6

RANKING = [roc_auc, pr_auc, vus_roc, vus_pr, range_roc_auc, range_pr_auc]
PRF = [point_prf, point_adjusted_prf, affiliation_prf, range_prf]


def labels_from_runs(n, runs):
    y = np.zeros(n, dtype=int)
    for start, end in runs:
        y[start : end + 1] = 1
    return y


def case_arrays(case):
    n = case["n"]
    y = labels_from_runs(n, case["y_true_runs"])
    y_pred = labels_from_runs(n, case["y_pred_runs"])
    return y, np.asarray(case["score"]), y_pred


def long_anomaly_series(n=10_000, n_runs=10, run_len=200, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    for start in np.linspace(300, n - 500, n_runs).astype(int):
        y[start : start + run_len] = 1
    return y, rng


# --------------------------------------------------------------------------- #
# TSB-AD 1.5 reference values
# --------------------------------------------------------------------------- #
def test_reference_file_records_its_origin():
    assert REFERENCE["tsb_ad_version"] == "1.5"
    assert REFERENCE["n_thresholds"] == 250
    assert len(REFERENCE["cases"]) >= 8


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: c["name"])
def test_threshold_free_metrics_match_tsbad(case):
    y, score, _ = case_arrays(case)
    w = case["sliding_window"]
    ref = case["values"]
    assert roc_auc(y, score) == pytest.approx(ref["roc_auc"], abs=TOL)
    assert pr_auc(y, score) == pytest.approx(ref["pr_auc"], abs=TOL)
    assert vus_roc(y, score, w) == pytest.approx(ref["vus_roc"], abs=TOL)
    assert vus_pr(y, score, w) == pytest.approx(ref["vus_pr"], abs=TOL)
    assert range_roc_auc(y, score, w) == pytest.approx(ref["range_roc_auc"], abs=TOL)
    assert range_pr_auc(y, score, w) == pytest.approx(ref["range_pr_auc"], abs=TOL)
    assert range_roc_auc(y, score, 0) == pytest.approx(ref["range_roc_auc_w0"], abs=TOL)
    assert range_pr_auc(y, score, 0) == pytest.approx(ref["range_pr_auc_w0"], abs=TOL)


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: c["name"])
def test_thresholded_metrics_match_tsbad(case):
    y, _, y_pred = case_arrays(case)
    ref = case["values"]
    assert point_prf(y, y_pred) == pytest.approx(ref["point_prf"], abs=TOL)
    assert range_prf(
        y, y_pred, alpha=0.2, bias="flat", cardinality="reciprocal"
    ) == pytest.approx(ref["range_prf_alpha0.2_reciprocal"], abs=TOL)
    assert range_prf(y, y_pred, cardinality="reciprocal")[1] == pytest.approx(
        ref["range_recall_alpha0_reciprocal"], abs=TOL
    )
    assert affiliation_prf(y, y_pred) == pytest.approx(ref["affiliation_prf"], abs=TOL)


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: c["name"])
def test_point_adjustment_matches_tsbad_except_its_index_0_bug(case):
    y, _, y_pred = case_arrays(case)
    ref = case["values"]
    tsbad_adjusted = labels_from_runs(case["n"], ref["point_adjusted_runs"])
    if y[0] == 1 and tsbad_adjusted[0] == 0 and y_pred[: np.argmin(y)].any():
        # TSB-AD walks back with range(i, 0, -1) and never reaches index 0:
        # its run starting at 0 is detected, yet point 0 stays unflagged.
        # The definition flags the whole run; so do we.
        fixed = tsbad_adjusted.copy()
        fixed[0] = 1
        assert point_adjusted_prf(y, y_pred) == pytest.approx(
            point_prf(y, fixed), abs=1e-12
        )
        assert point_adjusted_prf(y, y_pred) != pytest.approx(
            ref["point_adjusted_prf"], abs=TOL
        )
    else:
        assert point_adjusted_prf(y, y_pred) == pytest.approx(
            ref["point_adjusted_prf"], abs=TOL
        )


def test_reference_includes_the_index_0_case():
    # Keeps the documented TSB-AD difference under test.
    case = next(c for c in REFERENCE["cases"] if c["name"] == "runs_at_both_ends")
    y, _, y_pred = case_arrays(case)
    assert y[0] == 1 and y_pred[0] == 0 and y_pred[: np.argmin(y)].any()


# --------------------------------------------------------------------------- #
# Hand-computed cases
# --------------------------------------------------------------------------- #
def test_roc_and_pr_auc_by_hand():
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]
    # 3 of the 4 (positive, negative) pairs are ordered right.
    assert roc_auc(y, s) == pytest.approx(0.75)
    # Thresholds 0.8, 0.4, 0.35: recall steps 0.5 at precision 1, 0.5 at 2/3.
    assert pr_auc(y, s) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_ties_count_half():
    assert roc_auc([0, 1, 0, 1], [1, 1, 0, 2]) == pytest.approx(0.875)
    # Tied block (1, 1) enters at once: AP = 0.5*1 + 0.5*(2/3).
    assert pr_auc([0, 1, 0, 1], [1, 1, 0, 2]) == pytest.approx(0.5 + 1 / 3)


def test_range_auc_without_buffer_by_hand():
    # Six thresholds = every score. One run [1, 2], P = 2, n = 6.
    y = [0, 1, 1, 0, 0, 0]
    s = [0.1, 0.9, 0.2, 0.8, 0.3, 0.0]
    # threshold: 0.9  0.8  0.3  0.2  0.1  0.0
    # TPR:       1/2  1/2  1/2  1    1    1
    # FPR:       0    1/4  2/4  2/4  3/4  1
    # precision: 1    1/2  1/3  1/2  2/5  1/3
    roc = 0.25 * 0.5 + 0.25 * 0.5 + 0.25 * 1 + 0.25 * 1
    pr = 0.5 * 1 + 0.5 * 0.5
    assert range_roc_auc(y, s, 0, n_thresholds=6) == pytest.approx(roc)
    assert range_pr_auc(y, s, 0, n_thresholds=6) == pytest.approx(pr)
    # Buffer 1 still has w // 2 = 0 buffer points, so it is the same.
    assert range_pr_auc(y, s, 1, n_thresholds=6) == pytest.approx(pr)


def test_range_auc_with_buffer_by_hand():
    # Buffer w = 2: points 0 and 3 get soft label sqrt(1 - 1/2).
    y = [0, 1, 1, 0, 0, 0]
    s = [0.1, 0.9, 0.2, 0.8, 0.3, 0.0]
    g = math.sqrt(0.5)
    n, p = 6, 2
    # (predicted anomalous points, predicted soft labels B, predicted count)
    steps = [(1, 0, 1), (1, g, 2), (1, g, 3), (2, g, 4), (2, 2 * g, 5), (2, 2 * g, 6)]
    tpr, fpr, prec = [0.0], [0.0], []
    for hits, b, n_pred in steps:
        tp = hits + b
        p_eff = p + b / 2  # P' = (P + P + B) / 2
        tpr.append(min(tp / p_eff, 1.0))  # the one extended run is always hit
        fpr.append((n_pred - tp) / (n - p_eff))
        prec.append(tp / n_pred)
    pr = sum((tpr[k + 1] - tpr[k]) * prec[k] for k in range(6))
    tpr.append(1.0)
    fpr.append(1.0)
    roc = sum((fpr[k + 1] - fpr[k]) * (tpr[k + 1] + tpr[k]) / 2 for k in range(7))
    assert range_pr_auc(y, s, 2, n_thresholds=6) == pytest.approx(pr)
    assert range_roc_auc(y, s, 2, n_thresholds=6) == pytest.approx(roc)
    # VUS over buffers 0, 1, 2 is the mean of the three range-AUCs.
    pr0 = range_pr_auc(y, s, 0, n_thresholds=6)
    assert vus_pr(y, s, 2, n_thresholds=6) == pytest.approx((2 * pr0 + pr) / 3)


def test_existence_scales_recall():
    # Two runs, only the first one is ever above the top threshold.
    y = [0, 1, 0, 0, 0, 1, 0, 0]
    s = [0, 5, 0, 0, 0, 0, 0, 0]
    # Threshold 5: TP 1 of P 2, one run of two found: TPR = 1/2 * 1/2.
    # Threshold 0: everything flagged, TPR = 1, FPR = 1, precision 2/8.
    assert range_pr_auc(y, s, 0, n_thresholds=2) == pytest.approx(
        0.25 * 1 + 0.75 * 0.25
    )


def test_vus_is_the_mean_of_range_aucs():
    case = REFERENCE["cases"][1]
    y, s, _ = case_arrays(case)
    expected_pr = np.mean([range_pr_auc(y, s, w) for w in range(21)])
    expected_roc = np.mean([range_roc_auc(y, s, w) for w in range(21)])
    assert vus_pr(y, s, 20) == pytest.approx(expected_pr, abs=1e-12)
    assert vus_roc(y, s, 20) == pytest.approx(expected_roc, abs=1e-12)


def test_point_prf_by_hand():
    y = [0, 1, 1, 1, 0, 0, 1, 0]
    p = [1, 1, 0, 1, 0, 0, 0, 0]
    # TP 2, FP 1, FN 2
    assert point_prf(y, p) == pytest.approx((2 / 3, 0.5, 2 * (1 / 3) / (7 / 6)))


def test_point_adjusted_prf_by_hand():
    y = [1, 1, 1, 0, 0, 1, 1, 0, 0, 0]
    p = [0, 0, 1, 0, 1, 0, 0, 0, 0, 0]
    # Run [0, 2] is hit at 2, so all three count (index 0 included); run
    # [5, 6] is missed. TP 3, FP 1 (index 4), FN 2.
    assert point_adjusted_prf(y, p) == pytest.approx((0.75, 0.6, 2 * 0.45 / 1.35))
    assert point_prf(y, p) == pytest.approx((0.5, 0.2, 2 * 0.1 / 0.7))


# Real runs R1 = [1, 4], R2 = [8, 9]; predicted P1 = [2, 2], P2 = [4, 5],
# P3 = [9, 10]. Overlaps: R1 at indices 2 (position 2 of 4) and 4 (position
# 4); R2 at index 9 (position 2 of 2); P1 fully; P2 and P3 at position 1 of 2.
RANGE_Y = [0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0]
RANGE_P = [0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1]


@pytest.mark.parametrize(
    "kwargs, precision, recall",
    [
        # flat: R1 2/4, R2 1/2; P1 1, P2 1/2, P3 1/2
        ({}, 2 / 3, 0.5),
        # R1 touches two predicted ranges: gamma = 1/2 halves its reward
        ({"cardinality": "reciprocal"}, 2 / 3, (0.25 + 0.5) / 2),
        # alpha 0.5: each real range is found, 0.5 * 1 + 0.5 * 0.5
        ({"alpha": 0.5}, 2 / 3, 0.75),
        # front weights (4,3,2,1) and (2,1): R1 (3+1)/10, R2 1/3; P2, P3 2/3
        ({"bias": "front"}, (1 + 2 / 3 + 2 / 3) / 3, (0.4 + 1 / 3) / 2),
        # back weights (1,2,3,4) and (1,2): R1 (2+4)/10, R2 2/3; P2, P3 1/3
        ({"bias": "back"}, (1 + 1 / 3 + 1 / 3) / 3, (0.6 + 2 / 3) / 2),
        # middle weights (1,2,2,1) and (1,1): R1 (2+1)/6, R2 1/2
        ({"bias": "middle"}, 2 / 3, 0.5),
    ],
)
def test_range_prf_by_hand(kwargs, precision, recall):
    f1 = 2 * precision * recall / (precision + recall)
    assert range_prf(RANGE_Y, RANGE_P, **kwargs) == pytest.approx(
        (precision, recall, f1)
    )


def test_affiliation_by_hand():
    # J = [3, 5) in the zone E = [0, 8); prediction I = [6, 7).
    y = [0, 0, 0, 1, 1, 0, 0, 0]
    p = [0, 0, 0, 0, 0, 0, 1, 0]
    # Precision: x in I is d = x - 5 in [1, 2] from J and a uniform point of
    # E is that far with probability (6 - 2d) / 8; mean over d = 3/8.
    # Recall: t in J is D = 6 - t from I; P(|X - t| >= D) = 1 - (12 - 2t)/8;
    # mean over t in [3, 5] = 1/2.
    precision, recall = 3 / 8, 0.5
    f1 = 2 * precision * recall / (precision + recall)
    assert affiliation_prf(y, p) == pytest.approx((precision, recall, f1))


def test_affiliation_flagging_everything():
    y = [0, 0, 0, 1, 1, 0, 0, 0]
    # Inside J: 2. Each side of J: int_0^3 (6 - 2d)/8 dd = 9/8. Mean over 8.
    assert affiliation_prf(y, [1] * 8) == pytest.approx(
        (4.25 / 8, 1.0, 2 * 4.25 / 12.25)
    )


def test_affiliation_zones_average():
    # Two events, zones split at the midpoint 6: [0, 6) and [6, 12).
    y = [0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    p = [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    # Zone 1 is perfect (precision 1, recall 1); zone 2 has no prediction:
    # it counts for recall (0) but not for precision.
    assert affiliation_prf(y, p) == pytest.approx((1.0, 0.5, 2 * 0.5 / 1.5))


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "transform",
    [lambda s: 3 * s - 7, np.exp, lambda s: s**3],
    ids=["affine", "exp", "cube"],
)
@pytest.mark.parametrize("metric", RANKING, ids=lambda f: f.__name__)
def test_ranking_metrics_invariant_to_monotone_transforms(metric, transform):
    y, s, _ = case_arrays(REFERENCE["cases"][2])
    kwargs = {} if metric in (roc_auc, pr_auc) else {"sliding_window": 30}
    assert metric(y, transform(s), **kwargs) == pytest.approx(
        metric(y, s, **kwargs), abs=1e-12
    )


def test_perfect_and_reversed_scores():
    y, _, _ = case_arrays(REFERENCE["cases"][0])
    assert roc_auc(y, y.astype(float)) == 1.0
    assert pr_auc(y, y.astype(float)) == 1.0
    assert roc_auc(y, -y.astype(float)) == 0.0
    assert vus_pr(y, y + 0.0, 100) > vus_pr(y, -y + 0.0, 100)


def test_point_adjustment_inflates_random_predictions():
    # The documented flaw: 5% random flags on long anomalies look excellent.
    y, rng = long_anomaly_series()
    f1s, pa_f1s = [], []
    for _ in range(5):
        y_pred = (rng.random(y.size) < 0.05).astype(int)
        f1s.append(point_prf(y, y_pred)[2])
        pa_f1s.append(point_adjusted_prf(y, y_pred)[2])
    assert max(f1s) < 0.15
    assert min(pa_f1s) > 0.8


def test_random_scores_stay_near_chance():
    y, rng = long_anomaly_series()
    s = rng.random(y.size)
    assert roc_auc(y, s) == pytest.approx(0.5, abs=0.03)
    assert pr_auc(y, s) == pytest.approx(y.mean(), abs=0.03)
    assert vus_roc(y, s, 0) == pytest.approx(0.5, abs=0.03)
    # Buffers credit random flags next to anomalies: above 0.5 (documented).
    assert 0.5 < vus_roc(y, s, 100) < 0.65


def test_inputs_are_not_mutated():
    y, s, p = case_arrays(REFERENCE["cases"][3])
    arrays = [y, s, p]
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.setflags(write=False)  # any write inside would raise
    for metric in RANKING:
        metric(y, s)
    for metric in PRF:
        metric(y, p)
    evaluate(y, s, threshold=float(np.median(s)))
    evaluate(y, s, y_pred=p)
    to_binary_labels(np.where(p == 1, -1, 1))
    for a, c in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(a, c)
    lists = [y.tolist(), s.tolist()]
    roc_auc(*lists)
    assert lists == [y.tolist(), s.tolist()]


def test_accepts_bool_labels_and_column_vectors():
    y, s, p = case_arrays(REFERENCE["cases"][5])
    assert vus_pr(y.astype(bool), s, 7) == vus_pr(y, s, 7)
    assert roc_auc(y.reshape(-1, 1), s.reshape(-1, 1)) == roc_auc(y, s)
    assert point_prf(y.astype(float), p.astype(bool)) == point_prf(y, p)


# --------------------------------------------------------------------------- #
# Edge cases (conventions stated in the module docstring)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("metric", RANKING, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "y",
    [np.zeros(50, dtype=int), np.ones(50, dtype=int), [0], [1]],
    ids=["no_anomaly", "all_anomalous", "len1_normal", "len1_anomaly"],
)
def test_ranking_metrics_single_class_is_nan_with_warning(metric, y):
    score = np.linspace(0, 1, len(y))
    with pytest.warns(UndefinedMetricWarning, match="undefined"):
        value = metric(y, score)
    assert math.isnan(value)


def test_constant_scores():
    y = np.zeros(200, dtype=int)
    y[50:60] = 1
    y[120:125] = 1
    s = np.full(200, 0.3)
    assert roc_auc(y, s) == 0.5
    assert pr_auc(y, s) == pytest.approx(y.mean())
    # No buffer: every threshold flags everything, the curve is the diagonal.
    assert vus_roc(y, s, 0) == pytest.approx(0.5)
    assert vus_pr(y, s, 0) == pytest.approx(y.mean())
    # With buffers the soft labels count as hits: above chance, as in TSB-AD.
    assert vus_roc(y, s, 20) > 0.5
    assert vus_pr(y, s, 20) > y.mean()


@pytest.mark.parametrize("metric", PRF, ids=lambda f: f.__name__)
def test_prf_zero_denominators_give_zero(metric):
    y = np.zeros(20, dtype=int)
    y[5:8] = 1
    nothing = np.zeros(20, dtype=int)
    assert metric(y, nothing) == (0.0, 0.0, 0.0)  # no prediction
    assert metric(nothing, y) == (0.0, 0.0, 0.0)  # no true anomaly
    assert metric(nothing, nothing) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("metric", PRF, ids=lambda f: f.__name__)
def test_prf_perfect_and_degenerate_lengths(metric):
    y = np.zeros(20, dtype=int)
    y[5:8] = 1
    assert metric(y, y) == pytest.approx((1.0, 1.0, 1.0))
    assert metric(np.ones(7, dtype=int), np.ones(7, dtype=int)) == pytest.approx(
        (1.0, 1.0, 1.0)
    )
    assert metric([1], [1]) == pytest.approx((1.0, 1.0, 1.0))
    assert metric([0], [0]) == (0.0, 0.0, 0.0)
    for value in metric(y, np.ones(20, dtype=int)):
        assert isinstance(value, float)


# --------------------------------------------------------------------------- #
# Input validation
# --------------------------------------------------------------------------- #
def test_length_mismatch_says_what_to_fix():
    with pytest.raises(ValueError, match="y_true has 3 values but score has 2"):
        roc_auc([0, 1, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="y_pred"):
        point_prf([0, 1, 0], [0, 1])


def test_nan_score_is_rejected():
    with pytest.raises(ValueError, match="1 NaN .* index 1"):
        vus_pr([0, 1, 0], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="infinite"):
        roc_auc([0, 1, 0], [0.1, np.inf, 0.3])


def test_labels_must_be_binary():
    with pytest.raises(ValueError, match="only 0 .* and 1 .* found 1 other value"):
        roc_auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="to_binary_labels"):
        point_prf([1, -1, 1], [0, 1, 0])
    with pytest.raises(ValueError, match="numeric"):
        roc_auc(["a", "b"], [0.1, 0.2])


def test_shape_and_emptiness_are_checked():
    with pytest.raises(ValueError, match="1-D"):
        roc_auc(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="empty"):
        pr_auc([], [])


@pytest.mark.parametrize("window", [-1, 2.5, True, "100"])
def test_sliding_window_is_checked(window):
    with pytest.raises(ValueError, match="sliding_window"):
        vus_pr([0, 1, 0], [0.1, 0.2, 0.3], sliding_window=window)


def test_range_prf_options_are_checked():
    with pytest.raises(ValueError, match="alpha"):
        range_prf([0, 1], [0, 1], alpha=1.5)
    with pytest.raises(ValueError, match="bias"):
        range_prf([0, 1], [0, 1], bias="front-end bias")
    with pytest.raises(ValueError, match="cardinality"):
        range_prf([0, 1], [0, 1], cardinality="udf_gamma")


def test_to_binary_labels():
    assert to_binary_labels(np.array([1, -1, -1, 1])).tolist() == [0, 1, 1, 0]
    assert to_binary_labels([1, 1]).tolist() == [0, 0]
    with pytest.raises(ValueError, match="0/1 labels already"):
        to_binary_labels([0, 1, 1])
    with pytest.raises(ValueError, match=r"\+1 \(normal\) and -1"):
        to_binary_labels([2, -1])


# --------------------------------------------------------------------------- #
# evaluate
# --------------------------------------------------------------------------- #
def test_evaluate_matches_the_individual_functions():
    y, s, p = case_arrays(REFERENCE["cases"][1])
    res = evaluate(y, s, y_pred=p, sliding_window=30)
    assert res["roc_auc"] == roc_auc(y, s)
    assert res["pr_auc"] == pr_auc(y, s)
    assert res["vus_pr"] == pytest.approx(vus_pr(y, s, 30), abs=1e-15)
    assert res["vus_roc"] == pytest.approx(vus_roc(y, s, 30), abs=1e-15)
    assert res["range_pr_auc"] == pytest.approx(range_pr_auc(y, s, 30), abs=1e-15)
    assert res["range_roc_auc"] == pytest.approx(range_roc_auc(y, s, 30), abs=1e-15)
    for prefix, func in [
        ("point", point_prf),
        ("point_adjusted", point_adjusted_prf),
        ("affiliation", affiliation_prf),
        ("range", range_prf),
    ]:
        got = tuple(res[f"{prefix}_{k}"] for k in ("precision", "recall", "f1"))
        assert got == func(y, p)
    assert len(res) == 6 + 12


def test_evaluate_threshold_and_prediction_forms():
    y, s, _ = case_arrays(REFERENCE["cases"][1])
    t = float(np.quantile(s, 0.95))
    assert evaluate(y, s, threshold=t) == evaluate(y, s, y_pred=(s > t).astype(int))
    assert set(evaluate(y, s)) == {
        "roc_auc",
        "pr_auc",
        "vus_roc",
        "vus_pr",
        "range_roc_auc",
        "range_pr_auc",
    }
    with pytest.raises(ValueError, match="either threshold or y_pred"):
        evaluate(y, s, threshold=t, y_pred=y)
    with pytest.raises(ValueError, match="threshold"):
        evaluate(y, s, threshold="high")


def test_evaluate_single_class_warns_once():
    y = np.zeros(30, dtype=int)
    s = np.linspace(0, 1, 30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate(y, s, threshold=0.5)
    assert sum(issubclass(w.category, UndefinedMetricWarning) for w in caught) == 1
    assert math.isnan(res["vus_pr"]) and math.isnan(res["roc_auc"])
    assert res["point_recall"] == 0.0


# --------------------------------------------------------------------------- #
# Cost
# --------------------------------------------------------------------------- #
def test_vus_is_fast_on_25k_points():
    rng = np.random.default_rng(0)
    n = 25_000
    y = np.zeros(n, dtype=int)
    for start in rng.choice(n - 200, 40, replace=False):
        y[start : start + rng.integers(1, 150)] = 1
    s = rng.random(n) + y
    tic = time.perf_counter()
    vus_pr(y, s, 100)
    vus_roc(y, s, 100)
    # About 0.05 s here; the margin absorbs a loaded shared CPU.
    assert time.perf_counter() - tic < 3.0


def test_metrics_imports_neither_sklearn_nor_torch():
    code = (
        "import sys, maat_detector.metrics; "
        "bad = [m for m in ('sklearn', 'torch', 'scipy') if m in sys.modules]; "
        "print(*bad, file=sys.stderr); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert set(M.__all__) >= {f.__name__ for f in RANKING + PRF}
