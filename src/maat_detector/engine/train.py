"""Minimax training with early stopping on the validation tail."""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..nn import minimax_loss
from ..windowing import iter_window_batches
from ._progress import progress
from .adam import Adam
from .network import forward

__all__ = ["TrainSettings", "epoch_batch_size", "train"]

logger = logging.getLogger(__name__)

_LOSSES = ("loss1", "loss2", "reconstruction")


@dataclass(frozen=True)
class TrainSettings:
    """How the network is trained (the estimator's parameters of that name)."""

    win_size: int
    epochs: int
    batch_size: int
    lr: float
    k: float
    train_step: int
    max_train_windows: int | None
    max_batch_size: int | None
    n_iter_no_change: int | None
    restore_best: bool
    precision: str
    verbose: int


def train(model, train_rows, val_rows, device, settings, seed, on_step=None):
    """Train ``model`` in place; keep its best epoch's weights or its last.

    Parameters
    ----------
    model : MAAT
    train_rows, val_rows : ndarray of shape (n, n_features), float32
        Scaled rows; ``val_rows`` may be empty (then the training loss is
        monitored).
    device : torch.device
    settings : TrainSettings
    seed : int
        Seed of the window draws.
    on_step : callable, optional
        Called as ``on_step(model, windows_seen)`` after every optimizer step,
        ``windows_seen`` counting the training windows of all epochs so far.
        It must leave ``model`` as it found it (benchmarks score copies).

    Returns
    -------
    history : list of dict
        Per-epoch mean losses, learning rate and seconds.
    best_epoch : int
        Epoch (1-based) whose weights were kept: the one with the lowest
        monitored loss when ``settings.restore_best``, else the last run.
    """
    s = settings
    generator = torch.Generator().manual_seed(seed)
    starts = np.arange(0, train_rows.shape[0] - s.win_size + 1, s.train_step)
    optimizer = Adam(model.parameters(), s.lr)
    history, best_state, best_loss, best_epoch, stale = [], None, math.inf, 0, 0
    per_epoch = len(starts)
    if s.max_train_windows is not None:
        per_epoch = min(per_epoch, s.max_train_windows)
    batch_size = epoch_batch_size(len(starts), per_epoch, s)
    n_batches = math.ceil(per_epoch / batch_size)
    windows_seen = 0
    for epoch in range(1, s.epochs + 1):
        began = time.perf_counter()
        model.train()
        draw = torch.randperm(len(starts), generator=generator)[:per_epoch]
        order = starts[draw.numpy()]
        totals = dict.fromkeys(_LOSSES, 0.0)
        bar = progress(n_batches, f"epoch {epoch}/{s.epochs}", s.verbose)
        for _, windows in iter_window_batches(
            train_rows, order, s.win_size, batch_size
        ):
            x = torch.from_numpy(windows).to(device)
            reconstruction, associations = forward(model, x, s.precision)
            losses = minimax_loss(x, reconstruction, associations, s.k)
            if not torch.isfinite(losses["objective"]):
                bar.close()
                return _diverged(model, history, best_state, best_epoch, s.lr)
            optimizer.zero_grad()
            losses["objective"].backward()
            optimizer.step()
            windows_seen += len(windows)
            if on_step is not None:
                on_step(model, windows_seen)
            for name in totals:
                totals[name] += losses[name].item() * len(windows)
            bar.update(1)
        bar.close()
        record = {"epoch": epoch, "lr": optimizer.lr}
        record.update({f"train_{n}": v / per_epoch for n, v in totals.items()})
        if val_rows.shape[0]:
            record.update(validation_losses(model, val_rows, device, settings))
        record["seconds"] = time.perf_counter() - began
        history.append(record)
        logger.info("epoch %d: %s", epoch, record)
        # The reference halves the rate after every epoch from the second.
        optimizer.lr = s.lr * 0.5 ** (epoch - 1)

        monitored = record.get("val_reconstruction", record["train_reconstruction"])
        if monitored < best_loss:
            best_loss, best_epoch, stale = monitored, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if s.n_iter_no_change is not None and stale >= s.n_iter_no_change:
                logger.info("early stop after epoch %d", epoch)
                break
    if not s.restore_best:
        return history, len(history)
    model.load_state_dict(best_state)
    return history, best_epoch


def epoch_batch_size(n_windows, per_epoch, settings):
    """Windows per training step on a series of ``n_windows`` training windows.

    ``settings.batch_size``, grown (up to ``settings.max_batch_size``) where
    ``per_epoch`` windows in such batches would take more steps than one
    pass over all ``n_windows`` in batches of ``max_batch_size``. On short
    series a small batch would otherwise multiply the steps an epoch takes,
    and with them how far the network fits the training rows.
    """
    batch_size, largest = settings.batch_size, settings.max_batch_size
    if largest is None or largest <= batch_size:
        return batch_size
    steps = math.ceil(n_windows / largest)
    if steps >= math.ceil(per_epoch / batch_size):
        return batch_size
    return math.ceil(per_epoch / steps)


def _diverged(model, history, best_state, best_epoch, lr):
    if best_state is None:
        raise FloatingPointError(
            f"training diverged in the first epoch (non-finite loss) with "
            f"lr={lr}; lower lr, check X for extreme values or use "
            "scaling='robust'."
        )
    warnings.warn(
        f"training diverged (non-finite loss) in epoch {len(history) + 1}; "
        f"keeping the weights of epoch {best_epoch}. Lower lr to train longer.",
        RuntimeWarning,
        stacklevel=5,
    )
    model.load_state_dict(best_state)
    return history, best_epoch


@torch.inference_mode()
def validation_losses(model, val_rows, device, settings):
    """Mean losses over the non-overlapping windows of the validation rows."""
    model.eval()
    starts = np.arange(0, val_rows.shape[0] - settings.win_size + 1, settings.win_size)
    totals = dict.fromkeys(_LOSSES, 0.0)
    for _, windows in iter_window_batches(
        val_rows, starts, settings.win_size, settings.batch_size
    ):
        x = torch.from_numpy(windows).to(device)
        losses = minimax_loss(x, *forward(model, x, settings.precision), settings.k)
        for name in totals:
            totals[name] += losses[name].item() * len(windows)
    return {f"val_{n}": v / len(starts) for n, v in totals.items()}
