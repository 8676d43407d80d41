"""Minimax training loss and per-point anomaly scores (MODEL.md sections 8-9)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .attention import Association

__all__ = ["minimax_loss", "point_scores", "SCORE_MODES"]

#: Ways of turning a window into per-point anomaly scores; see point_scores.
SCORE_MODES = ("paper", "reconstruction", "discrepancy")


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


def point_scores(
    x: torch.Tensor,
    reconstruction: torch.Tensor,
    associations: Sequence[Association],
    temperature: float = 50.0,
    mode: str = "paper",
) -> torch.Tensor:
    """Per-point anomaly scores of each window, higher = more anomalous: (B, L).

    - ``"paper"``: ``softmax_t(-AD) * rec_t`` with ``AD = sum_l temperature *
      discrepancy_l`` (section 9); the softmax runs over the window's L steps.
    - ``"reconstruction"``: ``rec_t`` alone (mean squared error over channels).
    - ``"discrepancy"``: ``AD`` alone.
    """
    rec = torch.mean((x - reconstruction) ** 2, dim=-1)  # (B, L)
    if mode == "reconstruction":
        return rec
    ad = temperature * sum(a.discrepancy() for a in associations)  # (B, L)
    if mode == "discrepancy":
        return ad
    if mode == "paper":
        return torch.softmax(-ad, dim=-1) * rec
    raise ValueError(f"mode={mode!r} is not one of {SCORE_MODES}.")
