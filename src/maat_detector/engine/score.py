"""Window values from the network, accumulated into one value per row.

Scoring is two steps. :func:`network_outputs` runs the network over the
scoring windows, batch by batch, and yields each window's squared error per
channel, association discrepancy and the paper's energy. :func:`components`
turns those into per-row components -- the reconstruction score, the
discrepancy, the energy -- by combining each row's overlapping windows
(:class:`~maat_detector.windowing.WindowScoreAccumulator`).
:data:`SCORE_MODES` says which components each score mode needs and how it
combines them into one anomaly score per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .._memory import reusing_freed_memory
from ..nn import window_components
from ..windowing import WindowScoreAccumulator, iter_window_batches, window_starts
from ._progress import progress
from .network import forward

__all__ = [
    "SCORE_MODES",
    "ScoreMode",
    "ScoreSettings",
    "channel_scale",
    "combine",
    "components",
    "network_outputs",
    "score_statistics",
]


@dataclass(frozen=True)
class ScoreSettings:
    """How windows become one score per row, for one series' channel count.

    Attributes
    ----------
    win_size : int
    warmup : int
        Leading steps of each window a row's mean leaves out where another
        window covers the row (a forecaster's first steps have little past).
    step : int
        Stride of the scoring windows.
    combine : {"mean", "end"}
        How a row's overlapping windows combine.
    smoothing : int
        Rows in the centred mean of the final scores (1: none).
    top_k : int
        Channels averaged in the reconstruction score.
    mode : str
        A key of :data:`SCORE_MODES`.
    temperature : float
        Scale of the association discrepancy.
    batch_size : int
    precision : {"float32", "bfloat16"}
    verbose : int
    """

    win_size: int
    warmup: int
    step: int
    combine: str
    smoothing: int
    top_k: int
    mode: str
    temperature: float
    batch_size: int
    precision: str
    verbose: int


@dataclass(frozen=True)
class ScoreMode:
    """The components a score mode combines, and its combination."""

    needed: tuple[str, ...]
    description: str


#: Score modes: the components each needs (see :func:`combine`).
SCORE_MODES = {
    "paper": ScoreMode(("energy",), "softmax(-discrepancy) x error (the paper)"),
    "reconstruction": ScoreMode(("error",), "channel-scaled output error"),
    "discrepancy": ScoreMode(("discrepancy",), "association discrepancy"),
    "calibrated": ScoreMode(
        ("error", "discrepancy"), "robust z-scores of log error and discrepancy"
    ),
}


def network_outputs(model, X, starts, device, settings, *, association=True):
    """Yield ``(batch, outputs)`` for each batch of scoring windows.

    ``batch`` is the slice of ``starts`` it covers; ``outputs`` holds the
    window tensors ``squared_error`` (B, L, C) and, with ``association``,
    ``discrepancy`` (B, L) and ``energy`` (B, L). Leaving the association
    out skips building the attention's Gaussian prior and the KL terms
    (scoring CPU time 0.97x at window 100, d_model 128 and 512, one thread).
    Call it under
    :func:`torch.inference_mode`.
    """
    bar = progress(
        math.ceil(len(starts) / settings.batch_size), "scoring", settings.verbose
    )
    for batch, windows in iter_window_batches(
        X, starts, settings.win_size, settings.batch_size
    ):
        x = torch.from_numpy(windows).to(device)
        reconstruction, associations = forward(model, x, settings.precision)
        if association:
            squared_error, discrepancy, energy = window_components(
                x, reconstruction, associations, settings.temperature
            )
            outputs = {
                "squared_error": squared_error,
                "discrepancy": discrepancy,
                "energy": energy,
            }
        else:
            outputs = {"squared_error": (x - reconstruction) ** 2}
        yield batch, outputs
        bar.update(1)
    bar.close()


@torch.inference_mode()
@reusing_freed_memory()
def components(
    model,
    X,
    device,
    settings,
    *,
    needed,
    channel_scale=None,
    per_channel=False,
    step=None,
    combine=None,
    outputs=None,
):
    """Per-row score components of the scaled series ``X``.

    Parameters
    ----------
    model : MAAT
    X : ndarray of shape (n_samples, n_features), float32
    device : torch.device
    settings : ScoreSettings
    needed : tuple of str
        Any of ``"energy"``, ``"discrepancy"``, ``"error"`` and
        ``"weighted_error"`` (the paper's energy split over channels).
    channel_scale : ndarray of shape (n_features,), optional
        Without it, ``error`` is the squared error, per channel if
        ``per_channel`` else its channel mean. With it, the channel-normalised
        errors reduce to the reconstruction score, or to each channel's share
        of it if ``per_channel``.
    per_channel : bool, default=False
    step, combine : optional
        Override ``settings.step`` and ``settings.combine``.
    outputs : iterable, optional
        The network's outputs for these windows, kept from an earlier pass
        (:func:`network_outputs`); by default the network runs.

    Returns
    -------
    dict of str to ndarray
        Float64, shape (n_samples,) or (n_samples, n_features).

    Raises
    ------
    FloatingPointError
        If a component is not finite.
    """
    n_samples, n_features = X.shape
    starts, n_grid = window_starts(n_samples, settings.win_size, step or settings.step)
    per_channel_names = ("error", "weighted_error") if per_channel else ()
    accumulators = {
        name: WindowScoreAccumulator(
            n_samples,
            settings.win_size,
            starts,
            n_grid,
            n_channels=n_features if name in per_channel_names else 0,
            combine=combine or settings.combine,
            warmup=settings.warmup,
        )
        for name in needed
    }
    scale = None
    if channel_scale is not None:
        scale = torch.as_tensor(channel_scale, dtype=torch.float32, device=device)
    if outputs is None:
        association = bool({"energy", "discrepancy", "weighted_error"} & set(needed))
        outputs = network_outputs(
            model, X, starts, device, settings, association=association
        )
    for batch, window in outputs:
        values = _window_values(window, needed, scale, settings.top_k, per_channel)
        for name, accumulator in accumulators.items():
            accumulator.add(batch, values[name].double().cpu().numpy())
    result = {name: acc.result() for name, acc in accumulators.items()}
    if not all(np.isfinite(value).all() for value in result.values()):
        raise FloatingPointError(
            "the model produced non-finite scores; the input may hold values "
            "far outside the training range. Check X or refit with "
            "scaling='robust'."
        )
    return result


def _window_values(window, needed, scale, top_k, per_channel):
    """The needed per-window values from one batch of network outputs."""
    squared_error = window["squared_error"]
    values = {
        name: window[name] for name in ("energy", "discrepancy") if name in needed
    }
    if "weighted_error" in needed:
        # The paper's energy split over channels: sums to "energy".
        weight = torch.softmax(-window["discrepancy"], dim=-1).unsqueeze(-1)
        values["weighted_error"] = weight * squared_error / squared_error.shape[-1]
    if "error" in needed:
        if scale is not None:
            values["error"] = _channel_shares(squared_error / scale, top_k, per_channel)
        else:
            values["error"] = squared_error if per_channel else squared_error.mean(-1)
    return values


def _channel_shares(error, k, per_channel):
    """The reconstruction score of each point, or each channel's share of it.

    The score is the mean of the ``k`` largest channel-normalised errors
    (all C channels when ``k >= C``). A channel's share is its error / k when
    it is among those k, else 0, so the shares sum to the score.
    """
    n_channels = error.shape[-1]
    if k >= n_channels:
        return error / n_channels if per_channel else error.mean(-1)
    top = error.topk(k, dim=-1)
    if not per_channel:
        return top.values.mean(-1)
    return torch.zeros_like(error).scatter_(-1, top.indices, top.values / k)


def channel_scale(squared_error):
    """Mean squared reconstruction error per channel on the calibration rows.

    Dividing by it puts every channel's error on the scale it has on normal
    data, so a channel the model reconstructs poorly everywhere does not
    drown the others. Floored to keep near-perfect channels finite.
    """
    scale = squared_error.mean(axis=0)
    floor = max(float(scale.mean()) * 1e-3, 1e-12)
    return np.maximum(scale, floor).astype(np.float32)


def score_statistics(values):
    """Location and spread (median, IQR) of the calibrated mode's components."""
    stats = {}
    for name in SCORE_MODES["calibrated"].needed:
        value = values[name]
        value = np.log(value + 1e-12) if name == "error" else value
        q25, q50, q75 = np.percentile(value, [25, 50, 75])
        stats[name] = (float(q50), float(max(q75 - q25, 1e-12)))
    return stats


def combine(values, mode, stats):
    """One anomaly score per row from its components (see :data:`SCORE_MODES`)."""
    if mode == "paper":
        return values["energy"]
    if mode == "reconstruction":
        return values["error"]
    if mode == "discrepancy":
        return values["discrepancy"]
    # "calibrated": robust z-scores on the calibration rows, added. The
    # Anomaly Transformer argues anomalies have a *smaller* discrepancy; on
    # the tuning set (docs: "Detection quality") trained models showed the
    # opposite, and + beat - (SMD VUS-PR 0.556 vs 0.453), so larger counts.
    err_loc, err_spread = stats["error"]
    dis_loc, dis_spread = stats["discrepancy"]
    return (np.log(values["error"] + 1e-12) - err_loc) / err_spread + (
        values["discrepancy"] - dis_loc
    ) / dis_spread
