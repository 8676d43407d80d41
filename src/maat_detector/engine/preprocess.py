"""Per-channel scaling, fitted on the fit series and applied to every input."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_scaling", "scale_rows", "ScaledRows", "row_blocks"]


def fit_scaling(X, scaling):
    """Per-channel centre and scale of ``X``; constant channels get scale 1.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    scaling : {"standard", "robust"} or None
        Mean and standard deviation, median and interquartile range (robust to
        outliers in the training data), or none.

    Returns
    -------
    center, scale : ndarray of shape (n_features,), float64
        A channel is constant when its spread is zero or within float64
        rounding of its centre, whatever its unit: data in units of 1e-30
        keep their signal.
    """
    n_features = X.shape[1]
    if scaling is None:
        return np.zeros(n_features), np.ones(n_features)
    # Statistics of X / max|X| per channel, scaled back: the squares of the
    # standard deviation neither overflow (1e200) nor underflow (1e-200).
    magnitude = np.max(np.abs(X), axis=0).astype(np.float64)
    magnitude[magnitude == 0] = 1.0
    unit = X / magnitude
    if scaling == "robust":
        center = np.median(unit, axis=0)
        q75, q25 = np.percentile(unit, [75, 25], axis=0)
        # 1.349 * sigma is the interquartile range of a Gaussian.
        spread = (q75 - q25) / 1.349
        spread = np.where(spread > 0, spread, unit.std(axis=0, dtype=np.float64))
    else:
        center = unit.mean(axis=0, dtype=np.float64)
        spread = unit.std(axis=0, dtype=np.float64)
    constant = ~(spread > _RELATIVE_RESOLUTION * np.maximum(np.abs(center), 1e-300))
    center = center * magnitude
    scale = np.where(constant, 1.0, spread * magnitude)
    return center, scale


#: Spread, relative to the centre, below which a channel counts as constant:
#: a few float64 rounding steps.
_RELATIVE_RESOLUTION = 16 * np.finfo(np.float64).eps


def scale_rows(X, center, scale):
    """``(X - center) / scale`` as one new float32 array; X is left alone.

    float32 rows are scaled in float32; float64 rows in float64 and then
    rounded, so that values beyond the float32 range (1e-300 or 1e300 in
    their own unit) keep their signal.

    Raises
    ------
    ValueError
        If a scaled value is beyond the float32 range: the row is far outside
        the range the scaling was fitted on.
    """
    return ScaledRows(X, center, scale)[:]


class ScaledRows:
    """The rows of ``X`` scaled on demand, as :func:`scale_rows` scales them.

    Scoring reads a series window batch by window batch, so it never needs
    the whole scaled copy: slicing scales just the rows asked for. A 10 M x
    38 series thus costs no float32 copy (1.4 GiB) on top of the input.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
        Checked raw rows; kept by reference, never modified.
    center, scale : ndarray of shape (n_features,)
        From :func:`fit_scaling`.
    """

    def __init__(self, X, center, scale):
        self.raw = X
        self.center = center
        self.scale = scale

    @property
    def shape(self):
        return self.raw.shape

    def __len__(self):
        return self.raw.shape[0]

    def __getitem__(self, rows):
        """Scaled float32 copy of the contiguous rows ``rows`` (a slice).

        Raises
        ------
        ValueError
            If a scaled value is beyond the float32 range (see
            :func:`scale_rows`).
        """
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("ScaledRows takes a slice of consecutive rows")
        first, stop, _ = rows.indices(len(self))
        scaled = np.empty((max(stop - first, 0), self.raw.shape[1]), np.float32)
        # Row blocks keep the float64 temporaries and the finiteness mask
        # small: a whole-array expression held two float64 copies of X at once.
        for begin, end in row_blocks(first, stop):
            out = scaled[begin - first : end - first]
            self._scale_into(self.raw[begin:end], out)
            bad = ~np.isfinite(out)
            if bad.any():
                row, col = np.argwhere(bad)[0]
                self._raise_out_of_range(begin + row, col)
        return scaled

    def _scale_into(self, X, out):
        if X.dtype == np.float32:
            np.subtract(X, self.center.astype(np.float32), out=out)
            out /= self.scale.astype(np.float32)
            return
        with np.errstate(over="ignore", invalid="ignore"):
            out[...] = (X - self.center) / self.scale

    def _raise_out_of_range(self, row, col):
        value = float(self.raw[row, col])
        with np.errstate(over="ignore"):
            spreads = abs(value - self.center[col]) / self.scale[col]
        raise ValueError(
            f"X[{row}, {col}] = {value:.3g} lies {spreads:.3g} "
            f"spreads of channel {col} from its centre in the fit data: scaled, "
            "it is beyond the float32 range the model computes in (about "
            "3.4e38). Check X for corrupt values, or rescale the channel and "
            "fit again on data of that range."
        )


#: Rows per block where a whole-series temporary would cost as much as the
#: series (a float64 block of 38 channels is 20 MiB).
_ROWS_PER_BLOCK = 65536


def row_blocks(first, stop):
    """``(begin, end)`` of the consecutive blocks of rows ``first:stop``."""
    for begin in range(first, stop, _ROWS_PER_BLOCK):
        yield begin, min(begin + _ROWS_PER_BLOCK, stop)
