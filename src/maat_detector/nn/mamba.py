"""Mamba selective state-space block with mamba_ssm's parameter names and shapes.

A ``state_dict`` of :class:`MambaBlock` loads into ``mamba_ssm.Mamba`` (and back)
for the same ``d_model, d_state, d_conv, expand``. Layout is (B, L, d) outside
and (B, Di, L) at the scan, which is what the fused kernel expects.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..ssm import selective_scan

__all__ = ["MambaBlock"]


class MambaBlock(nn.Module):
    """Selective SSM block (Gu and Dao, 2023), MODEL.md section 7.

    Parameters
    ----------
    d_model, d_state, d_conv, expand, dt_rank, dt_min, dt_max, dt_init_floor,
    conv_bias, bias
        As in ``mamba_ssm.Mamba``.
    scan_backend : {"torch", "cuda", "compiled", "auto"}, default="torch"
        Passed to :func:`maat_detector.ssm.selective_scan`.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        scan_backend: str = "torch",
    ):
        super().__init__()
        d_inner = expand * d_model
        rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, rank
        self.scan_backend = scan_backend

        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=bias)
        self.conv1d = nn.Conv1d(
            d_inner,
            d_inner,
            kernel_size=d_conv,
            groups=d_inner,
            padding=d_conv - 1,
            bias=conv_bias,
        )
        self.x_proj = nn.Linear(d_inner, rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(rank, d_inner, bias=True)
        self.out_proj = nn.Linear(d_inner, d_model, bias=bias)

        bound = rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -bound, bound)
        # Step sizes log-uniform in [dt_min, dt_max]; the bias stores their
        # inverse softplus so that softplus(bias) recovers them.
        dt = torch.exp(
            torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min))
            + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a))  # (Di, N)
        self.D = nn.Parameter(torch.ones(d_inner))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Map (B, L, d_model) to (B, L, d_model)."""
        length = hidden.shape[1]
        xz = self.in_proj(hidden).transpose(1, 2)  # (B, 2Di, L)
        x, z = xz.chunk(2, dim=1)
        x = F.silu(self.conv1d(x)[..., :length])  # causal: keep the first L
        x_dbl = self.x_proj(x.transpose(1, 2))  # (B, L, R + 2N)
        dt, b_ssm, c_ssm = torch.split(
            x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1
        )
        delta = (dt @ self.dt_proj.weight.t()).transpose(1, 2)  # (B, Di, L)
        y = selective_scan(
            x,
            delta,
            -torch.exp(self.A_log.float()),
            b_ssm.transpose(1, 2),
            c_ssm.transpose(1, 2),
            D=self.D.float(),
            z=z,
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            backend=self.scan_backend,
        )
        # Contiguous first: the Linear copies to this layout anyway, and under
        # bfloat16 autocast a strided input would send it to a batched matmul
        # that copies the weight once per window.
        return self.out_proj(y.transpose(1, 2).contiguous())
