"""Input embedding: circular token convolution plus fixed sinusoidal positions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DataEmbedding"]


def sinusoid_table(length: int, d_model: int) -> torch.Tensor:
    """Fixed positional table pe[t, 2i] = sin(t w_i), pe[t, 2i+1] = cos(t w_i)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float32)
        * (-math.log(10000.0) / d_model)
    )
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table


class DataEmbedding(nn.Module):
    """Embed a window (B, L, C) into (B, L, d_model) (MODEL.md section 3).

    The token convolution pads circularly, as the reference does: step 0 sees
    step L-1 as its left neighbour. With ``shifted=True`` (the forecast
    objective) token t reads x_{t-3}, x_{t-2}, x_{t-1} instead, zeros before
    the window's start, so it holds nothing of x_t or later.
    """

    def __init__(
        self,
        n_features: int,
        d_model: int,
        win_size: int,
        dropout: float,
        shifted: bool = False,
    ):
        super().__init__()
        self.shifted = shifted
        self.token = nn.Conv1d(
            n_features,
            d_model,
            kernel_size=3,
            padding=0 if shifted else 1,
            padding_mode="zeros" if shifted else "circular",
            bias=False,
        )
        nn.init.kaiming_normal_(self.token.weight, mode="fan_in", nonlinearity="relu")
        # A constant: a non-persistent buffer moves with .to() and stays out of
        # the state_dict.
        self.register_buffer(
            "position", sinusoid_table(win_size, d_model), persistent=False
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        x = x.transpose(1, 2)  # (B, C, L)
        if self.shifted:
            # Three zero steps in front, the last step dropped: output t is
            # the kernel over x_{t-3..t-1}.
            x = F.pad(x[..., :-1], (3, 0))
        tokens = self.token(x).transpose(1, 2)  # (B, L, d)
        # Position first: the sum then takes the contiguous (B, L, d) layout
        # rather than the convolution's (B, d, L), so the projections that
        # read it do not each copy it.
        return self.dropout(self.position[:length] + tokens)
