"""Saving and loading detectors: same scores back, and no code run on load."""

import pickle
import zipfile

import numpy as np
import pytest
import torch
from conftest import TINY, sinusoids
from sklearn.exceptions import NotFittedError

from maat_detector import MAATDetector, __version__, persistence
from maat_detector.persistence import FORMAT_VERSION

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def fitted():
    """A detector fitted on named columns, so feature names travel too."""
    torch.set_num_threads(1)
    X = pd.DataFrame(sinusoids(160), columns=["cpu", "mem", "net"])
    return MAATDetector(**{**TINY, "epochs": 1}).fit(X), X


@pytest.fixture
def saved(fitted, tmp_path):
    det, _ = fitted
    path = tmp_path / "det.maat"
    det.save(path)
    return path


def _rewrite(path, edit):
    """Edit a saved payload and write it back with a valid checksum."""
    payload = torch.load(path, weights_only=True, map_location="cpu")
    edit(payload)
    payload["checksum"] = persistence._checksum(payload)
    torch.save(payload, path)


def _fitted_attributes(det):
    return {k: v for k, v in vars(det).items() if k.endswith("_") and k != "model_"}


def test_round_trip_keeps_scores_and_every_fitted_attribute(fitted, saved):
    det, X = fitted
    again = MAATDetector.load(saved)
    np.testing.assert_array_equal(again.score_samples(X), det.score_samples(X))
    np.testing.assert_array_equal(again.predict(X), det.predict(X))
    assert again.get_params() == det.get_params()
    assert not again.model_.training
    expected, got = _fitted_attributes(det), _fitted_attributes(again)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, np.ndarray):
            assert got[name].dtype == value.dtype, name
            np.testing.assert_array_equal(got[name], value, err_msg=name)
        else:
            assert got[name] == value, name
            assert type(got[name]) is type(value), name
    for key, tensor in det.model_.state_dict().items():
        assert torch.equal(again.model_.state_dict()[key], tensor), key


def test_file_holds_only_plain_values_and_versions(saved):
    payload = torch.load(saved, weights_only=True, map_location="cpu")
    assert payload["maat_detector_format"] == FORMAT_VERSION
    assert payload["versions"]["maat_detector"] == __version__
    assert {"torch", "numpy", "sklearn"} <= payload["versions"].keys()
    assert payload["params"]["win_size"] == TINY["win_size"]
    assert payload["config"]["n_features"] == 3


def test_unfitted_detector_cannot_be_saved(tmp_path):
    with pytest.raises(NotFittedError):
        MAATDetector(**TINY).save(tmp_path / "det.maat")
    assert not (tmp_path / "det.maat").exists()


def test_interrupted_save_keeps_the_previous_file(fitted, saved, monkeypatch):
    det, _ = fitted
    before = saved.read_bytes()

    def half_written(obj, file):
        file.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(persistence.torch, "save", half_written)
    with pytest.raises(KeyboardInterrupt):
        det.save(saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ValueError, match="truncated or corrupted.*Save the detector again"
    ):
        MAATDetector.load(saved)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.maat"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="not a maat_detector file.*MAATDetector.save"):
        MAATDetector.load(path)


def test_flipped_weight_byte_is_caught_by_the_checksum(saved):
    """The zip archive does not check tensor data; the checksum does."""
    with zipfile.ZipFile(saved) as archive:
        record = max(
            (i for i in archive.infolist() if "/data/" in i.filename),
            key=lambda i: i.file_size,
        )
    data = bytearray(saved.read_bytes())
    start = record.header_offset
    name_len = int.from_bytes(data[start + 26 : start + 28], "little")
    extra_len = int.from_bytes(data[start + 28 : start + 30], "little")
    data[start + 30 + name_len + extra_len + record.file_size // 2] ^= 0x40
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted.*checksum"):
        MAATDetector.load(saved)


def test_torch_file_of_something_else(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(ValueError, match="not a maat_detector file.*holding a Tensor"):
        MAATDetector.load(path)


class _Payload:
    """Unpickling this creates a marker file: stands for arbitrary code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("container", ["pickle", "torch.save"])
def test_malicious_pickle_is_refused_without_running(tmp_path, container):
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.maat"
    if container == "pickle":
        path.write_bytes(pickle.dumps(_Payload(marker)))
    else:
        torch.save({"maat_detector_format": 1, "x": _Payload(marker)}, path)
    with pytest.raises(ValueError, match="not a maat_detector file"):
        MAATDetector.load(path)
    assert not marker.exists()
    # The payload is real: an ordinary unpickler does run it.
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(probe))).close()
    assert probe.exists()


def test_newer_format_says_upgrade(saved):
    _rewrite(saved, lambda p: p.update(maat_detector_format=FORMAT_VERSION + 1))
    with pytest.raises(
        ValueError, match=r"reads formats up to 1\. Upgrade: pip install"
    ):
        MAATDetector.load(saved)


def test_other_library_version_warns_and_loads(fitted, saved):
    det, X = fitted
    _rewrite(saved, lambda p: p["versions"].update(maat_detector="0.0.1"))
    with pytest.warns(
        UserWarning, match=f"maat_detector 0.0.1 and is loaded by {__version__}"
    ):
        again = MAATDetector.load(saved)
    np.testing.assert_array_equal(again.score_samples(X), det.score_samples(X))


def test_weight_shape_mismatch_names_the_weight_and_both_shapes(saved):
    def widen(payload):
        state = payload["state_dict"]
        key = next(k for k, v in state.items() if v.ndim == 2)
        rows, cols = state[key].shape
        state[key] = torch.zeros(rows + 1, cols)
        payload["key"] = key

    _rewrite(saved, widen)
    key = torch.load(saved, weights_only=True)["key"]
    with pytest.raises(ValueError) as info:
        MAATDetector.load(saved)
    message = str(info.value)
    assert repr(key) in message
    shape = tuple(torch.load(saved, weights_only=True)["state_dict"][key].shape)
    assert f"shape {shape} in the file but {(shape[0] - 1, shape[1])}" in message


def test_gpu_saved_detector_loads_on_cpu(fitted, saved, monkeypatch):
    det, X = fitted

    def as_if_from_gpu(payload):
        payload["fitted"]["device_"]["value"] = "cuda:0"
        payload["fitted"]["scan_backend_"] = "cuda"
        payload["config"]["scan_backend"] = "cuda"

    _rewrite(saved, as_if_from_gpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    again = MAATDetector.load(saved)
    assert again.device_ == torch.device("cpu")
    # scan_backend="auto" chooses again here: what a CPU fit chooses.
    assert again.scan_backend_ == again.config_.scan_backend == det.scan_backend_
    np.testing.assert_array_equal(again.score_samples(X), det.score_samples(X))


def test_unavailable_explicit_device_says_what_to_use(saved):
    with pytest.raises(ValueError, match="device='tpu9' is not a torch device; use"):
        MAATDetector.load(saved, device="tpu9")


def test_random_state_instance_is_saved_as_none_with_a_warning(fitted, tmp_path):
    det, X = fitted
    det = pickle.loads(pickle.dumps(det))  # a private copy to change
    det.set_params(random_state=np.random.RandomState(0))
    with pytest.warns(UserWarning, match="random_state is a RandomState instance"):
        det.save(tmp_path / "det.maat")
    again = MAATDetector.load(tmp_path / "det.maat")
    assert again.random_state is None
    np.testing.assert_array_equal(again.score_samples(X), det.score_samples(X))


def test_gpu_pickle_with_fused_scan_scores_on_cpu(fitted, monkeypatch):
    """Like MAATDetector.load, unpickling falls back to a CPU scan off CUDA."""
    import dataclasses

    det, X = fitted
    state = det.__getstate__()
    state["device_"], state["scan_backend_"] = "cuda:0", "cuda"
    state["config_"] = dataclasses.replace(state["config_"], scan_backend="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = MAATDetector.__new__(MAATDetector)
    restored.__setstate__(pickle.loads(pickle.dumps(state)))
    np.testing.assert_array_equal(restored.score_samples(X), det.score_samples(X))
    assert restored.scan_backend_ == det.scan_backend_


def test_files_from_before_top_channels_keep_the_all_channel_score(tmp_path):
    """Older files were calibrated on all-channel means; loading keeps that."""
    X = sinusoids(200, n_features=5)
    det = MAATDetector(**{**TINY, "epochs": 1, "top_channels": None}).fit(X)
    path = tmp_path / "old.maat"
    det.save(path)
    _rewrite(path, lambda payload: payload["params"].pop("top_channels"))
    again = MAATDetector.load(path)
    assert again.top_channels is None
    np.testing.assert_array_equal(again.anomaly_score(X), det.anomaly_score(X))

    state = det.__getstate__()
    del state["top_channels"]
    unpickled = MAATDetector.__new__(MAATDetector)
    unpickled.__setstate__(state)
    assert unpickled.top_channels is None


def test_files_from_before_restore_best_keep_their_best_epoch_rule(tmp_path):
    """Older files kept their best epoch; a refit of a loaded one does too."""
    X = sinusoids(160)
    det = MAATDetector(**{**TINY, "epochs": 1}).fit(X)
    path = tmp_path / "old.maat"
    det.save(path)
    _rewrite(path, lambda payload: payload["params"].pop("restore_best"))
    assert MAATDetector.load(path).restore_best is True

    state = det.__getstate__()
    del state["restore_best"]
    unpickled = MAATDetector.__new__(MAATDetector)
    unpickled.__setstate__(state)
    assert unpickled.restore_best is True


def test_forecaster_round_trip_keeps_its_causal_network(tmp_path):
    X = sinusoids(160)
    det = MAATDetector(**{**TINY, "epochs": 1, "objective": "forecast"}).fit(X)
    det.save(tmp_path / "forecaster.maat")
    loaded = MAATDetector.load(tmp_path / "forecaster.maat")
    assert loaded.objective == "forecast" and loaded.model_.embedding.shifted
    np.testing.assert_array_equal(loaded.anomaly_score(X), det.anomaly_score(X))


def test_files_from_before_objective_keep_their_reconstruction_network(tmp_path):
    X = sinusoids(160)
    det = MAATDetector(**{**TINY, "epochs": 1, "objective": "reconstruction"}).fit(X)
    path = tmp_path / "old.maat"
    det.save(path)

    def drop(payload):
        payload["params"].pop("objective")
        payload["config"].pop("objective")

    _rewrite(path, drop)
    again = MAATDetector.load(path)
    assert again.objective == "reconstruction"
    assert not again.model_.embedding.shifted
    np.testing.assert_array_equal(again.anomaly_score(X), det.anomaly_score(X))

    state = det.__getstate__()
    del state["objective"]
    del state["config_"].__dict__["objective"]
    unpickled = MAATDetector.__new__(MAATDetector)
    unpickled.__setstate__(state)
    assert unpickled.objective == "reconstruction"
    np.testing.assert_array_equal(unpickled.anomaly_score(X), det.anomaly_score(X))


def test_files_from_before_smoothing_keep_their_unsmoothed_scores(tmp_path):
    X = sinusoids(200, n_features=1)
    det = MAATDetector(**{**TINY, "epochs": 1, "score_smoothing": 1}).fit(X)
    path = tmp_path / "old.maat"
    det.save(path)
    _rewrite(path, lambda payload: payload["params"].pop("score_smoothing"))
    again = MAATDetector.load(path)
    assert again.score_smoothing == 1
    np.testing.assert_array_equal(again.anomaly_score(X), det.anomaly_score(X))

    state = det.__getstate__()
    del state["score_smoothing"]
    unpickled = MAATDetector.__new__(MAATDetector)
    unpickled.__setstate__(state)
    assert unpickled.score_smoothing == 1
