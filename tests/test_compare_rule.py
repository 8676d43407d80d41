"""The benchmarks' comparison rule that scales with the seeds' spread."""

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS / "quality"))
sys.path.insert(0, str(BENCHMARKS))
import compare_configs  # noqa: E402


def test_a_small_steady_loss_is_lost_and_a_noisy_one_held():
    rows, mean, passed = compare_configs.rule_verdict(
        {"A": [-0.03, -0.03, -0.03, -0.03], "B": [-0.3, 0.2, -0.2, 0.14]}
    )
    by = {row[0]: row for row in rows}
    # A: no spread, so the floor of 0.02 decides.
    assert by["A"][3] == 0.0 and by["A"][5]
    # B: mean -0.04, but its standard error (0.124) allows 0.247.
    assert by["B"][2] == pytest.approx(-0.04)
    assert by["B"][3] == pytest.approx(0.1236, abs=1e-4)
    assert not by["B"][5]
    assert mean == pytest.approx(-0.035)
    assert not passed


def test_passes_when_no_dataset_is_lost_and_the_mean_holds():
    _, mean, passed = compare_configs.rule_verdict(
        {"A": [-0.015, -0.005], "B": [0.01, 0.0]}
    )
    assert mean == pytest.approx(-0.0025)
    assert passed
    # Every dataset within its allowance, but the mean 0.015 below: fails.
    _, _, passed = compare_configs.rule_verdict({"A": [-0.015], "B": [-0.015]})
    assert not passed


def test_unchanged_datasets_enter_the_mean_as_zero(capsys):
    base = {("A", "e", 0): 0.50, ("A", "e", 1): 0.50}
    cand = {("A", "e", 0): 0.485, ("A", "e", 1): 0.485}
    compare_configs.print_verdict(base, cand)
    assert "mean of datasets -0.015; FAIL" in capsys.readouterr().out
    compare_configs.print_verdict(base, cand, unchanged=("B", "C"))
    out = capsys.readouterr().out
    assert "rule B     n= 1 diff +0.000" in out
    assert "mean of datasets -0.005; PASS" in out


def test_the_base_tag_is_the_estimators_defaults():
    # A stale tag would judge every candidate against a retired default.
    from reproducibility import _comparable, curve_params

    from maat_detector import MAATDetector

    defaults = _comparable(MAATDetector().get_params())
    assert curve_params(compare_configs.DEFAULTS) == defaults
    assert compare_configs.THREE_LAYERS != compare_configs.DEFAULTS
