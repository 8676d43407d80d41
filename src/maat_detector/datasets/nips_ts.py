"""Readers for the NIPS-TS benchmark arrays (SWAN, Water)."""

from __future__ import annotations

from ._io import (
    _apply_nan_policy,
    _as_dir,
    _as_labels,
    _check_nan_policy,
    _load_npy,
    _load_npy_matrix,
    _make_dataset,
    _require_file,
)

__all__ = ["load_nips_ts", "load_nips_ts_swan", "load_nips_ts_water"]


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
