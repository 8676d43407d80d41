"""Per-channel scaling, fitted on the fit series and applied to every input."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_scaling", "scale_rows"]


def fit_scaling(X, scaling):
    """Per-channel centre and scale of ``X``; constant channels get scale 1.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    scaling : {"standard", "robust"} or None
        Mean and standard deviation, median and interquartile range (robust to
        outliers in the training data), or none.

    Returns
    -------
    center, scale : ndarray of shape (n_features,), float32
    """
    n_features = X.shape[1]
    if scaling is None:
        return np.zeros(n_features, np.float32), np.ones(n_features, np.float32)
    if scaling == "robust":
        center = np.median(X, axis=0)
        q75, q25 = np.percentile(X, [75, 25], axis=0)
        # 1.349 * sigma is the interquartile range of a Gaussian.
        scale = (q75 - q25) / 1.349
        fallback = X.std(axis=0)
        scale = np.where(scale > 0, scale, fallback)
    else:
        center = X.mean(axis=0, dtype=np.float64)
        scale = X.std(axis=0, dtype=np.float64)
    scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
    return center.astype(np.float32), scale.astype(np.float32)


def scale_rows(X, center, scale):
    """``(X - center) / scale`` as one new float32 array; X is left alone."""
    scaled = np.subtract(X, center, dtype=np.float32)
    scaled /= scale
    return scaled
