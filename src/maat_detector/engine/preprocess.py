"""Per-channel scaling, fitted on the fit series and applied to every input."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_scaling", "scale_rows"]


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
    if X.dtype == np.float32:
        scaled = np.subtract(X, center.astype(np.float32), dtype=np.float32)
        scaled /= scale.astype(np.float32)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = ((X - center) / scale).astype(np.float32)
    if not np.isfinite(scaled).all():
        row, col = np.argwhere(~np.isfinite(scaled))[0]
        with np.errstate(over="ignore"):
            spreads = abs(float(X[row, col]) - center[col]) / scale[col]
        raise ValueError(
            f"X[{row}, {col}] = {float(X[row, col]):.3g} lies {spreads:.3g} "
            f"spreads of channel {col} from its centre in the fit data: scaled, "
            "it is beyond the float32 range the model computes in (about "
            "3.4e38). Check X for corrupt values, or rescale the channel and "
            "fit again on data of that range."
        )
    return scaled
