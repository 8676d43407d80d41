"""Live cross-check of maat_detector.metrics against TSB-AD 1.5 (opt-in).

TSB-AD pins numpy<2, so it lives in its own virtual environment. Point
``MAAT_TSBAD_PYTHON`` at that environment's Python and select the marker::

    python3 -m venv .venv-tsbad
    .venv-tsbad/bin/pip install --no-deps TSB-AD==1.5
    .venv-tsbad/bin/pip install "numpy<2" "scikit-learn<1.7"
    MAAT_TSBAD_PYTHON=.venv-tsbad/bin/python pytest -m crosscheck

Each test runs ``tools/make_metrics_reference.py`` there on cases the
stored reference does not hold (shifted seeds, and small random "fuzz" cases:
runs touching the ends, merged buffers, tied scores, windows 0-59), then
compares. About a minute on two cores.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from maat_detector.metrics import (
    affiliation_prf,
    point_adjusted_prf,
    point_prf,
    pr_auc,
    range_pr_auc,
    range_prf,
    range_roc_auc,
    roc_auc,
    vus_pr,
    vus_roc,
)

pytestmark = pytest.mark.crosscheck

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "make_metrics_reference.py"
TOL = 1e-6


@pytest.fixture(scope="module")
def tsbad_python():
    python = os.environ.get("MAAT_TSBAD_PYTHON")
    if not python:
        pytest.skip("set MAAT_TSBAD_PYTHON to a Python that has TSB-AD 1.5")
    probe = subprocess.run(
        [python, "-c", "import TSB_AD.evaluation.basic_metrics"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"{python} cannot import TSB-AD: {probe.stderr.strip()[-200:]}")
    return python


def run_reference(python, out, *args):
    subprocess.run(
        [python, str(SCRIPT), "--output", str(out), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    data = json.loads(out.read_text())
    assert data["tsb_ad_version"] == "1.5"
    return data["cases"]


def labels_from_runs(n, runs):
    y = np.zeros(n, dtype=int)
    for start, end in runs:
        y[start : end + 1] = 1
    return y


def compare_case(case):
    """Our values against TSB-AD's for one case; returns the mismatches."""
    n, w, ref = case["n"], case["sliding_window"], case["values"]
    y = labels_from_runs(n, case["y_true_runs"])
    y_pred = labels_from_runs(n, case["y_pred_runs"])
    s = np.asarray(case["score"])
    ours = {
        "roc_auc": roc_auc(y, s),
        "pr_auc": pr_auc(y, s),
        "vus_roc": vus_roc(y, s, w),
        "vus_pr": vus_pr(y, s, w),
        "range_roc_auc": range_roc_auc(y, s, w),
        "range_pr_auc": range_pr_auc(y, s, w),
        "range_roc_auc_w0": range_roc_auc(y, s, 0),
        "range_pr_auc_w0": range_pr_auc(y, s, 0),
        "point_prf": point_prf(y, y_pred),
        "range_prf_alpha0.2_reciprocal": range_prf(
            y, y_pred, alpha=0.2, cardinality="reciprocal"
        ),
        "range_recall_alpha0_reciprocal": range_prf(
            y, y_pred, cardinality="reciprocal"
        )[1],
        "affiliation_prf": affiliation_prf(y, y_pred),
    }
    # Point adjustment: TSB-AD never flags index 0 when walking back from a
    # later hit (range(i, 0, -1)); compare with that point restored.
    tsbad_adjusted = labels_from_runs(n, ref["point_adjusted_runs"])
    expected_pa = ref["point_adjusted_prf"]
    if y[0] == 1 and tsbad_adjusted[0] == 0 and y_pred[: np.argmin(y)].any():
        tsbad_adjusted[0] = 1
        expected_pa = point_prf(y, tsbad_adjusted)
    ours["point_adjusted_prf"] = point_adjusted_prf(y, y_pred)
    expected = {key: ref[key] for key in ours if key != "point_adjusted_prf"}
    expected["point_adjusted_prf"] = expected_pa
    return {
        key: (ours[key], expected[key])
        for key in ours
        if not np.allclose(ours[key], expected[key], rtol=0, atol=TOL)
    }


def test_recipes_with_new_seeds_match_tsbad(tsbad_python, tmp_path):
    cases = run_reference(tsbad_python, tmp_path / "ref.json", "--seed-offset", "1000")
    mismatches = {c["name"]: compare_case(c) for c in cases}
    assert not any(mismatches.values()), mismatches


def test_random_small_cases_match_tsbad(tsbad_python, tmp_path):
    cases = run_reference(tsbad_python, tmp_path / "fuzz.json", "--fuzz", "60")
    mismatches = {c["name"]: compare_case(c) for c in cases}
    assert not any(mismatches.values()), mismatches
