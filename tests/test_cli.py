"""The maat-detector command line on the .npz benchmark layout."""

import json

import numpy as np
import pytest

from maat_detector.cli import main


@pytest.fixture
def npz_dir(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(600)[:, None]
    series = np.sin(t / np.array([5.0, 9.0])) + 0.05 * rng.standard_normal((600, 2))
    label = np.zeros(300, dtype=np.uint8)
    label[200:210] = 1
    test = series[300:].copy()
    test[200:210, 0] += 3.0
    (tmp_path / "TOY").mkdir()
    np.savez(
        tmp_path / "TOY" / "toy-1.npz",
        train=series[:300].astype(np.float32),
        test=test.astype(np.float32),
        test_label=label,
    )
    return tmp_path


def test_run_prints_both_protocols_and_writes_json(npz_dir, tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(
        [
            "run",
            "--dataset",
            "npz",
            "--data-dir",
            str(npz_dir),
            "--benchmark",
            "TOY",
            "--entity",
            "toy-1",
            "--preset",
            "SMD",
            "--quiet",
            "--json",
            str(out),
            "--set",
            "win_size=20",
            "--set",
            "d_model=16",
            "--set",
            "n_heads=2",
            "--set",
            "e_layers=1",
            "--set",
            "d_ff=16",
            "--set",
            "d_state=4",
            "--set",
            "block_size=5",
            "--set",
            "train_step=2",
            "--set",
            "score_mode=reconstruction",
            "--sliding-window",
            "10",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "honest  VUS-PR" in printed and "point-adjusted F1" in printed
    assert "vs paper's 92.30" in printed
    result = json.loads(out.read_text())
    assert 0.0 <= result["honest"]["vus_pr"] <= 1.0
    assert result["parameters"]["d_model"] == 16


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    code = main(["run", "--dataset", "SMD", "--data-dir", str(tmp_path / "nowhere")])
    assert code == 2
    assert "nowhere" in capsys.readouterr().err
