"""Configuration of the MAAT network: one frozen dataclass, checked on creation."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MAATConfig", "ATTENTION_MODES", "OBJECTIVES"]

ATTENTION_MODES = ("block", "full", "causal")
OBJECTIVES = ("reconstruction", "forecast")


@dataclass(frozen=True)
class MAATConfig:
    """Hyper-parameters of :class:`~maat_detector.nn.MAAT`.

    Defaults are the paper's (MODEL.md sections 1-7); the estimator builds the
    config from its own parameters in ``fit``.

    Parameters
    ----------
    n_features : int
        Input (and reconstructed) channels C.
    win_size : int, default=100
        Window length L.
    d_model : int, default=512
        Model width d.
    n_heads : int, default=8
        Attention heads H; must divide ``d_model``.
    e_layers : int, default=3
        Encoder layers.
    d_ff : int, default=512
        Feed-forward width F.
    dropout : float, default=0.0
        Dropout probability (the reference uses 0).
    attention : {"block", "full", "causal"}, default="block"
        Series association: the paper's block-sparse attention, the Anomaly
        Transformer's full attention, or the causal mask the released code
        runs by accident.
    block_size : int, default=10
        Block length b of ``attention="block"``; the last block may be shorter.
    use_mamba : bool, default=True
        Fuse the Mamba branch after every encoder layer. ``False`` gives the
        Anomaly Transformer with the chosen attention (an ablation).
    share_mamba : bool, default=True
        One Mamba block, gate and fusion LayerNorm shared by all layers (the
        reference); ``False`` gives each layer its own.
    d_state, d_conv, expand : int, default=8, 4, 2
        Mamba state size N, causal convolution width and expansion factor.
    dt_rank : int or "auto", default="auto"
        Rank R of the step-size projection; "auto" is ``ceil(d_model / 16)``.
    scan_backend : {"torch", "cuda", "compiled"}, default="torch"
        Selective-scan implementation, already resolved by the caller.
    objective : {"reconstruction", "forecast"}, default="reconstruction"
        What the output at step t estimates: x_t from the whole window (the
        paper), or x_t from the steps before it only. "forecast" makes every
        part causal: the token convolution reads x_{t-3..t-1}, and the
        attention (block or full) masks the future.
    """

    n_features: int
    win_size: int = 100
    d_model: int = 512
    n_heads: int = 8
    e_layers: int = 3
    d_ff: int = 512
    dropout: float = 0.0
    attention: str = "block"
    block_size: int = 10
    use_mamba: bool = True
    share_mamba: bool = True
    d_state: int = 8
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | str = "auto"
    scan_backend: str = "torch"
    objective: str = "reconstruction"

    def __post_init__(self):
        for name in (
            "n_features",
            "win_size",
            "d_model",
            "n_heads",
            "e_layers",
            "d_ff",
            "block_size",
            "d_state",
            "d_conv",
            "expand",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; "
                "choose d_model as a multiple of n_heads."
            )
        if self.d_model % 2:
            raise ValueError(
                f"d_model={self.d_model} must be even for the sinusoidal "
                "positional embedding."
            )
        if self.attention not in ATTENTION_MODES:
            raise ValueError(
                f"attention={self.attention!r} is not one of {ATTENTION_MODES}."
            )
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"objective={self.objective!r} is not one of {OBJECTIVES}."
            )
        if self.block_size > self.win_size:
            raise ValueError(
                f"block_size={self.block_size} is longer than win_size="
                f"{self.win_size}; choose block_size <= win_size."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        if self.scan_backend not in ("torch", "cuda", "compiled"):
            raise ValueError(
                f"scan_backend={self.scan_backend!r} must be 'torch', 'cuda' or "
                "'compiled'."
            )
        if self.dt_rank != "auto" and (
            not isinstance(self.dt_rank, int) or self.dt_rank < 1
        ):
            raise ValueError(
                f"dt_rank must be 'auto' or a positive integer, got {self.dt_rank!r}."
            )

    @property
    def head_dim(self) -> int:
        """Per-head width E = d_model / n_heads."""
        return self.d_model // self.n_heads

    @property
    def d_inner(self) -> int:
        """Mamba inner width Di = expand * d_model."""
        return self.expand * self.d_model

    @property
    def dt_rank_value(self) -> int:
        """Resolved rank R of the step-size projection."""
        return math.ceil(self.d_model / 16) if self.dt_rank == "auto" else self.dt_rank

    @property
    def causal(self) -> bool:
        """Whether no output may depend on later steps of the window."""
        return self.attention == "causal" or self.objective == "forecast"

    @property
    def effective_block_size(self) -> int:
        """Block length used by the attention: the window itself unless "block"."""
        return self.block_size if self.attention == "block" else self.win_size
