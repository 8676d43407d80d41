"""Shared pieces of the dataset readers: the Dataset type and file helpers.

The layouts quoted in error messages, the NaN policies, path checks, array
and label coercion, and the numpy/CSV readers that every reader module uses.
Only numpy and the standard library are used.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["Dataset"]

_NAN_POLICIES = ("zero", "ffill", "raise")

# One line per layout, quoted in every "file not found / wrong layout" error.
_LAYOUTS = {
    "SMD": (
        "<data_dir>/{train,test,test_label}/machine-<g>-<i>.txt, where data_dir is "
        "the ServerMachineDataset folder of the OmniAnomaly release (or its "
        "parent); train/test hold comma-separated values, one row per minute, "
        "test_label one 0/1 per line"
    ),
    "telemanom": (
        "<data_dir>/train/<chan>.npy, <data_dir>/test/<chan>.npy and "
        "<data_dir>/labeled_anomalies.csv with columns chan_id, spacecraft, "
        "anomaly_sequences, class, num_values (the telemanom release)"
    ),
    "PSM": (
        "<data_dir>/train.csv, test.csv (first column timestamp_(min), then one "
        "column per channel) and test_label.csv (columns timestamp_(min), label)"
    ),
    "SWaT": (
        "the normal and attack sheets exported to CSV in <data_dir> (defaults "
        "SWaT_Dataset_Normal_v1.csv and SWaT_Dataset_Attack_v0.csv), each with a "
        "header row holding 'Timestamp', the sensor/actuator columns and "
        "'Normal/Attack' (an optional title row above the header is skipped)"
    ),
    "NIPS-TS": (
        "<data_dir>/<prefix>_train.npy, <prefix>_test.npy and "
        "<prefix>_test_label.npy (the NIPS-TS benchmark arrays as used by "
        "Anomaly Transformer and DCdetector)"
    ),
    "npz": (
        "an np.savez archive with arrays 'train' (T_train, D), 'test' (T_test, D), "
        "'test_label' (T_test,) and optionally 'train_label' (T_train,)"
    ),
}


class Dataset(NamedTuple):
    """A train/test split of one multivariate time series with test labels.

    A named tuple, so it unpacks: the first three fields are what a benchmark
    run needs, ``train, test, test_label = ds[:3]`` (or
    ``train, test, test_label, *_ = ds``); the rest are read by name.

    Parameters
    ----------
    train : ndarray of shape (n_train_rows, n_channels), dtype float32
        Training part, one row per time step.
    test : ndarray of shape (n_test_rows, n_channels), dtype float32
        Test part, same channels as ``train``.
    test_label : ndarray of shape (n_test_rows,), dtype uint8
        1 marks an anomalous test row, 0 a normal one.
    channel_names : tuple of str or None, default=None
        Column names where the source files have them (PSM, SWaT), else None.
    name : str, default=""
        What was loaded, e.g. ``"SMD/machine-1-1"`` or ``"MSL"``.
    train_label : ndarray of shape (n_train_rows,), dtype uint8, or None
        Labels of the training rows where the source provides them (the SWaT
        normal sheet, ``.npz`` files with a ``train_label`` array), else None.

    Examples
    --------
    >>> import numpy as np
    >>> from maat_detector.datasets import Dataset
    >>> ds = Dataset(np.zeros((5, 2), np.float32), np.zeros((4, 2), np.float32),
    ...              np.array([0, 1, 1, 0], np.uint8), name="toy")
    >>> train, test, test_label = ds[:3]
    >>> ds
    Dataset(name='toy', train=(5, 2), test=(4, 2), anomalies=2/4, channel_names=None)
    """

    train: np.ndarray
    test: np.ndarray
    test_label: np.ndarray
    channel_names: tuple[str, ...] | None = None
    name: str = ""
    train_label: np.ndarray | None = None

    @property
    def n_channels(self) -> int:
        """Number of channels (columns) of ``train`` and ``test``."""
        return int(self.train.shape[1])

    def __repr__(self) -> str:
        names = None if self.channel_names is None else f"<{len(self.channel_names)}>"
        return (
            f"Dataset(name={self.name!r}, train={tuple(self.train.shape)}, "
            f"test={tuple(self.test.shape)}, "
            f"anomalies={int(self.test_label.sum())}/{self.test_label.size}, "
            f"channel_names={names})"
        )


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _natural_key(text):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _preview(items, n=8):
    items = list(items)
    shown = ", ".join(items[:n])
    return f"[{shown}{', ...' if len(items) > n else ''}] ({len(items)})"


def _as_dir(data_dir, what, layout=None):
    if data_dir is None:
        raise ValueError(f"{what}: pass data_dir, the folder of the original files.")
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{what} folder not found: expected {root}. Layout: "
            f"{_LAYOUTS[layout or what]}."
        )
    return root


def _require_file(path, layout):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"file not found: expected {path}. Layout: {_LAYOUTS[layout]}."
        )
    return path


def _check_nan_policy(policy):
    if policy not in _NAN_POLICIES:
        raise ValueError(f"nan_policy={policy!r}; pass one of {list(_NAN_POLICIES)}.")
    return policy


def _apply_nan_policy(x, policy, source, names=None):
    mask = np.isnan(x)
    if not mask.any():
        return x
    if policy == "raise":
        row, col = (int(i) for i in np.argwhere(mask)[0])
        where = f"column {col}" + (f" ({names[col]})" if names is not None else "")
        raise ValueError(
            f"{source} has {int(mask.sum())} NaN value(s), the first at data row "
            f"{row}, {where}; pass nan_policy='zero' (NaN -> 0, as the reference "
            "does for PSM) or nan_policy='ffill'."
        )
    if policy == "zero":
        return np.where(mask, 0, x).astype(x.dtype, copy=False)
    # ffill: index of the last valid row at or above each cell, per column.
    rows = np.where(mask, 0, np.arange(x.shape[0])[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    out = x[rows, np.arange(x.shape[1])]
    out[np.isnan(out)] = 0  # before a column's first valid value
    return out


def _as_matrix(arr, source):
    arr = np.asarray(arr)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"{source} has shape {arr.shape}; expected (n_rows, n_channels)."
        )
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise ValueError(f"{source} has dtype {arr.dtype}; expected numbers.")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _as_labels(arr, source):
    arr = np.asarray(arr)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{source} has shape {arr.shape}; expected labels (n_rows,).")
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{source} has dtype {arr.dtype}; expected 0/1 labels.")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        values = np.unique(arr[bad])[:5].tolist()
        raise ValueError(
            f"{source} has label value(s) {values} (first at row "
            f"{int(np.argmax(bad))}); labels must be 0 (normal) or 1 (anomaly)."
        )
    return arr.astype(np.uint8)


def _check_split(train, test, label, what):
    if train.shape[1] != test.shape[1]:
        raise ValueError(
            f"{what}: train has {train.shape[1]} channels but test has "
            f"{test.shape[1]}; both must have the same columns."
        )
    if test.shape[0] != label.shape[0]:
        raise ValueError(
            f"{what}: test has {test.shape[0]} rows but test_label has "
            f"{label.shape[0]}; they must have one label per test row."
        )


def _check_same_channels(arrays, names, what):
    widths = {a.shape[1] for a in arrays}
    if len(widths) > 1:
        detail = ", ".join(
            f"{n}: {a.shape[1]}" for n, a in zip(names, arrays, strict=True)
        )
        raise ValueError(
            f"cannot concatenate: each {what} must have the same number of "
            f"channels ({detail}); pass a subset with equal widths."
        )


def _make_dataset(train, test, label, *, channel_names=None, name="", train_label=None):
    train = _as_matrix(train, f"{name} train")
    test = _as_matrix(test, f"{name} test")
    label = _as_labels(label, f"{name} test_label")
    _check_split(train, test, label, name)
    if channel_names is not None:
        channel_names = tuple(str(c) for c in channel_names)
        if len(channel_names) != train.shape[1]:
            raise ValueError(
                f"{name}: {len(channel_names)} channel names for "
                f"{train.shape[1]} channels."
            )
    if train_label is not None:
        train_label = _as_labels(train_label, f"{name} train_label")
        if train_label.shape[0] != train.shape[0]:
            raise ValueError(
                f"{name}: train has {train.shape[0]} rows but train_label has "
                f"{train_label.shape[0]}."
            )
    return Dataset(train, test, label, channel_names, name, train_label)


def _load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"cannot read {path} as a .npy array ({exc}).") from None


def _load_npy_matrix(path):
    return _as_matrix(_load_npy(path), str(path))


def _load_text_matrix(path):
    return _as_matrix(_load_numeric_csv(path, skiprows=0), str(path))


def _load_text_vector(path):
    arr = _load_numeric_csv(path, skiprows=0)
    if arr.shape[1] != 1:
        raise ValueError(
            f"{path} has {arr.shape[1]} columns; expected one label per line."
        )
    return arr[:, 0]


def _read_csv_row(path, index):
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        row = next(itertools.islice(csv.reader(fh), index, None), None)
    if row is None:
        raise ValueError(f"{path} is empty; expected a header row.")
    return row


# An empty field: between two commas, or at the start or end of a line.
_EMPTY_FIELD = re.compile(r"(?<=,)[ \t]*(?=,|$)|^(?=,)", re.MULTILINE)


def _loadtxt(source, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
        return np.loadtxt(source, delimiter=",", quotechar='"', ndmin=2, **kwargs)


def _load_numeric_csv(path, *, skiprows, usecols=None):
    """Comma-separated numbers as float64 (n_rows, n_cols); empty cells -> NaN."""
    try:
        try:
            arr = _loadtxt(path, skiprows=skiprows, usecols=usecols, dtype=np.float64)
        except ValueError as exc:
            if "''" not in str(exc) and "' '" not in str(exc):
                raise
            # Empty cells (missing values): fill with "nan" and parse again.
            with open(path, encoding="utf-8-sig", errors="replace") as fh:
                text = _EMPTY_FIELD.sub("nan", fh.read())
            arr = _loadtxt(
                io.StringIO(text), skiprows=skiprows, usecols=usecols, dtype=np.float64
            )
    except ValueError as exc:
        raise ValueError(
            f"cannot read numbers from {path} ({exc}); check that the file is "
            "comma-separated with numeric cells."
        ) from None
    if arr.shape[0] == 0:
        raise ValueError(f"{path} has no data rows.")
    return arr


def _load_csv_column(path, *, skiprows, col):
    try:
        arr = _loadtxt(path, skiprows=skiprows, usecols=col, dtype=str)
    except ValueError as exc:
        raise ValueError(f"cannot read column {col} of {path} ({exc}).") from None
    return arr.reshape(-1)
