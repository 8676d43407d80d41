"""Reader for the NASA MSL and SMAP telemetry of the telemanom release."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np

from ._io import (
    _LAYOUTS,
    _apply_nan_policy,
    _as_dir,
    _check_nan_policy,
    _check_same_channels,
    _check_split,
    _load_npy_matrix,
    _make_dataset,
    _natural_key,
    _preview,
    _require_file,
)

__all__ = ["load_msl", "load_smap", "load_telemanom"]

logger = logging.getLogger(__name__)


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
    channels = _channel_table(rows, csv_path)
    if channel is None:
        chosen = _all_channels(channels, spacecraft, order, exclude, csv_path)
    else:
        chosen = _named_channels(channels, spacecraft, channel, csv_path)

    trains, tests, labels = [], [], []
    for cid in chosen:
        tr, te, lab = _load_channel(root, cid, channels[cid], csv_path)
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


def _channel_table(rows, csv_path):
    """``chan_id -> (spacecraft, num_values, [windows...])``, first-seen order.

    A channel listed on several rows gets the union of their windows.
    """
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
    return channels


def _all_channels(channels, spacecraft, order, exclude, csv_path):
    """Every channel of ``spacecraft`` but ``exclude``, in ``order``."""
    own = [cid for cid, (craft, _, _) in channels.items() if craft == spacecraft]
    chosen = [c for c in own if c not in set(exclude)]
    if order == "sorted":
        chosen.sort()
    if not chosen:
        raise ValueError(
            f"{csv_path} lists no {spacecraft} channels (after exclude="
            f"{tuple(exclude)}); check the spacecraft column or labels_file."
        )
    return chosen


def _named_channels(channels, spacecraft, channel, csv_path):
    """The channel(s) the caller named, checked against the table."""
    chosen = [channel] if isinstance(channel, str) else list(channel)
    if not chosen:
        raise ValueError("channel=[] selects nothing; pass None for all channels.")
    for cid in chosen:
        if cid not in channels:
            own = [c for c, (craft, _, _) in channels.items() if craft == spacecraft]
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
    return chosen


def _load_channel(root, cid, entry, csv_path):
    """Train, test and 0/1 test labels of one channel (windows inclusive, 0-based)."""
    _, n_values, windows = entry
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
    return tr, te, lab


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
