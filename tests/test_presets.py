"""Tests for maat_detector.presets: the paper's per-dataset settings."""

import re
from pathlib import Path

import pytest

from maat_detector.presets import (
    PAPER_F1,
    PAPER_N_CHANNELS,
    PAPER_PRESETS,
    paper_preset,
)

MODEL_MD = Path(__file__).resolve().parents[2] / "shared" / "MODEL.md"

KEYS = {
    "win_size",
    "d_model",
    "n_heads",
    "e_layers",
    "d_ff",
    "epochs",
    "batch_size",
    "lr",
    "k",
    "contamination",
    "train_step",
    "d_state",
    "d_conv",
    "expand",
    "block_size",
    "temperature",
    "objective",
    "score_mode",
    "score_smoothing",
    "max_train_windows",
}

# MODEL.md section 1 table: win_size, input_c, batch, epochs, anormly_ratio (%),
# train stride.
TABLE = {
    "SMD": (100, 38, 128, 1, 0.5, 100),
    "MSL": (100, 55, 256, 1, 0.85, 1),
    "SMAP": (105, 25, 256, 1, 0.5, 1),
    "PSM": (100, 25, 128, 1, 1.0, 1),
    "SWaT": (100, 51, 256, 1, 0.5, 1),
    "NIPS_TS_Swan": (100, 38, 128, 3, 0.9, 1),
    "NIPS_TS_Water": (100, 9, 32, 3, 0.5, 1),
}
COMMON = {
    "d_model": 512,
    "n_heads": 8,
    "e_layers": 3,
    "d_ff": 512,
    "lr": 1e-4,
    "k": 3,
    "d_state": 8,
    "d_conv": 4,
    "expand": 2,
    "block_size": 10,
}


def test_every_preset_has_all_keys():
    assert set(PAPER_PRESETS) == set(TABLE)
    for name, preset in PAPER_PRESETS.items():
        assert set(preset) == KEYS, name


@pytest.mark.parametrize("name", list(TABLE))
def test_values_match_model_md_table(name):
    win, n_channels, batch, epochs, ratio, step = TABLE[name]
    p = paper_preset(name)
    assert (p["win_size"], p["batch_size"], p["epochs"], p["train_step"]) == (
        win,
        batch,
        epochs,
        step,
    )
    assert p["contamination"] == pytest.approx(ratio / 100, rel=1e-12)
    assert {k: p[k] for k in COMMON} == COMMON
    assert PAPER_N_CHANNELS[name] == n_channels


@pytest.mark.skipif(not MODEL_MD.is_file(), reason=f"{MODEL_MD} not found")
def test_table_above_is_the_one_in_model_md():
    rows = {}
    for line in MODEL_MD.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] in TABLE:
            n_channels = int(re.match(r"\d+", cells[2]).group())
            rows[cells[0]] = (
                int(cells[1]),
                n_channels,
                int(cells[3]),
                int(cells[4]),
                float(cells[5]),
                int(cells[6]),
            )
    if not rows:
        pytest.skip("per-dataset settings table not found in MODEL.md")
    assert rows == TABLE


def test_copies_are_independent_and_presets_read_only():
    a = paper_preset("SMD")
    a["win_size"] = 7
    assert paper_preset("SMD")["win_size"] == 100
    assert PAPER_PRESETS["SMD"]["win_size"] == 100
    with pytest.raises(TypeError):
        PAPER_PRESETS["SMD"]["win_size"] = 7
    with pytest.raises(TypeError):
        PAPER_PRESETS["NEW"] = {}


def test_lookup_is_lenient_and_overrides_apply():
    assert paper_preset("nips-ts-water") == dict(PAPER_PRESETS["NIPS_TS_Water"])
    p = paper_preset("swat", epochs=2, device="cpu")
    assert p["epochs"] == 2 and p["device"] == "cpu"
    assert PAPER_PRESETS["SWaT"]["epochs"] == 1


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"'UCR'.*SMD.*NIPS_TS_Water"):
        paper_preset("UCR")


def test_paper_f1():
    assert dict(PAPER_F1) == {
        "SMD": 92.30,
        "MSL": 95.05,
        "SMAP": 96.99,
        "SWaT": 96.50,
        "PSM": 98.32,
    }
    assert "NIPS_TS_Swan" not in PAPER_F1
    assert set(PAPER_F1) <= set(PAPER_PRESETS)


def test_keys_are_estimator_parameters():
    pytest.importorskip("torch")
    try:
        from maat_detector import MAATDetector
    except ImportError as exc:  # the estimator module may not exist yet
        pytest.skip(f"MAATDetector not importable: {exc}")
    params = MAATDetector().get_params()
    for name in PAPER_PRESETS:
        assert set(paper_preset(name)) <= set(params), name
        assert MAATDetector(**paper_preset(name)).get_params()["win_size"] > 0
