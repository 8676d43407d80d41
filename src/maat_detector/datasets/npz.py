"""Reader for the project's uniform ``.npz`` layout, one entity per file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._io import (
    _LAYOUTS,
    _as_labels,
    _as_matrix,
    _make_dataset,
    _require_file,
)

__all__ = ["load_npz"]


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
