"""The maat-detector command line on the .npz benchmark layout."""

import json
import subprocess
import sys

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


# ------------------------------------------------- user mistakes: one line, 2


def _error_line(capsys):
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("maat-detector")
    return lines[0]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["run", "--dataset", "SDM"], "unknown dataset 'SDM' (did you mean 'SMD'?)"),
        (["run", "--dataset", "nips-ts-swann"], "did you mean 'NIPS_TS_Swan'?"),
        (["rn", "--dataset", "SMD"], "invalid choice: 'rn'"),
        (["run", "--dataset", "npz", "--preset", "SMAPP"], "did you mean 'SMAP'?"),
        (
            ["run", "--dataset", "npz", "--set", "d_modle=64"],
            "no parameter 'd_modle' (did you mean 'd_model'?)",
        ),
        (["run", "--dataset", "npz", "--set", "epochs"], "expects KEY=VALUE"),
        (["run", "--dataset", "npz", "--sliding-window", "0"], "positive integer"),
        (["run"], "required: --dataset"),
        (["run", "--dataset", "SMD", "--data-dir", "/no/such/dir"], "not a folder"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(argv, expected, capsys):
    assert main(argv) == 2
    assert expected in _error_line(capsys)


def test_unknown_subcommand_suggests_run(capsys):
    assert main(["rnu"]) == 2
    assert "did you mean 'run'?" in _error_line(capsys)


def test_bad_parameter_value_is_one_line(npz_dir, capsys):
    argv = ["run", "--dataset", "npz", "--data-dir", str(npz_dir)]
    argv += ["--benchmark", "TOY", "--entity", "toy-1", "--quiet"]
    assert main([*argv, "--set", "epochs=-1"]) == 2
    assert "epochs" in _error_line(capsys)


def test_missing_entity_suggests_the_nearest(npz_dir, capsys):
    argv = ["run", "--dataset", "npz", "--data-dir", str(npz_dir)]
    assert main([*argv, "--benchmark", "TOY", "--entity", "toy-2"]) == 2
    assert "did you mean 'toy-1'?" in _error_line(capsys)


def test_json_into_a_missing_folder_is_refused_before_fitting(npz_dir, capsys):
    argv = ["run", "--dataset", "npz", "--data-dir", str(npz_dir)]
    argv += ["--benchmark", "TOY", "--entity", "toy-1"]
    assert main([*argv, "--json", str(npz_dir / "no" / "r.json")]) == 2
    line = _error_line(capsys)
    assert "does not exist" in line and "create it" in line


def test_console_script_prints_no_traceback(tmp_path):
    """The installed entry point, run as a process: exit status and stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "maat_detector.cli", "run", "--dataset", "SDM"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "did you mean 'SMD'?" in done.stderr
