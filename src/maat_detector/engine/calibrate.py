"""Channel error scales, score statistics and the threshold, from normal rows."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from sklearn import get_config

from .. import thresholds
from .._memory import reusing_freed_memory
from ..windowing import moving_mean, window_starts
from .score import (
    channel_scale,
    combine,
    components,
    network_outputs,
    score_statistics,
)

__all__ = ["ThresholdSettings", "calibrate", "threshold_from"]


@dataclass(frozen=True)
class ThresholdSettings:
    """How the threshold is set from calibration scores."""

    method: str  # "contamination" or "spot"
    contamination: float
    spot_risk: float


def threshold_from(scores, settings):
    """The threshold on anomaly scores: a quantile, or SPOT's."""
    if settings.method == "spot":
        return float(thresholds.spot_threshold(scores, q=settings.spot_risk))
    return float(thresholds.offset_from_contamination(scores, settings.contamination))


@torch.inference_mode()
@reusing_freed_memory()
def calibrate(model, X, device, score, threshold):
    """Channel scale, score statistics and threshold from scaled normal rows.

    Parameters
    ----------
    model : MAAT
    X : ndarray of shape (n_samples, n_features), float32
        Scaled rows believed free of anomalies.
    device : torch.device
    score : ScoreSettings
    threshold : ThresholdSettings

    Returns
    -------
    channel_scale : ndarray of shape (n_features,)
    score_stats : dict
        Median and IQR of the calibrated mode's components.
    threshold : float
    """
    n_samples, n_features = X.shape
    top_k = score.top_k < n_features
    outputs = None
    if top_k:
        # The k largest channels differ row by row, so the top-k scores need
        # the channel scale first: a second pass over the window outputs.
        # They are kept from the first pass when they fit in scikit-learn's
        # working memory, else the network runs again.
        starts, _ = window_starts(n_samples, score.win_size, score.step)
        kept_bytes = 4 * len(starts) * score.win_size * (n_features + 2)
        if kept_bytes <= get_config()["working_memory"] * 2**20:
            outputs = list(network_outputs(model, X, starts, device, score))
    needed = ("energy", "discrepancy", "error")
    values = components(
        model, X, device, score, needed=needed, per_channel=True, outputs=outputs
    )
    scale = channel_scale(values["error"])
    if top_k:
        values["error"] = components(
            model,
            X,
            device,
            score,
            needed=("error",),
            channel_scale=scale,
            outputs=outputs,
        )["error"]
    else:
        values["error"] = (values["error"] / scale).mean(1)
    stats = score_statistics(values)
    scores = moving_mean(combine(values, score.mode, stats), score.smoothing)
    return scale, stats, threshold_from(scores, threshold)
