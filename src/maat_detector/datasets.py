"""Readers for the benchmark datasets of the MAAT paper, from their original files.

One reader per original layout (SMD, the NASA MSL/SMAP telemanom release, PSM,
SWaT, NIPS-TS-SWAN, NIPS-TS-Water), one for the project's uniform ``.npz``
layout, and :func:`load_dataset`, which dispatches by name. Every reader returns
a :class:`Dataset`: ``train`` and ``test`` as float32 arrays of shape
``(n_rows, n_channels)``, ``test_label`` as uint8 0/1 of shape ``(n_rows,)``.

Nothing here downloads anything and none of these datasets ships with the
package: point ``data_dir`` at your own copy. A missing file raises
:class:`FileNotFoundError` naming the expected path and layout; a malformed one
raises :class:`ValueError` saying what is wrong and where.

Only numpy and the standard library are used.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "list_entities",
    "load_benchmark_entity",
    "load_dataset",
    "load_msl",
    "load_nips_ts",
    "load_nips_ts_swan",
    "load_nips_ts_water",
    "load_npz",
    "load_psm",
    "load_smap",
    "load_smd",
    "load_swat",
    "load_telemanom",
]

logger = logging.getLogger(__name__)

#: Names accepted by :func:`load_dataset` (matched case-insensitively, ``-`` = ``_``).
DATASET_NAMES = (
    "SMD",
    "MSL",
    "SMAP",
    "PSM",
    "SWaT",
    "NIPS_TS_Swan",
    "NIPS_TS_Water",
    "npz",
)

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
# SMD
# --------------------------------------------------------------------------


def load_smd(data_dir, machine=None, *, nan_policy="raise"):
    """Load the Server Machine Dataset (SMD) from the OmniAnomaly release.

    Parameters
    ----------
    data_dir : str or os.PathLike
        The ``ServerMachineDataset`` folder, holding ``train/``, ``test/`` and
        ``test_label/`` with one ``machine-<g>-<i>.txt`` per machine (its parent
        folder is accepted too).
    machine : str, sequence of str or None, default=None
        One machine (``"machine-1-1"``), several machines concatenated in the
        order given, or None for all machines concatenated in natural order
        (machine-1-1, ..., machine-1-8, machine-2-1, ..., machine-3-11).
    nan_policy : {"raise", "zero", "ffill"}, default="raise"
        What to do with NaN values (the release has none); see :func:`load_psm`.

    Returns
    -------
    Dataset
        38 channels, ``channel_names=None`` (the text files have no header).

    See Also
    --------
    load_benchmark_entity : the project's ``.npz`` copy of a few SMD machines.

    Notes
    -----
    The Anomaly Transformer line of work (and MAAT) uses ``SMD_{train,test,
    test_label}.npy``: all 28 machines concatenated row-wise (708,405 train and
    708,420 test rows). Those arrays are distributed without the script that
    built them, so their machine order is not documented; row counts and label
    totals do not depend on it. ``machine=None`` uses natural order. Machines
    are concatenated unscaled; fitting a scaler on the concatenation (as the
    reference does) is the caller's job.

    Examples
    --------
    >>> ds = load_smd("ServerMachineDataset", machine="machine-1-1")  # doctest: +SKIP
    >>> ds.train.shape, ds.test.shape  # doctest: +SKIP
    ((28479, 38), (28479, 38))
    """
    policy = _check_nan_policy(nan_policy)
    root = _as_dir(data_dir, "SMD")
    if not (root / "train").is_dir() and (root / "ServerMachineDataset").is_dir():
        root = root / "ServerMachineDataset"
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise FileNotFoundError(
            f"SMD folder not found: expected {train_dir}. Layout: {_LAYOUTS['SMD']}."
        )
    available = sorted((p.stem for p in train_dir.glob("*.txt")), key=_natural_key)
    if not available:
        raise FileNotFoundError(
            f"no machine-*.txt files in {train_dir}. Layout: {_LAYOUTS['SMD']}."
        )
    if machine is None:
        machines = available
    elif isinstance(machine, (str, os.PathLike)):
        machines = [os.fspath(machine)]
    else:
        machines = [os.fspath(m) for m in machine]
        if not machines:
            raise ValueError("machine=[] selects nothing; pass None for all machines.")
    for m in machines:
        if m not in available:
            raise FileNotFoundError(
                f"machine={m!r}: expected {train_dir / (m + '.txt')}; found "
                f"{_preview(available)} in {train_dir}."
            )

    trains, tests, labels = [], [], []
    for m in machines:
        tr = _load_text_matrix(_require_file(root / "train" / f"{m}.txt", "SMD"))
        te = _load_text_matrix(_require_file(root / "test" / f"{m}.txt", "SMD"))
        lab_path = _require_file(root / "test_label" / f"{m}.txt", "SMD")
        lab = _as_labels(_load_text_vector(lab_path), lab_path)
        _check_split(tr, te, lab, f"SMD {m}")
        trains.append(tr)
        tests.append(te)
        labels.append(lab)
    _check_same_channels(trains, machines, "SMD machine")
    train = _apply_nan_policy(np.concatenate(trains), policy, f"SMD train ({root})")
    test = _apply_nan_policy(np.concatenate(tests), policy, f"SMD test ({root})")
    name = f"SMD/{machines[0]}" if len(machines) == 1 else "SMD"
    logger.debug("loaded %s from %s (%d machines)", name, root, len(machines))
    return _make_dataset(train, test, np.concatenate(labels), name=name)


# --------------------------------------------------------------------------
# MSL / SMAP (telemanom)
# --------------------------------------------------------------------------


def load_telemanom(
    data_dir,
    spacecraft,
    channel=None,
    *,
    order="sorted",
    exclude=("P-2",),
    labels_file=None,
    nan_policy="raise",
):
    """Load NASA MSL or SMAP telemetry from the telemanom release.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Folder holding ``train/<chan>.npy``, ``test/<chan>.npy`` and
        ``labeled_anomalies.csv``.
    spacecraft : {"MSL", "SMAP"}
        Which spacecraft's channels to load (the ``spacecraft`` column).
    channel : str, sequence of str or None, default=None
        One channel (``"C-1"``), several concatenated in the order given, or
        None for every channel of ``spacecraft`` (minus ``exclude``) in
        ``order``.
    order : {"sorted", "csv"}, default="sorted"
        Channel order when ``channel=None``. ``"sorted"``: by ``chan_id`` as
        plain strings (C-1, C-2, D-14, ..., T-12, T-13, T-4, ...), as
        OmniAnomaly's ``data_preprocess.py`` does. ``"csv"``: the row order of
        ``labeled_anomalies.csv``.
    exclude : sequence of str, default=("P-2",)
        Channels left out when ``channel=None``. OmniAnomaly drops P-2, a SMAP
        channel listed twice in ``labeled_anomalies.csv``; pass ``()`` to keep it.
    labels_file : str or os.PathLike, default=None
        Path of ``labeled_anomalies.csv`` if it is not in ``data_dir``.
    nan_policy : {"raise", "zero", "ffill"}, default="raise"
        What to do with NaN values (the release has none); see :func:`load_psm`.

    Returns
    -------
    Dataset
        MSL: 55 channels, SMAP: 25 (column 0 the telemetry value, the rest
        one-hot commands); ``channel_names=None``.

    Notes
    -----
    Labels: for every ``[start, end]`` in ``anomaly_sequences`` the rows
    ``start..end`` (inclusive, 0-based) are set to 1, as telemanom and
    OmniAnomaly read them. A channel listed on several rows gets the union of
    their windows. ``num_values`` must equal the test length.

    The defaults follow OmniAnomaly's ``data_preprocess.py``: rows of
    ``labeled_anomalies.csv`` sorted by ``chan_id``, restricted to the
    spacecraft, P-2 dropped, channels concatenated row-wise. The concatenated
    ``MSL_*.npy`` / ``SMAP_*.npy`` arrays of the Anomaly Transformer line of
    work (used by MAAT) were taken from that OmniAnomaly / InterFusion
    preprocessing; the defaults give their row counts (MSL 58,317 train /
    73,729 test, SMAP 135,183 / 427,617), though counts alone cannot confirm
    the row order.

    Examples
    --------
    >>> train, test, test_label = load_telemanom("data", "MSL")[:3]  # doctest: +SKIP
    >>> train.shape, test.shape  # doctest: +SKIP
    ((58317, 55), (73729, 55))
    """
    policy = _check_nan_policy(nan_policy)
    if spacecraft not in ("MSL", "SMAP"):
        raise ValueError(f"spacecraft={spacecraft!r}; pass 'MSL' or 'SMAP'.")
    if order not in ("sorted", "csv"):
        raise ValueError(f"order={order!r}; pass 'sorted' or 'csv'.")
    if isinstance(exclude, str):
        exclude = (exclude,)
    root = _as_dir(data_dir, spacecraft, layout="telemanom")
    csv_path = (
        Path(labels_file) if labels_file is not None else root / "labeled_anomalies.csv"
    )
    rows = _read_labeled_anomalies(_require_file(csv_path, "telemanom"))

    # chan_id -> (spacecraft, num_values, [windows...]), first-seen order kept.
    channels: dict[str, tuple[str, int, list]] = {}
    for row in rows:
        cid = row["chan_id"]
        if cid in channels:
            craft, n, windows = channels[cid]
            if n != row["num_values"] or craft != row["spacecraft"]:
                raise ValueError(
                    f"{csv_path}: channel {cid} is listed twice with different "
                    f"spacecraft/num_values ({craft}, {n}) vs "
                    f"({row['spacecraft']}, {row['num_values']}); fix the file."
                )
            windows.extend(row["windows"])
        else:
            channels[cid] = (row["spacecraft"], row["num_values"], list(row["windows"]))

    own = [cid for cid, (craft, _, _) in channels.items() if craft == spacecraft]
    if channel is None:
        chosen = [c for c in own if c not in set(exclude)]
        if order == "sorted":
            chosen.sort()
        if not chosen:
            raise ValueError(
                f"{csv_path} lists no {spacecraft} channels (after exclude="
                f"{tuple(exclude)}); check the spacecraft column or labels_file."
            )
    else:
        chosen = [channel] if isinstance(channel, str) else list(channel)
        if not chosen:
            raise ValueError("channel=[] selects nothing; pass None for all channels.")
        for cid in chosen:
            if cid not in channels:
                raise ValueError(
                    f"channel={cid!r} is not in {csv_path}; {spacecraft} channels "
                    f"are {_preview(sorted(own, key=_natural_key))}."
                )
            if channels[cid][0] != spacecraft:
                raise ValueError(
                    f"channel={cid!r} belongs to {channels[cid][0]}, not "
                    f"{spacecraft}, in {csv_path}; pass spacecraft="
                    f"{channels[cid][0]!r}."
                )

    trains, tests, labels = [], [], []
    for cid in chosen:
        _, n_values, windows = channels[cid]
        tr = _load_npy_matrix(_require_file(root / "train" / f"{cid}.npy", "telemanom"))
        te_path = _require_file(root / "test" / f"{cid}.npy", "telemanom")
        te = _load_npy_matrix(te_path)
        if te.shape[0] != n_values:
            raise ValueError(
                f"{te_path} has {te.shape[0]} rows but {csv_path} gives "
                f"num_values={n_values} for {cid}; the files do not belong together."
            )
        lab = np.zeros(n_values, dtype=np.uint8)
        for start, end in windows:
            if not 0 <= start <= end < n_values:
                raise ValueError(
                    f"{csv_path}: anomaly window [{start}, {end}] of {cid} lies "
                    f"outside its {n_values} test rows (windows are inclusive, "
                    "0-based)."
                )
            lab[start : end + 1] = 1
        _check_split(tr, te, lab, f"{spacecraft} {cid}")
        trains.append(tr)
        tests.append(te)
        labels.append(lab)
    _check_same_channels(trains, chosen, f"{spacecraft} channel")
    train = _apply_nan_policy(np.concatenate(trains), policy, f"{spacecraft} train")
    test = _apply_nan_policy(np.concatenate(tests), policy, f"{spacecraft} test")
    name = f"{spacecraft}/{chosen[0]}" if len(chosen) == 1 else spacecraft
    logger.debug("loaded %s from %s (%d channels)", name, root, len(chosen))
    return _make_dataset(train, test, np.concatenate(labels), name=name)


def load_msl(data_dir, channel=None, **kwargs):
    """Load NASA MSL (Mars Science Laboratory) telemetry; see :func:`load_telemanom`.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Folder of the telemanom release (``train/``, ``test/``,
        ``labeled_anomalies.csv``).
    channel : str, sequence of str or None, default=None
        One channel, several, or None for all 27 MSL channels.
    **kwargs
        ``order``, ``exclude``, ``labels_file``, ``nan_policy`` of
        :func:`load_telemanom`.

    Returns
    -------
    Dataset
        55 channels.
    """
    return load_telemanom(data_dir, "MSL", channel, **kwargs)


def load_smap(data_dir, channel=None, **kwargs):
    """Load NASA SMAP (Soil Moisture Active Passive); see :func:`load_telemanom`.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Folder of the telemanom release (``train/``, ``test/``,
        ``labeled_anomalies.csv``).
    channel : str, sequence of str or None, default=None
        One channel, several, or None for all SMAP channels but P-2 (53).
    **kwargs
        ``order``, ``exclude``, ``labels_file``, ``nan_policy`` of
        :func:`load_telemanom`.

    Returns
    -------
    Dataset
        25 channels.
    """
    return load_telemanom(data_dir, "SMAP", channel, **kwargs)


def _read_labeled_anomalies(path):
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        required = ("chan_id", "spacecraft", "anomaly_sequences", "num_values")
        missing = [c for c in required if c not in fields]
        if missing:
            raise ValueError(
                f"{path} lacks column(s) {missing} (found {fields}); expected "
                f"layout: {_LAYOUTS['telemanom']}."
            )
        rows = []
        for line_no, raw in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
            try:
                windows = json.loads(row["anomaly_sequences"])
                windows = [(int(s), int(e)) for s, e in windows]
                n_values = int(row["num_values"])
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"{path}, line {line_no}: cannot read anomaly_sequences="
                    f"{row['anomaly_sequences']!r} / num_values="
                    f"{row['num_values']!r} ({exc}); expected e.g. "
                    "'[[1899, 2099], [2500, 2510]]' and an integer."
                ) from None
            rows.append(
                {
                    "chan_id": row["chan_id"],
                    "spacecraft": row["spacecraft"],
                    "windows": windows,
                    "num_values": n_values,
                }
            )
    return rows


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


# --------------------------------------------------------------------------
# NIPS-TS (SWAN, Water)
# --------------------------------------------------------------------------


def load_nips_ts(data_dir, prefix, *, nan_policy="raise"):
    """Load a NIPS-TS benchmark dataset stored as three ``.npy`` arrays.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Folder holding ``<prefix>_train.npy``, ``<prefix>_test.npy`` and
        ``<prefix>_test_label.npy``.
    prefix : str
        File name prefix, e.g. ``"NIPS_TS_Swan"`` or ``"NIPS_TS_Water"``.
    nan_policy : {"raise", "zero", "ffill"}, default="raise"
        What to do with NaN values; see :func:`load_psm`.

    Returns
    -------
    Dataset
        ``channel_names=None``; ``name`` is ``prefix``.

    See Also
    --------
    load_nips_ts_swan, load_nips_ts_water
    """
    policy = _check_nan_policy(nan_policy)
    root = _as_dir(data_dir, prefix, layout="NIPS-TS")
    train = _load_npy_matrix(_require_file(root / f"{prefix}_train.npy", "NIPS-TS"))
    test = _load_npy_matrix(_require_file(root / f"{prefix}_test.npy", "NIPS-TS"))
    label_path = _require_file(root / f"{prefix}_test_label.npy", "NIPS-TS")
    label = _as_labels(_load_npy(label_path), label_path)
    train = _apply_nan_policy(train, policy, f"{prefix}_train.npy")
    test = _apply_nan_policy(test, policy, f"{prefix}_test.npy")
    return _make_dataset(train, test, label, name=prefix)


def load_nips_ts_swan(data_dir, *, prefix="NIPS_TS_Swan", nan_policy="raise"):
    """Load NIPS-TS-SWAN (solar flare data, 38 channels) of the NIPS-TS benchmark.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Folder holding ``NIPS_TS_Swan_{train,test,test_label}.npy``, the names
        used by the Anomaly Transformer and DCdetector data loaders.
    prefix : str, default="NIPS_TS_Swan"
        File name prefix, if your copy is named otherwise.
    nan_policy : {"raise", "zero", "ffill"}, default="raise"
        What to do with NaN values; see :func:`load_psm`.

    Returns
    -------
    Dataset
    """
    return load_nips_ts(data_dir, prefix, nan_policy=nan_policy)


def load_nips_ts_water(data_dir, *, prefix="NIPS_TS_Water", nan_policy="raise"):
    """Load NIPS-TS-Water (GECCO 2018 drinking water quality, 9 channels).

    Parameters
    ----------
    data_dir : str or os.PathLike
        Folder holding ``NIPS_TS_Water_{train,test,test_label}.npy``, the names
        used by the Anomaly Transformer and DCdetector data loaders (DCdetector
        keeps them in a folder called ``NIPS_TS_GECCO``).
    prefix : str, default="NIPS_TS_Water"
        File name prefix, if your copy is named otherwise.
    nan_policy : {"raise", "zero", "ffill"}, default="raise"
        What to do with NaN values; see :func:`load_psm`.

    Returns
    -------
    Dataset
    """
    return load_nips_ts(data_dir, prefix, nan_policy=nan_policy)


# --------------------------------------------------------------------------
# The project's uniform .npz layout
# --------------------------------------------------------------------------


def load_npz(path):
    """Load one entity stored in the project's ``.npz`` layout.

    Parameters
    ----------
    path : str or os.PathLike
        An ``np.savez``/``np.savez_compressed`` archive with arrays ``train``,
        ``test``, ``test_label`` and optionally ``train_label``.

    Returns
    -------
    Dataset
        ``name`` is the file name without ``.npz``; ``channel_names=None``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.npz")
    >>> np.savez(path, train=np.ones((6, 2)), test=np.ones((4, 2)),
    ...          test_label=np.array([0, 0, 1, 0]))
    >>> train, test, test_label = load_npz(path)[:3]
    >>> train.dtype, test.shape, test_label.tolist()
    (dtype('float32'), (4, 2), [0, 0, 1, 0])
    """
    path = Path(path)
    _require_file(path, "npz")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(
            f"cannot read {path} as an .npz archive ({exc}); expected "
            f"{_LAYOUTS['npz']}."
        ) from None
    with archive:
        if not hasattr(archive, "files"):
            raise ValueError(f"{path} is a single array, not {_LAYOUTS['npz']}.")
        missing = [k for k in ("train", "test", "test_label") if k not in archive.files]
        if missing:
            raise ValueError(
                f"{path} lacks array(s) {missing} (has {archive.files}); expected "
                f"{_LAYOUTS['npz']}."
            )
        train = _as_matrix(archive["train"], f"{path}['train']")
        test = _as_matrix(archive["test"], f"{path}['test']")
        label = _as_labels(archive["test_label"], f"{path}['test_label']")
        train_label = None
        if "train_label" in archive.files:
            train_label = _as_labels(archive["train_label"], f"{path}['train_label']")
    return _make_dataset(train, test, label, name=path.stem, train_label=train_label)


def _resolve_data_dir(data_dir):
    if data_dir is None:
        data_dir = os.environ.get("MAAT_DATA")
        if not data_dir:
            raise ValueError(
                "no data directory: pass data_dir=... or set the MAAT_DATA "
                "environment variable to the folder holding <dataset>/<entity>.npz."
            )
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data directory {root} does not exist; pass data_dir=... or set "
            "MAAT_DATA to the folder holding <dataset>/<entity>.npz."
        )
    return root


def list_entities(dataset, data_dir=None):
    """List the entities of one dataset in the ``.npz`` benchmark folder.

    Parameters
    ----------
    dataset : str
        Sub-folder name, e.g. ``"MSL"`` or ``"SMD"``.
    data_dir : str or os.PathLike, default=None
        The benchmark folder; None reads the ``MAAT_DATA`` environment variable.

    Returns
    -------
    list of str
        Entity names (file names without ``.npz``) in natural order
        (``A-1, A-2, ..., A-9, B-1``).
    """
    root = _resolve_data_dir(data_dir)
    folder = root / dataset
    if not folder.is_dir():
        known = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise FileNotFoundError(
            f"dataset folder {folder} not found; {root} has {known}."
        )
    return sorted((p.stem for p in folder.glob("*.npz")), key=_natural_key)


def load_benchmark_entity(dataset, entity, data_dir=None):
    """Load ``<data_dir>/<dataset>/<entity>.npz`` from the ``.npz`` benchmark folder.

    Parameters
    ----------
    dataset : str
        Sub-folder name, e.g. ``"MSL"``.
    entity : str
        File name without ``.npz``, e.g. ``"C-1"``.
    data_dir : str or os.PathLike, default=None
        The benchmark folder; None reads the ``MAAT_DATA`` environment variable.

    Returns
    -------
    Dataset
        ``name`` is ``"<dataset>/<entity>"``.

    Examples
    --------
    >>> ds = load_benchmark_entity("MSL", "C-1")  # doctest: +SKIP
    >>> ds.train.shape  # doctest: +SKIP
    (2158, 55)
    """
    root = _resolve_data_dir(data_dir)
    path = root / dataset / f"{entity}.npz"
    if not path.is_file():
        hint = ""
        if (root / dataset).is_dir():
            hint = f" {dataset} has {_preview(list_entities(dataset, root))}."
        raise FileNotFoundError(f"entity file not found: expected {path}.{hint}")
    return load_npz(path)._replace(name=f"{dataset}/{entity}")


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------


def load_dataset(name, data_dir=None, **kwargs):
    """Load a dataset by name from its original files.

    Parameters
    ----------
    name : str
        One of :data:`DATASET_NAMES`: ``"SMD"``, ``"MSL"``, ``"SMAP"``,
        ``"PSM"``, ``"SWaT"``, ``"NIPS_TS_Swan"``, ``"NIPS_TS_Water"`` or
        ``"npz"``; case and ``-``/``_`` do not matter.
    data_dir : str or os.PathLike
        The folder of the dataset's original files. For ``"npz"``: the path of
        an ``.npz`` file, or the benchmark folder together with ``dataset=`` and
        ``entity=`` (None reads ``MAAT_DATA``).
    **kwargs
        Passed to the reader: :func:`load_smd` (``machine``),
        :func:`load_msl`/:func:`load_smap` (``channel``, ``order``, ...),
        :func:`load_psm`, :func:`load_swat` (``train_file``, ``test_file``),
        :func:`load_nips_ts_swan`/:func:`load_nips_ts_water` (``prefix``),
        :func:`load_npz`/:func:`load_benchmark_entity`; most take ``nan_policy``.

    Returns
    -------
    Dataset
    """
    key = str(name).strip().replace("-", "_").lower()
    if key == "npz":
        if "entity" in kwargs or "dataset" in kwargs:
            missing = {"dataset", "entity"} - kwargs.keys()
            if missing:
                raise ValueError(
                    f"load_dataset('npz', ...) also needs {sorted(missing)}."
                )
            return load_benchmark_entity(data_dir=data_dir, **kwargs)
        if data_dir is None:
            raise ValueError(
                "load_dataset('npz', data_dir) needs the path of an .npz file, or "
                "the benchmark folder with dataset=... and entity=...."
            )
        return load_npz(data_dir, **kwargs)
    readers = {
        "smd": load_smd,
        "msl": load_msl,
        "smap": load_smap,
        "psm": load_psm,
        "swat": load_swat,
        "nips_ts_swan": load_nips_ts_swan,
        "nips_ts_water": load_nips_ts_water,
    }
    if key not in readers:
        raise ValueError(
            f"unknown dataset name={name!r}; pass one of {list(DATASET_NAMES)}."
        )
    if data_dir is None:
        raise ValueError(
            f"load_dataset({name!r}) needs data_dir, the folder of its original "
            "files; nothing is downloaded."
        )
    return readers[key](data_dir, **kwargs)


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
