"""Minimax training loss and per-point anomaly scores (MODEL.md sections 8-9)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .attention import Association

__all__ = ["minimax_loss", "window_components"]


def minimax_loss(
    x: torch.Tensor,
    reconstruction: torch.Tensor,
    associations: Sequence[Association],
    k: float,
) -> dict[str, torch.Tensor]:
    """The two minimax losses as one differentiable objective.

    The reference backpropagates ``loss1 = rec - k * series_loss`` and then
    ``loss2 = rec + k * prior_loss`` into the same gradients, which equals one
    backward of ``2 * rec - k * series_loss + k * prior_loss`` at half the cost.
    ``series_loss`` sees the prior detached (its gradient reaches only the
    series association) and ``prior_loss`` the series detached (only sigma).

    Returns
    -------
    dict
        ``objective`` (to backpropagate), ``reconstruction``, ``series``,
        ``prior``, ``loss1``, ``loss2`` (scalars).
    """
    rec = torch.mean((reconstruction - x) ** 2)
    n_layers = len(associations)
    series = sum(a.discrepancy(detach="prior").mean() for a in associations) / n_layers
    prior = sum(a.discrepancy(detach="series").mean() for a in associations) / n_layers
    return {
        "objective": 2.0 * rec - k * series + k * prior,
        "reconstruction": rec,
        "series": series,
        "prior": prior,
        "loss1": rec - k * series,
        "loss2": rec + k * prior,
    }


def window_components(
    x: torch.Tensor,
    reconstruction: torch.Tensor,
    associations: Sequence[Association],
    temperature: float = 50.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The per-point quantities every anomaly score is made of.

    Returns
    -------
    squared_error : Tensor of shape (B, L, C)
        ``(x - reconstruction) ** 2`` per channel.
    discrepancy : Tensor of shape (B, L)
        ``AD = temperature * sum over layers of kl(S, P) + kl(P, S)``
        (section 9), heads averaged.
    energy : Tensor of shape (B, L)
        The paper's energy ``softmax_t(-AD) * mean_c squared_error``; the
        softmax runs over the window's L steps, so it is relative to the window.
    """
    squared_error = (x - reconstruction) ** 2
    discrepancy = temperature * sum(a.discrepancy() for a in associations)
    energy = torch.softmax(-discrepancy, dim=-1) * squared_error.mean(dim=-1)
    return squared_error, discrepancy, energy
