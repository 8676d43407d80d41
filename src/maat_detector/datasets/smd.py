"""Reader for the Server Machine Dataset (SMD) of the OmniAnomaly release."""

from __future__ import annotations

import logging
import os

import numpy as np

from ._io import (
    _LAYOUTS,
    _apply_nan_policy,
    _as_dir,
    _as_labels,
    _check_nan_policy,
    _check_same_channels,
    _check_split,
    _load_text_matrix,
    _load_text_vector,
    _make_dataset,
    _natural_key,
    _preview,
    _require_file,
)

__all__ = ["load_smd"]

logger = logging.getLogger(__name__)


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
