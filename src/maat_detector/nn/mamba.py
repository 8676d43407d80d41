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
        # Channels stay the contiguous axis from in_proj to out_proj: the
        # convolution and the scan read (B, Di, L) views of (B, L, Di)
        # tensors and the scan writes one, so no (B, Di, L) <-> (B, L, Di)
        # transpose is ever copied (at the paper's size 14 ms each, against 5 ms
        # for the row-wise copies left; benchmarks/speed/layout.py).
        x, z = self.in_proj(hidden).chunk(2, dim=-1)  # (B, L, Di) each
        x = F.silu(self._causal_conv(x))
        x_dbl = self.x_proj(x)  # (B, L, R + 2N)
        dt, b_ssm, c_ssm = torch.split(
            x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1
        )
        delta = dt @ self.dt_proj.weight.t()  # (B, L, Di)
        y = selective_scan(
            x.transpose(1, 2),
            delta.transpose(1, 2),
            -torch.exp(_at_least_float32(self.A_log)),
            b_ssm.transpose(1, 2),
            c_ssm.transpose(1, 2),
            D=_at_least_float32(self.D),
            z=z.transpose(1, 2),
            delta_bias=_at_least_float32(self.dt_proj.bias),
            delta_softplus=True,
            backend=self.scan_backend,
        )
        # Contiguous (a no-op for the CPU scans' (B, L, Di) storage): under
        # bfloat16 autocast a strided input would send the Linear to a
        # batched matmul that copies the weight once per window.
        return self.out_proj(y.transpose(1, 2).contiguous())

    def _causal_conv(self, x: torch.Tensor) -> torch.Tensor:
        """Depthwise causal convolution of ``conv1d``'s weights over (B, L, Di).

        Run as a (B, Di, 1, L) 2-D convolution of a view whose channels are
        the contiguous axis (channels-last), which oneDNN takes without a
        copy and answers in the same layout; ``nn.Conv1d`` on (B, Di, L)
        needed both transposes. Forward 25 vs 77 ms, with backward 211 vs
        344 ms at B 128, L 100, Di 1024, 2 threads
        (``benchmarks/speed/layout.py``). On the CPU the backward is
        :class:`_CausalDepthwiseConv`'s.
        """
        weight, bias = self.conv1d.weight.squeeze(1), self.conv1d.bias  # (Di, K)
        if x.device.type != "cpu" or not torch.is_grad_enabled():
            # Inference: oneDNN adds the bias in the same pass.
            return _causal_depthwise_conv(x, weight, bias)
        if torch.is_autocast_enabled("cpu"):
            # In float32 (a cheap op), as the scan that reads it computes.
            with torch.autocast("cpu", enabled=False):
                return _CausalDepthwiseConv.apply(
                    x.float(), weight.float(), None if bias is None else bias.float()
                )
        return _CausalDepthwiseConv.apply(x, weight, bias)


def _causal_depthwise_conv(x, weight, bias):
    """out[:, t, c] = bias[c] + sum_k weight[c, k] x[:, t - K + 1 + k, c]: (B, L, Di).

    ``x`` (B, L, Di), ``weight`` (Di, K); steps before the window are zeros.
    """
    return _depthwise_conv_padded(x, weight, bias)[:, : x.shape[1]]  # causal


def _depthwise_conv_padded(x, weight, bias):
    """The convolution over x padded with K - 1 zeros at both ends: (B, L + K - 1, Di).

    A (B, L + K - 1, Di) view of channels-last (B, Di, 1, L + K - 1) storage.
    """
    out = F.conv2d(
        x.transpose(1, 2).unsqueeze(2),  # (B, Di, 1, L), channels-last
        weight[:, None, None, :],
        bias,
        padding=(0, weight.shape[1] - 1),
        groups=weight.shape[0],
    )
    return out.squeeze(2).transpose(1, 2)


class _CausalDepthwiseConv(torch.autograd.Function):
    """:func:`_causal_depthwise_conv` with a hand-written backward (CPU).

    oneDNN's depthwise backward took most of the block's convolution time
    (its bias gradient alone 40 ms, a plain sum 2 ms, at B 32, L 100,
    Di 1024, 1 thread). Here the input gradient is the forward convolution
    of the output gradient with the kernel reversed, the weight gradient
    one product-sum per tap and the bias gradient a sum. The bias is added
    after the convolution, which is what oneDNN does: the forward is
    unchanged to the bit.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        out = _causal_depthwise_conv(x, weight, None)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return out + bias if bias is not None else out.contiguous()

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        length, width = x.shape[1], weight.shape[1]
        needs = ctx.needs_input_grad
        d_x = d_weight = d_bias = None
        if needs[0]:
            # d_x[s] = sum_k weight[k] grad[s + K - 1 - k]: the convolution of
            # grad with the reversed kernel, read K - 1 steps later.
            d_x = _depthwise_conv_padded(grad, weight.flip(-1), None)[:, width - 1 :]
        if needs[1]:
            # Tap k reads x from K - 1 - k steps back.
            d_weight = weight.new_zeros(weight.shape)
            for shift in range(min(width, length)):
                d_weight[:, width - 1 - shift] = (
                    grad[:, shift:] * x[:, : length - shift]
                ).sum((0, 1))
        if ctx.has_bias and needs[2]:
            d_bias = grad.sum((0, 1))
        return d_x, d_weight, d_bias


def _at_least_float32(parameter: torch.Tensor) -> torch.Tensor:
    # The scan's constants in float32 when the block is half precision (as
    # mamba_ssm does), but never rounded down from float64.
    return parameter if parameter.dtype == torch.float64 else parameter.float()
