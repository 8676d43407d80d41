"""Save and load fitted detectors in a weights-only format that runs no code.

A detector file is one :func:`torch.save` archive holding a dict of tensors and
plain Python values (str, int, float, bool, None, and lists, tuples and
str-keyed dicts of them), read back with
``torch.load(path, weights_only=True, map_location="cpu")``. Unlike
:mod:`pickle` or :mod:`joblib`, whose loaders can run any code a file asks
for, loading a detector file never imports or calls anything it names.

Layout of the dict (format version 1):

``"maat_detector_format"`` : int
    Format version, :data:`FORMAT_VERSION`; a newer one is refused.
``"versions"`` : dict of str
    ``maat_detector``, ``torch``, ``numpy``, ``sklearn`` and ``python`` that
    wrote the file, for information (a different ``maat_detector`` warns).
``"params"`` : dict
    :meth:`MAATDetector.get_params` (a ``RandomState`` instance becomes None).
``"config"`` : dict
    ``dataclasses.asdict(config_)``, the :class:`~maat_detector.nn.MAATConfig`.
``"state_dict"`` : dict of str to Tensor
    The network's weights and buffers, on the CPU.
``"fitted"`` : dict
    Every other fitted attribute (``offset_``, ``threshold_``, ``center_``,
    ``scale_``, ``history_``, ``n_features_in_``, ``feature_names_in_`` ...).
    Plain values are stored as they are; numpy arrays, numpy scalars and
    devices as small tagged dicts, ``{"__kind__": "ndarray", "data": tensor}``
    and the like, so that they come back with their dtype.
``"checksum"`` : str
    SHA-256 of everything above, so that flipped bytes in the weights -- which
    the archive itself does not detect -- are reported instead of loaded.

Paths are written to a temporary file beside the destination and renamed, so
an interrupted save never leaves a truncated file under the final name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import platform
import tempfile
import warnings
import zipfile
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch

from ._params import network_changes, with_parameters_added_later
from ._version import __version__
from .engine import FittedMAAT
from .engine.network import available_device, restore_network
from .nn import MAATConfig

__all__ = ["FORMAT_VERSION", "read", "write"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Version of the file layout written by :func:`write`."""

_MAGIC_KEY = "maat_detector_format"
_ZIP_MAGIC = b"PK\x03\x04"
_KIND = "__kind__"
# Fitted attributes stored outside "fitted", or rebuilt on load.
_SPECIAL = ("model_", "config_")
_FITTED_FIELDS = {field.name for field in dataclasses.fields(FittedMAAT)}
# Fields rebuilt on load, and feature names, which only some fits have.
_REBUILT = {"config", "model", "device", "scan_backend", "feature_names_in"}
_REQUIRED_KEYS = ("versions", "params", "config", "state_dict", "fitted", "checksum")


def write(path, params, fitted):
    """Write a detector's parameters and fitted state to a file.

    :meth:`MAATDetector.save <maat_detector.MAATDetector.save>` calls this.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        Destination. A path is written atomically (temporary file, then
        rename); a file object is written as is.
    params : dict
        The estimator's ``get_params(deep=False)``.
    fitted : FittedMAAT
        Its fitted state.

    Raises
    ------
    TypeError
        If a parameter holds a value that is not a plain Python value.

    Warns
    -----
    UserWarning
        When ``random_state`` is a ``RandomState`` instance, which is saved as
        None (scores are unaffected; only a later refit is).

    See Also
    --------
    read : Read the file back.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from maat_detector import MAATDetector
    >>> X = np.c_[np.sin(np.arange(200) / 5), np.cos(np.arange(200) / 7)]
    >>> det = MAATDetector(win_size=20, d_model=8, n_heads=2, e_layers=1, d_ff=8,
    ...                    epochs=1, block_size=5, random_state=0).fit(X)
    >>> buffer = io.BytesIO()
    >>> det.save(buffer)
    >>> _ = buffer.seek(0)
    >>> again = MAATDetector.load(buffer)
    >>> bool((again.score_samples(X) == det.score_samples(X)).all())
    True
    """
    payload = _to_payload(params, fitted)
    if hasattr(path, "write"):
        torch.save(payload, path)
        return
    path = Path(path)
    descriptor, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def read(path, known_params, device=None):
    """Read a detector file written by :func:`write`, running no code.

    :meth:`MAATDetector.load <maat_detector.MAATDetector.load>` calls this.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        File written by :func:`write`.
    known_params : collection of str
        The parameter names this version's estimator takes; a file with any
        other is refused.
    device : str, torch.device or None, default=None
        Device for the network. None keeps the saved ``device_`` when it is
        available here, else uses the CPU; "auto" picks CUDA when available.

    Returns
    -------
    params : dict
        The estimator's parameters, those added after the file was written
        set to what the file computed.
    fitted : FittedMAAT
        The network in eval mode on the device; its scores equal the saved
        detector's on the same device.

    Raises
    ------
    ValueError
        If the file is truncated or corrupted, is not a maat_detector file
        (including any pickle that would run code), was written in a newer
        format version, or holds weights whose names or shapes do not match
        the saved configuration. The message says which.

    Warns
    -----
    UserWarning
        If the file was written by another maat_detector version with the
        same format; the detector is still loaded.

    Notes
    -----
    The fused CUDA scan is used again only on a CUDA device with mamba-ssm
    installed, the compiled CPU scan only on a CPU install that has it;
    otherwise the pure-PyTorch scan computes the same function, and
    ``scan_backend_`` says which one runs. A detector saved with
    ``scan_backend="auto"`` chooses again on the loading machine. The
    ``device`` and ``scan_backend`` parameters are restored as saved, so a
    later refit asks for what the original fit asked for.
    """
    payload = _read_payload(path)
    name = _describe(path)
    _check_versions(payload, name)
    return _from_payload(payload, name, device, known_params)


# ------------------------------------------------------------------ writing


def _to_payload(params, fitted):
    attributes = fitted.attributes()
    payload = {
        _MAGIC_KEY: FORMAT_VERSION,
        "versions": _library_versions(),
        "params": _encode_params(params),
        "config": _encode(dataclasses.asdict(fitted.config), "config_"),
        "state_dict": {
            key: tensor.detach().cpu()
            for key, tensor in fitted.model.state_dict().items()
        },
        "fitted": {
            name: _encode(value, name)
            for name, value in attributes.items()
            if name not in _SPECIAL
        },
    }
    payload["checksum"] = _checksum(payload)
    return payload


def _encode_params(params):
    params = dict(params)
    random_state = params.get("random_state")
    if random_state is not None and not isinstance(random_state, Integral):
        warnings.warn(
            f"random_state is a {type(random_state).__name__} instance, which the "
            "weights-only format cannot hold; it is saved as None. Scores are "
            "unaffected; pass an int random_state to make refits reproducible.",
            UserWarning,
            stacklevel=4,
        )
        params["random_state"] = None
    return {name: _encode(value, f"parameter {name}") for name, value in params.items()}


def _encode(value, where):
    """``value`` as weights-only types; numpy values become tagged dicts."""
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)  # also strips subclasses (np.str_, TorchVersion)
    if isinstance(value, np.generic):
        return {_KIND: "numpy_scalar", "dtype": value.dtype.str, "value": value.item()}
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, np.ndarray):
        return _encode_array(value, where)
    if isinstance(value, torch.device):
        return {_KIND: "device", "value": str(value)}
    if isinstance(value, torch.Tensor):
        return {_KIND: "tensor", "data": value.detach().cpu().clone()}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and _KIND not in value:
            return {str(k): _encode(v, where) for k, v in value.items()}
    elif isinstance(value, list):
        return [_encode(v, where) for v in value]
    elif isinstance(value, tuple):
        return tuple(_encode(v, where) for v in value)
    raise TypeError(
        f"{where} holds a {type(value).__name__}, which the weights-only format "
        "cannot store; use str, int, float, bool, None, numpy arrays, or lists, "
        "tuples and str-keyed dicts of them."
    )


def _encode_array(array, where):
    if array.dtype.kind in "biufc":
        data = torch.from_numpy(np.array(array, copy=True, order="C"))
        return {_KIND: "ndarray", "data": data}
    if array.dtype.kind in "OUS" and all(isinstance(v, str) for v in array.flat):
        return {
            _KIND: "ndarray_str",
            "dtype": "object" if array.dtype.kind == "O" else array.dtype.str,
            "shape": list(array.shape),
            "data": [str(v) for v in array.flat],
        }
    raise TypeError(
        f"{where} is an array of dtype {array.dtype} holding values other than "
        "numbers or strings, which the weights-only format cannot store."
    )


def _decode(value):
    """Inverse of :func:`_encode`."""
    if isinstance(value, dict):
        kind = value.get(_KIND)
        if kind is None:
            return {k: _decode(v) for k, v in value.items()}
        if kind == "ndarray":
            return value["data"].numpy().copy()
        if kind == "ndarray_str":
            array = np.array(value["data"], dtype=np.dtype(value["dtype"]))
            return array.reshape(value["shape"])
        if kind == "numpy_scalar":
            return np.dtype(value["dtype"]).type(value["value"])
        if kind == "device":
            return torch.device(value["value"])
        if kind == "tensor":
            return value["data"]
        raise ValueError(f"unknown stored value kind {kind!r}")
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_decode(v) for v in value)
    return value


def _library_versions():
    import sklearn

    return {
        "maat_detector": __version__,
        "torch": str(torch.__version__),  # a str subclass, not weights-only
        "numpy": str(np.__version__),
        "sklearn": str(sklearn.__version__),
        "python": platform.python_version(),
    }


def _checksum(payload):
    """SHA-256 over the payload, tensors by dtype, shape and bytes."""
    digest = hashlib.sha256()

    def feed(value):
        if isinstance(value, dict):
            digest.update(b"{")
            for key in sorted(value, key=repr):
                if key != "checksum":
                    digest.update(repr(key).encode())
                    feed(value[key])
            digest.update(b"}")
        elif isinstance(value, (list, tuple)):
            digest.update(b"[" if isinstance(value, list) else b"(")
            for item in value:
                feed(item)
            digest.update(b"]")
        elif isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            digest.update(f"{type(value).__name__}:{value!r};".encode())

    feed(payload)
    return digest.hexdigest()


# ------------------------------------------------------------------ reading


def _describe(path):
    return repr(str(path)) if not hasattr(path, "read") else "the file object"


def _read_payload(path):
    name = _describe(path)
    if hasattr(path, "read"):
        start = path.tell()
        head = path.read(4)
        path.seek(start)
    else:
        with open(path, "rb") as file:
            head = file.read(4)
    if head != _ZIP_MAGIC:
        # Not a torch zip archive: a pickle, joblib or legacy torch file, or
        # other bytes. Refuse before any unpickler sees it.
        raise ValueError(
            f"{name} is not a maat_detector file: it is not a torch zip archive "
            f"(it starts with {head!r}). Write detector files with "
            "MAATDetector.save; "
            "pickle and joblib files are not read here because loading them can "
            "run arbitrary code (use pickle/joblib only on files you trust)."
        )
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{name} is not a maat_detector file: it holds objects other than "
            "tensors and plain Python values, which torch.load(weights_only=True) "
            f"refused without running it ({_first_line(exc)}). Detector files "
            "from MAATDetector.save never do; load other files only from sources "
            "you trust."
        ) from exc
    except (
        RuntimeError,
        EOFError,
        OSError,
        UnicodeDecodeError,
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        IndexError,
    ) as exc:
        raise ValueError(
            f"cannot read {name}: the file is truncated or corrupted "
            f"({type(exc).__name__}: {_first_line(exc)}). Save the detector again "
            "or copy the file again in full."
        ) from exc
    if not isinstance(payload, dict) or _MAGIC_KEY not in payload:
        kind = type(payload).__name__
        if isinstance(payload, dict):
            kind += f" with keys {sorted(map(str, payload))[:6]}"
        raise ValueError(
            f"{name} is not a maat_detector file: it is a torch file holding a "
            f"{kind}. Write detector files with MAATDetector.save."
        )
    return payload


def _first_line(exc):
    """The informative line of a (possibly long) torch error message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("WeightsUnpickler error:"):
            return line
    return lines[0] if lines else type(exc).__name__


def _check_versions(payload, name):
    version = payload[_MAGIC_KEY]
    versions = payload.get("versions", {})
    if not isinstance(versions, dict):
        versions = {}
    writer = versions.get("maat_detector", "unknown")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(
            f"{name} has an invalid format version {version!r}; the file is "
            "corrupted. Save the detector again."
        )
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{name} was written by maat_detector {writer} in file format "
            f"{version}, but this maat_detector {__version__} reads formats up to "
            f"{FORMAT_VERSION}. Upgrade: pip install --upgrade maat-detector."
        )
    missing = [key for key in _REQUIRED_KEYS if key not in payload]
    if missing:
        raise ValueError(
            f"{name} is an incomplete maat_detector file: missing {missing}. "
            "Save the detector again."
        )
    if payload["checksum"] != _checksum(payload):
        raise ValueError(
            f"{name} is corrupted: its content does not match the checksum "
            "written with it. Save the detector again or copy the file again "
            "in full."
        )
    if writer != __version__:
        warnings.warn(
            f"{name} was written by maat_detector {writer} and is loaded by "
            f"{__version__}. The file format ({version}) is the same, but scores "
            "can differ if the model code changed; refit, or save again with "
            "this version to silence this warning.",
            UserWarning,
            stacklevel=3,
        )


def _from_payload(payload, name, device, known_params):
    try:
        params = _decode(payload["params"])
        fitted = _decode(payload["fitted"])
        saved_device = fitted["device_"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(
            f"{name} is a damaged maat_detector file: its parameters or fitted "
            f"attributes cannot be read ({type(exc).__name__}: {exc}). Save the "
            "detector again."
        ) from exc
    # Older files keep what they computed, not the newer defaults.
    params = with_parameters_added_later(params)
    unknown = sorted(set(params) - set(known_params))
    if unknown:
        raise ValueError(
            f"{name} has parameter(s) {unknown} that this maat_detector "
            f"{__version__} does not know. Upgrade: pip install --upgrade "
            "maat-detector."
        )
    target = available_device(saved_device, device)
    try:
        config = MAATConfig(**payload["config"])
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} holds a model configuration this maat_detector {__version__} "
            f"cannot build ({exc}). Upgrade maat-detector or save the detector "
            "again."
        ) from exc
    model, config = restore_network(
        config,
        payload["state_dict"],
        target,
        name,
        requested=params.get("scan_backend", "auto"),
    )
    fields = {
        attribute[:-1]: value
        for attribute, value in fitted.items()
        if attribute[:-1] in _FITTED_FIELDS
    }
    missing = sorted(f"{field}_" for field in _FITTED_FIELDS - set(fields) - _REBUILT)
    if missing:
        raise ValueError(
            f"{name} is a damaged maat_detector file: fitted attribute(s) "
            f"{missing} are missing. Save the detector again."
        )
    fields.update(config=config, model=model, device=target)
    fields["scan_backend"] = config.scan_backend
    _check_parts_agree(fields, params, name)
    return params, FittedMAAT(**fields)


def _check_parts_agree(fields, params, name):
    """Refuse a file whose parts disagree, although its checksum matches.

    The checksum only proves the file is what was written; a faulty writer or
    an edit followed by a new checksum can still join parts that do not fit
    together, and those would fail later, deep inside scoring.
    """
    config = fields["config"]
    n_features = fields["n_features_in"]
    problems = []
    if config.n_features != n_features:
        problems.append(
            f"the network takes {config.n_features} channels but n_features_in_ "
            f"is {n_features}"
        )
    for vector in ("center", "scale", "channel_scale"):
        shape = np.shape(fields[vector])
        if shape != (n_features,):
            problems.append(
                f"{vector}_ has shape {shape} but n_features_in_ is {n_features}"
            )
    tail = np.shape(fields["fit_tail"])
    if tail != (config.win_size - 1, n_features):
        problems.append(
            f"fit_tail_ has shape {tail}, not (win_size - 1, n_features_in_) = "
            f"({config.win_size - 1}, {n_features})"
        )
    names = fields.get("feature_names_in")
    if names is not None and len(names) != n_features:
        problems.append(
            f"feature_names_in_ has {len(names)} names but n_features_in_ is "
            f"{n_features}"
        )
    changes = network_changes(params, config)
    if changes:
        problems.append(
            "the parameters and the network disagree (network -> parameters: "
            f"{', '.join(changes)})"
        )
    threshold = fields["threshold"]
    if not isinstance(threshold, (int, float)) or not np.isfinite(threshold):
        problems.append(f"threshold_ is {threshold!r}, not a finite number")
    if problems:
        raise ValueError(
            f"{name}: the file's parts disagree: {'; '.join(problems)}. It was "
            "edited or written by a faulty tool; save the detector again."
        )
