"""One fit: from checked raw rows to a :class:`~.fitted.FittedMAAT`."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import _OPENMP_SPINS
from .._memory import reusing_freed_memory
from ..nn import MAAT, MAATConfig
from .calibrate import ThresholdSettings, calibrate
from .fitted import FittedMAAT
from .preprocess import fit_scaling, scale_rows
from .score import ScoreSettings
from .train import TrainSettings, train

__all__ = ["FitSettings", "fit"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitSettings:
    """Everything one fit needs, resolved once from the estimator's parameters.

    Attributes
    ----------
    config : MAATConfig
        The network, with the scan backend already resolved for ``device``.
    train : TrainSettings
    score : ScoreSettings
    threshold : ThresholdSettings
    scaling : {"standard", "robust"} or None
    validation_fraction : float
    device : torch.device
    seed : int
        Seed of the weights and of the training windows' draws.
    """

    config: MAATConfig
    train: TrainSettings
    score: ScoreSettings
    threshold: ThresholdSettings
    scaling: str | None
    validation_fraction: float
    device: torch.device
    seed: int


@reusing_freed_memory()
def fit(X, settings, on_step=None):
    """Scale, train on the head of ``X`` and calibrate on its tail.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
        Checked raw rows in time order, at least ``win_size`` of them.
    settings : FitSettings
    on_step : callable, optional
        Called as ``on_step(windows_seen, snapshot)`` after every optimizer
        step; ``snapshot()`` returns the :class:`~.fitted.FittedMAAT` that
        stopping there would give (a calibrated copy of the current weights).
        Training curves use it; training itself is unchanged.

    Returns
    -------
    FittedMAAT
        ``n_features_in`` set; ``feature_names_in`` left to the caller.
    """
    _hint_at_spinning_openmp()
    n_samples, win_size = X.shape[0], settings.config.win_size
    center, scale = fit_scaling(X, settings.scaling)
    fit_tail = np.array(X[n_samples - win_size + 1 :])  # raw, for stream()
    X = scale_rows(X, center, scale)

    n_val = int(math.floor(settings.validation_fraction * n_samples))
    if n_val and (n_val < win_size or n_samples - n_val < win_size):
        logger.info(
            "validation tail of %d rows cannot hold a window of %d rows "
            "beside the training part; training and calibrating on all rows",
            n_val,
            win_size,
        )
        n_val = 0
    train_rows, val_rows = X[: n_samples - n_val], X[n_samples - n_val :]
    calibration = val_rows if n_val else train_rows
    device = settings.device

    def finish(model, history, best_epoch):
        model.eval()
        channel_scale, score_stats, threshold = calibrate(
            model, calibration, device, settings.score, settings.threshold
        )
        return FittedMAAT(
            n_features_in=X.shape[1],
            config=settings.config,
            model=model,
            device=device,
            scan_backend=settings.config.scan_backend,
            center=center,
            scale=scale,
            history=history,
            best_epoch=best_epoch,
            n_epochs=len(history),
            fit_tail=fit_tail,
            n_calibration_rows=calibration.shape[0],
            channel_scale=channel_scale,
            score_stats=score_stats,
            threshold=threshold,
        )

    step_hook = None
    if on_step is not None:

        def step_hook(model, windows_seen):
            on_step(windows_seen, lambda: finish(copy.deepcopy(model), [], 0))

    # fork_rng restores the global torch RNG afterwards: fit never changes
    # the caller's random state.
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(settings.seed)
        model = MAAT(settings.config).to(device)
        history, best_epoch = train(
            model,
            train_rows,
            val_rows,
            device,
            settings.train,
            settings.seed,
            on_step=step_hook,
        )
        return finish(model, history, best_epoch)


_hinted = False


def _hint_at_spinning_openmp():
    """Say once how to keep OpenMP from spin-waiting, where it does and matters."""
    global _hinted
    if _hinted or not _OPENMP_SPINS or torch.get_num_threads() < 2:
        return
    _hinted = True
    logger.info(
        "torch was imported before maat_detector and OMP_WAIT_POLICY is unset, "
        "so OpenMP threads spin while they wait: when another process shares "
        "the cores, %d threads can be slower than one. Set "
        "OMP_WAIT_POLICY=PASSIVE in the environment before Python starts, or "
        "import maat_detector before torch.",
        torch.get_num_threads(),
    )
