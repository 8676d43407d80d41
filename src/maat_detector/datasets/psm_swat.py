"""Readers for the CSV-based PSM (eBay) and SWaT (iTrust) datasets."""

from __future__ import annotations

import csv
import itertools
import warnings

import numpy as np

from ._io import (
    _LAYOUTS,
    _apply_nan_policy,
    _as_dir,
    _as_labels,
    _check_nan_policy,
    _load_csv_column,
    _load_numeric_csv,
    _make_dataset,
    _read_csv_row,
    _require_file,
)

__all__ = ["load_psm", "load_swat"]

# --------------------------------------------------------------------------
# PSM
# --------------------------------------------------------------------------


def load_psm(data_dir, *, nan_policy="zero"):
    """Load the Pooled Server Metrics (PSM) dataset of eBay.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Folder holding ``train.csv``, ``test.csv`` and ``test_label.csv``.
    nan_policy : {"zero", "ffill", "raise"}, default="zero"
        The training file has missing values. ``"zero"`` replaces every NaN by
        0, as the reference pipeline does (``np.nan_to_num``; unlike it,
        infinities are left alone); ``"ffill"`` carries the last valid value of
        the channel forward (NaNs before a channel's first value become 0);
        ``"raise"`` raises a :class:`ValueError` saying where the first NaN is.

    Returns
    -------
    Dataset
        25 channels named from the CSV header (``feature_0`` ...); the first
        column (``timestamp_(min)``) is dropped.

    Examples
    --------
    >>> ds = load_psm("PSM")  # doctest: +SKIP
    >>> ds.train.shape, ds.test.shape  # doctest: +SKIP
    ((132481, 25), (87841, 25))
    """
    policy = _check_nan_policy(nan_policy)
    root = _as_dir(data_dir, "PSM")
    train_path = _require_file(root / "train.csv", "PSM")
    test_path = _require_file(root / "test.csv", "PSM")
    label_path = _require_file(root / "test_label.csv", "PSM")

    header = _read_csv_row(train_path, 0)
    test_header = _read_csv_row(test_path, 0)
    if len(header) < 2:
        raise ValueError(
            f"{train_path} has {len(header)} column(s); expected layout: "
            f"{_LAYOUTS['PSM']}."
        )
    train = _load_numeric_csv(train_path, skiprows=1)[:, 1:]
    test = _load_numeric_csv(test_path, skiprows=1)[:, 1:]
    label_header = _read_csv_row(label_path, 0)
    if len(label_header) != 2:
        raise ValueError(
            f"{label_path} has columns {label_header}; expected two "
            "(timestamp_(min), label)."
        )
    label = _as_labels(_load_numeric_csv(label_path, skiprows=1)[:, 1], label_path)
    names = tuple(h.strip() for h in header[1:])
    if [h.strip() for h in test_header[1:]] != list(names):
        warnings.warn(
            f"the column names of {test_path} differ from those of {train_path}; "
            "using the train names. Check that both files come from one release.",
            UserWarning,
            stacklevel=2,
        )
    train = _apply_nan_policy(train, policy, str(train_path), names)
    test = _apply_nan_policy(test, policy, str(test_path), names)
    return _make_dataset(train, test, label, channel_names=names, name="PSM")


# --------------------------------------------------------------------------
# SWaT
# --------------------------------------------------------------------------


def load_swat(
    data_dir,
    *,
    train_file="SWaT_Dataset_Normal_v1.csv",
    test_file="SWaT_Dataset_Attack_v0.csv",
    nan_policy="raise",
):
    """Load the Secure Water Treatment (SWaT) dataset from its CSV-exported sheets.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Folder holding the two sheets (iTrust's ``.xlsx`` files saved as CSV).
    train_file : str, default="SWaT_Dataset_Normal_v1.csv"
        The normal-operation sheet, relative to ``data_dir`` (or absolute).
    test_file : str, default="SWaT_Dataset_Attack_v0.csv"
        The attack sheet, relative to ``data_dir`` (or absolute).
    nan_policy : {"raise", "zero", "ffill"}, default="raise"
        What to do with NaN values (empty cells); see :func:`load_psm`.

    Returns
    -------
    Dataset
        51 channels named from the header (whitespace stripped);
        ``train_label`` holds the labels of the normal sheet.

    Notes
    -----
    The header row is the first row (of the first ten) that has a
    ``Normal/Attack`` cell, so a title row above it is skipped. Header cells are
    stripped of whitespace; the ``Timestamp`` column is dropped; the
    ``Normal/Attack`` column becomes the label: ``Normal`` -> 0, ``Attack`` (also
    spelled ``A ttack`` in the attack sheet) -> 1, compared without spaces and
    case; any other value raises a :class:`ValueError`. The reference pipeline
    reads a pre-made CSV whose last column is the label; no rows are dropped
    here (some papers drop the first hours of the normal sheet, we do not).

    Examples
    --------
    >>> ds = load_swat("SWaT")  # doctest: +SKIP
    >>> ds.n_channels  # doctest: +SKIP
    51
    """
    policy = _check_nan_policy(nan_policy)
    root = _as_dir(data_dir, "SWaT")
    train, train_label, names = _read_swat_sheet(root / train_file, policy)
    test, test_label, test_names = _read_swat_sheet(root / test_file, policy)
    if test_names != names:
        if len(test_names) != len(names):
            raise ValueError(
                f"{root / test_file} has {len(test_names)} channels but "
                f"{root / train_file} has {len(names)}; both sheets must have the "
                "same sensor/actuator columns."
            )
        diff = [(a, b) for a, b in zip(names, test_names, strict=True) if a != b]
        warnings.warn(
            f"column names differ between the SWaT sheets, e.g. {diff[:3]}; "
            "using the names of the normal sheet. Check the exports.",
            UserWarning,
            stacklevel=2,
        )
    return _make_dataset(
        train,
        test,
        test_label,
        channel_names=names,
        name="SWaT",
        train_label=train_label,
    )


_SWAT_HEADER_SCAN = 10


def _squash(cell):
    return "".join(cell.split()).lower()


def _read_swat_sheet(path, policy):
    _require_file(path, "SWaT")
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        head = list(itertools.islice(csv.reader(fh), _SWAT_HEADER_SCAN))
    header_row = next(
        (i for i, row in enumerate(head) if "normal/attack" in map(_squash, row)),
        None,
    )
    if header_row is None:
        raise ValueError(
            f"{path}: no header row with a 'Normal/Attack' column in the first "
            f"{_SWAT_HEADER_SCAN} rows; expected layout: {_LAYOUTS['SWaT']}."
        )
    header = [c.strip() for c in head[header_row]]
    squashed = [_squash(c) for c in header]
    label_col = squashed.index("normal/attack")
    drop = {label_col} | {i for i, c in enumerate(squashed) if c == "timestamp"}
    value_cols = [i for i in range(len(header)) if i not in drop]
    if not value_cols:
        raise ValueError(f"{path}: the header has no sensor/actuator columns.")
    values = _load_numeric_csv(path, skiprows=header_row + 1, usecols=value_cols)
    raw = _load_csv_column(path, skiprows=header_row + 1, col=label_col)
    uniques, inverse = np.unique(raw, return_inverse=True)
    mapping = {"normal": 0, "attack": 1}
    codes = [mapping.get(_squash(u)) for u in uniques]
    bad = [u for u, c in zip(uniques, codes, strict=True) if c is None]
    if bad:
        raise ValueError(
            f"{path}: column {header[label_col]!r} has value(s) "
            f"{[str(b) for b in bad[:5]]}; expected 'Normal' (0) or 'Attack' / "
            "'A ttack' (1)."
        )
    labels = np.asarray(codes, dtype=np.uint8)[inverse.reshape(-1)]
    if labels.shape[0] != values.shape[0]:
        raise ValueError(
            f"{path}: read {values.shape[0]} value rows but {labels.shape[0]} "
            "labels; check for ragged or blank lines."
        )
    names = tuple(header[i] for i in value_cols)
    values = _apply_nan_policy(values, policy, str(path), names)
    return values, labels, names
