"""Tests for maat_detector.datasets: tiny files in each original layout."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from maat_detector import datasets
from maat_detector.datasets import (
    Dataset,
    list_entities,
    load_benchmark_entity,
    load_dataset,
    load_msl,
    load_nips_ts_swan,
    load_nips_ts_water,
    load_npz,
    load_psm,
    load_smap,
    load_smd,
    load_swat,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MAAT_DATA") or REPO_ROOT.parent / "shared" / "data")


def _check_types(ds, n_train, n_test, n_channels):
    assert isinstance(ds, Dataset)
    assert ds.train.dtype == np.float32 and ds.test.dtype == np.float32
    assert ds.test_label.dtype == np.uint8
    assert ds.train.shape == (n_train, n_channels)
    assert ds.test.shape == (n_test, n_channels)
    assert ds.test_label.shape == (n_test,)
    assert ds.n_channels == n_channels


# ---------------------------------------------------------------- SMD


def _write_smd(root, machines):
    rng = np.random.default_rng(0)
    data = {}
    for sub in ("train", "test", "test_label"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, (m, (n_tr, n_te)) in enumerate(machines.items()):
        tr = np.round(rng.random((n_tr, 3)), 4) + i
        te = np.round(rng.random((n_te, 3)), 4) + i
        lab = (np.arange(n_te) % 3 == 0).astype(int)
        np.savetxt(root / "train" / f"{m}.txt", tr, delimiter=",", fmt="%.4f")
        np.savetxt(root / "test" / f"{m}.txt", te, delimiter=",", fmt="%.4f")
        np.savetxt(root / "test_label" / f"{m}.txt", lab, fmt="%d")
        data[m] = (tr, te, lab)
    return data


def test_smd_one_machine_and_all_in_natural_order(tmp_path):
    root = tmp_path / "ServerMachineDataset"
    machines = {"machine-1-1": (5, 4), "machine-1-10": (2, 3), "machine-1-2": (3, 2)}
    data = _write_smd(root, machines)

    ds = load_smd(root, machine="machine-1-2")
    _check_types(ds, 3, 2, 3)
    np.testing.assert_allclose(ds.train, data["machine-1-2"][0], rtol=1e-6)
    np.testing.assert_array_equal(ds.test_label, data["machine-1-2"][2])
    assert ds.name == "SMD/machine-1-2" and ds.channel_names is None

    # All machines, natural order 1-1, 1-2, 1-10; the parent folder works too.
    full = load_smd(tmp_path)
    order = ["machine-1-1", "machine-1-2", "machine-1-10"]
    _check_types(full, 10, 9, 3)
    np.testing.assert_allclose(
        full.test, np.concatenate([data[m][1] for m in order]), rtol=1e-6
    )
    np.testing.assert_array_equal(
        full.test_label, np.concatenate([data[m][2] for m in order])
    )
    # An explicit list keeps its order.
    two = load_smd(root, machine=["machine-1-10", "machine-1-1"])
    np.testing.assert_allclose(two.train[:2], data["machine-1-10"][0], rtol=1e-6)


def test_smd_errors_name_the_expected_path(tmp_path):
    root = tmp_path / "ServerMachineDataset"
    _write_smd(root, {"machine-1-1": (4, 4)})
    with pytest.raises(FileNotFoundError, match="machine-9-9.txt"):
        load_smd(root, machine="machine-9-9")
    (root / "test_label" / "machine-1-1.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"test_label.machine-1-1\.txt"):
        load_smd(root)
    with pytest.raises(FileNotFoundError, match="train"):
        load_smd(tmp_path / "elsewhere")


def test_smd_length_mismatch_and_bad_labels(tmp_path):
    root = tmp_path / "SMD"
    _write_smd(root, {"machine-1-1": (4, 4)})
    np.savetxt(root / "test_label" / "machine-1-1.txt", [0, 1, 0], fmt="%d")
    with pytest.raises(ValueError, match="4 rows but test_label has 3"):
        load_smd(root)
    np.savetxt(root / "test_label" / "machine-1-1.txt", [0, 1, 2, 0], fmt="%d")
    with pytest.raises(ValueError, match=r"label value\(s\) \[2"):
        load_smd(root)


# ---------------------------------------------------------------- MSL / SMAP

_CSV = """chan_id,spacecraft,anomaly_sequences,class,num_values
P-1,SMAP,"[[1, 2]]",[point],5
M-2,MSL,"[[0, 0], [3, 4]]","[point, contextual]",6
C-1,MSL,"[[2, 3]]",[contextual],4
P-2,SMAP,"[[0, 1]]",[point],3
P-2,SMAP,"[[2, 2]]",[point],3
"""


def _write_telemanom(root):
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    (root / "labeled_anomalies.csv").write_text(_CSV)
    arrays = {}
    sizes = {"P-1": (3, 5, 2), "M-2": (2, 6, 3), "C-1": (4, 4, 3), "P-2": (2, 3, 2)}
    for k, (chan, (n_tr, n_te, d)) in enumerate(sizes.items()):
        tr = np.full((n_tr, d), k, dtype=np.float64)
        te = np.full((n_te, d), k + 0.5, dtype=np.float64)
        np.save(root / "train" / f"{chan}.npy", tr)
        np.save(root / "test" / f"{chan}.npy", te)
        arrays[chan] = (tr, te)
    return arrays


def test_telemanom_channel_and_spacecraft_orders(tmp_path):
    arrays = _write_telemanom(tmp_path)

    one = load_msl(tmp_path, channel="M-2")
    _check_types(one, 2, 6, 3)
    np.testing.assert_array_equal(one.test_label, [1, 0, 0, 1, 1, 0])  # inclusive
    assert one.name == "MSL/M-2"

    # Default: sorted by chan_id (OmniAnomaly), so C-1 before M-2.
    msl = load_msl(tmp_path)
    _check_types(msl, 6, 10, 3)
    np.testing.assert_array_equal(msl.test_label, [0, 0, 1, 1, 1, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(msl.train[:, 0], [2, 2, 2, 2, 1, 1])
    # CSV order puts M-2 first.
    csv_order = load_msl(tmp_path, order="csv")
    np.testing.assert_array_equal(csv_order.train[:, 0], [1, 1, 2, 2, 2, 2])
    assert msl.name == "MSL"

    # SMAP: P-2 (listed twice) is excluded by default, kept and merged on request.
    smap = load_smap(tmp_path)
    _check_types(smap, 3, 5, 2)
    p2 = load_smap(tmp_path, channel="P-2")
    np.testing.assert_array_equal(p2.test_label, [1, 1, 1])
    both = load_dataset("smap", tmp_path, exclude=())
    _check_types(both, 5, 8, 2)
    np.testing.assert_array_equal(
        both.test, np.concatenate([arrays["P-1"][1], arrays["P-2"][1]])
    )


def test_telemanom_errors(tmp_path):
    _write_telemanom(tmp_path)
    with pytest.raises(ValueError, match="belongs to SMAP"):
        load_msl(tmp_path, channel="P-1")
    with pytest.raises(ValueError, match="'X-9' is not in"):
        load_msl(tmp_path, channel="X-9")
    (tmp_path / "test" / "C-1.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"test.C-1\.npy"):
        load_msl(tmp_path)
    np.save(tmp_path / "test" / "C-1.npy", np.zeros((7, 3)))
    with pytest.raises(ValueError, match="num_values=4"):
        load_msl(tmp_path, channel="C-1")
    (tmp_path / "labeled_anomalies.csv").unlink()
    with pytest.raises(FileNotFoundError, match="labeled_anomalies.csv"):
        load_msl(tmp_path)


def test_telemanom_channel_width_mismatch(tmp_path):
    _write_telemanom(tmp_path)
    np.save(tmp_path / "train" / "C-1.npy", np.zeros((4, 5)))
    np.save(tmp_path / "test" / "C-1.npy", np.zeros((4, 5)))
    with pytest.raises(ValueError, match="same number of channels"):
        load_msl(tmp_path)


# ---------------------------------------------------------------- PSM


def _write_psm(root, train_rows):
    root.mkdir(parents=True, exist_ok=True)
    header = "timestamp_(min),feature_0,feature_1,feature_2\n"
    (root / "train.csv").write_text(header + "".join(r + "\n" for r in train_rows))
    (root / "test.csv").write_text(header + "10.0,1,2,3\n11.0,4,5,6\n12.0,7,8,9\n")
    (root / "test_label.csv").write_text(
        "timestamp_(min),label\n10.0,0\n11.0,1.0\n12.0,0\n"
    )


def test_psm_values_names_and_nan_policies(tmp_path):
    _write_psm(tmp_path, ["0.0,1.5,,3", "1.0,,2.5,", "2.0,4,5,6"])
    ds = load_psm(tmp_path)  # default nan_policy="zero", as the reference
    _check_types(ds, 3, 3, 3)
    assert ds.channel_names == ("feature_0", "feature_1", "feature_2")
    np.testing.assert_array_equal(ds.train, [[1.5, 0, 3], [0, 2.5, 0], [4, 5, 6]])
    np.testing.assert_array_equal(ds.test[2], [7, 8, 9])
    np.testing.assert_array_equal(ds.test_label, [0, 1, 0])

    ff = load_psm(tmp_path, nan_policy="ffill")
    np.testing.assert_array_equal(ff.train, [[1.5, 0, 3], [1.5, 2.5, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match=r"row 0, column 1 \(feature_1\)"):
        load_psm(tmp_path, nan_policy="raise")
    with pytest.raises(ValueError, match="nan_policy='drop'"):
        load_psm(tmp_path, nan_policy="drop")


def test_psm_errors(tmp_path):
    _write_psm(tmp_path, ["0.0,1,2,3"])
    (tmp_path / "test_label.csv").write_text("timestamp_(min),label\n10.0,0\n11.0,1\n")
    with pytest.raises(ValueError, match="3 rows but test_label has 2"):
        load_psm(tmp_path)
    (tmp_path / "test_label.csv").unlink()
    with pytest.raises(FileNotFoundError, match="test_label.csv"):
        load_psm(tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_psm(tmp_path / "nowhere")
    _write_psm(tmp_path, ["0.0,1,2,oops"])
    with pytest.raises(ValueError, match=r"train\.csv.*oops"):
        load_psm(tmp_path)


# ---------------------------------------------------------------- SWaT

_SWAT_HEADER = " Timestamp,FIT101 ,LIT101, MV101,Normal/Attack\n"


def test_swat_title_row_label_mapping_and_names(tmp_path):
    (tmp_path / "SWaT_Dataset_Normal_v1.csv").write_text(
        ",P1,P1,P1,\n"  # title row above the header, as in the original sheets
        + _SWAT_HEADER
        + " 22/12/2015 4:00:00 PM,0.1,124.3,1,Normal\n"
        + " 22/12/2015 4:00:01 PM,0.2,124.4,1,Normal\n"
    )
    (tmp_path / "SWaT_Dataset_Attack_v0.csv").write_text(
        _SWAT_HEADER
        + " 28/12/2015 10:00:00 AM,2.4,522.8,2,Normal\n"
        + " 28/12/2015 10:00:01 AM,2.5,522.9,2,Attack\n"
        + " 28/12/2015 10:00:02 AM,2.6,523.0,2,A ttack\n"
    )
    ds = load_swat(tmp_path)
    _check_types(ds, 2, 3, 3)
    assert ds.channel_names == ("FIT101", "LIT101", "MV101")
    np.testing.assert_allclose(ds.test[1], [2.5, 522.9, 2])
    np.testing.assert_array_equal(ds.test_label, [0, 1, 1])
    np.testing.assert_array_equal(ds.train_label, [0, 0])
    assert ds.name == "SWaT"


def test_swat_custom_names_and_errors(tmp_path):
    (tmp_path / "normal.csv").write_text(_SWAT_HEADER + "t,1,2,3,Normal\n")
    (tmp_path / "attack.csv").write_text(_SWAT_HEADER + "t,1,2,3,Anomalous\n")
    with pytest.raises(ValueError, match=r"\['Anomalous'\]"):
        load_swat(tmp_path, train_file="normal.csv", test_file="attack.csv")
    with pytest.raises(FileNotFoundError, match="SWaT_Dataset_Normal_v1.csv"):
        load_swat(tmp_path)
    (tmp_path / "attack.csv").write_text("Timestamp,FIT101,LIT101,MV101\nt,1,2,3\n")
    with pytest.raises(ValueError, match=r"attack\.csv.*Normal/Attack"):
        load_swat(tmp_path, train_file="normal.csv", test_file="attack.csv")


# ---------------------------------------------------------------- NIPS-TS


@pytest.mark.parametrize(
    ("loader", "prefix", "name"),
    [
        (load_nips_ts_swan, "NIPS_TS_Swan", "NIPS_TS_Swan"),
        (load_nips_ts_water, "NIPS_TS_Water", "nips-ts-water"),
    ],
)
def test_nips_ts(tmp_path, loader, prefix, name):
    train = np.arange(12, dtype=np.float64).reshape(6, 2)
    np.save(tmp_path / f"{prefix}_train.npy", train)
    np.save(tmp_path / f"{prefix}_test.npy", train[:4] + 0.5)
    np.save(tmp_path / f"{prefix}_test_label.npy", np.array([0.0, 1.0, 1.0, 0.0]))
    ds = loader(tmp_path)
    _check_types(ds, 6, 4, 2)
    np.testing.assert_array_equal(ds.test_label, [0, 1, 1, 0])
    assert ds.name == prefix
    assert load_dataset(name, tmp_path).test.tolist() == ds.test.tolist()

    np.save(tmp_path / f"{prefix}_test_label.npy", np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="4 rows but test_label has 3"):
        loader(tmp_path)
    np.save(tmp_path / f"{prefix}_test.npy", np.zeros((4, 3)))
    with pytest.raises(ValueError, match="2 channels but test has 3"):
        loader(tmp_path)
    (tmp_path / f"{prefix}_train.npy").unlink()
    with pytest.raises(FileNotFoundError, match=f"{prefix}_train.npy"):
        loader(tmp_path)


# ---------------------------------------------------------------- npz + dispatch


def test_npz_roundtrip_and_errors(tmp_path):
    path = tmp_path / "toy.npz"
    np.savez(
        path,
        train=np.ones((5, 2)),
        test=np.zeros((3, 2)),
        test_label=np.array([True, False, True]),
        train_label=np.array([0, 0, 0, 1, 0], dtype=np.uint8),
    )
    ds = load_npz(path)
    _check_types(ds, 5, 3, 2)
    np.testing.assert_array_equal(ds.test_label, [1, 0, 1])
    np.testing.assert_array_equal(ds.train_label, [0, 0, 0, 1, 0])
    train, test, test_label = ds[:3]
    assert train is ds.train and test_label is ds.test_label
    assert load_dataset("npz", path).name == "toy"

    np.savez(tmp_path / "bad.npz", train=np.ones((5, 2)), test=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"lacks array\(s\) \['test_label'\]"):
        load_npz(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_npz(tmp_path / "missing.npz")


def test_benchmark_entity_resolves_data_dir(tmp_path, monkeypatch):
    (tmp_path / "TOY").mkdir()
    for entity in ("e-10", "e-2"):
        np.savez(
            tmp_path / "TOY" / f"{entity}.npz",
            train=np.ones((4, 1)),
            test=np.ones((2, 1)),
            test_label=np.array([0, 1]),
        )
    monkeypatch.delenv("MAAT_DATA", raising=False)
    with pytest.raises(ValueError, match="MAAT_DATA"):
        list_entities("TOY")
    assert list_entities("TOY", tmp_path) == ["e-2", "e-10"]
    monkeypatch.setenv("MAAT_DATA", str(tmp_path))
    ds = load_benchmark_entity("TOY", "e-2")
    assert ds.name == "TOY/e-2" and ds.test.shape == (2, 1)
    assert load_dataset("npz", dataset="TOY", entity="e-10").name == "TOY/e-10"
    with pytest.raises(FileNotFoundError, match=r"TOY.nope\.npz"):
        load_benchmark_entity("TOY", "nope")
    with pytest.raises(FileNotFoundError, match="NOPE"):
        list_entities("NOPE")


def test_load_dataset_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="NIPS_TS_Swan"):
        load_dataset("UCR", tmp_path)
    with pytest.raises(ValueError, match="data_dir"):
        load_dataset("PSM")
    assert set(datasets.DATASET_NAMES) >= {"SMD", "MSL", "SMAP", "PSM", "SWaT"}


def test_dataset_repr_is_short():
    ds = Dataset(
        np.zeros((50, 3), np.float32),
        np.zeros((40, 3), np.float32),
        np.ones(40, np.uint8),
        ("a", "b", "c"),
        "x",
    )
    assert repr(ds) == (
        "Dataset(name='x', train=(50, 3), test=(40, 3), anomalies=40/40, "
        "channel_names=<3>)"
    )


# ---------------------------------------------------------------- shared data

_SMALL = [("MSL", "T-9"), ("SMAP", "D-12"), ("UCR", None)]


@pytest.mark.skipif(
    not (SHARED_DATA / "manifest.json").is_file(),
    reason=f"shared benchmark data not found at {SHARED_DATA} (set MAAT_DATA)",
)
@pytest.mark.parametrize(("dataset", "entity"), _SMALL)
def test_shared_npz_matches_manifest(dataset, entity):
    manifest = json.loads((SHARED_DATA / "manifest.json").read_text())
    if dataset not in manifest:
        pytest.skip(f"{dataset} not in the shared manifest")
    if entity is None:
        entity = list_entities(dataset, SHARED_DATA)[0]
    info = manifest[dataset][entity]
    ds = load_benchmark_entity(dataset, entity, SHARED_DATA)
    assert list(ds.train.shape) == info["train_shape"]
    assert list(ds.test.shape) == info["test_shape"]
    assert ds.train.dtype == np.float32 and ds.test_label.dtype == np.uint8
    assert ds.test_label.mean() == pytest.approx(info["anomaly_ratio"], abs=1e-4)
    assert entity in list_entities(dataset, SHARED_DATA)


@pytest.mark.skipif(
    not (SHARED_DATA / "MSL" / "labeled_anomalies.csv").is_file(),
    reason=f"shared MSL/SMAP data not found at {SHARED_DATA} (set MAAT_DATA)",
)
@pytest.mark.parametrize(
    ("spacecraft", "n_train", "n_test"),
    [("MSL", 58317, 73729), ("SMAP", 135183, 427617)],
)
def test_telemanom_rebuilt_from_shared_npz_matches_published_sizes(
    tmp_path, spacecraft, n_train, n_test
):
    # Rebuild the telemanom layout from the per-channel .npz copies, then check
    # that the default concatenation has the row counts of the MSL/SMAP arrays
    # used by Anomaly Transformer and MAAT, with the .npz labels in sorted order.
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    csv_path = SHARED_DATA / spacecraft / "labeled_anomalies.csv"
    (tmp_path / "labeled_anomalies.csv").write_bytes(csv_path.read_bytes())
    labels = {}
    for entity in list_entities(spacecraft, SHARED_DATA):
        ds = load_benchmark_entity(spacecraft, entity, SHARED_DATA)
        np.save(tmp_path / "train" / f"{entity}.npy", ds.train)
        np.save(tmp_path / "test" / f"{entity}.npy", ds.test)
        labels[entity] = ds.test_label
    full = load_dataset(spacecraft, tmp_path)
    assert full.train.shape[0] == n_train and full.test.shape[0] == n_test
    expected = np.concatenate([labels[c] for c in sorted(labels) if c != "P-2"])
    np.testing.assert_array_equal(full.test_label, expected)
