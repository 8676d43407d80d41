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

import os
from pathlib import Path

from ._io import Dataset, _natural_key, _preview
from .nips_ts import load_nips_ts, load_nips_ts_swan, load_nips_ts_water
from .npz import load_npz
from .psm_swat import load_psm, load_swat
from .smd import load_smd
from .telemanom import load_msl, load_smap, load_telemanom

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
