"""The MAAT network: anomaly-attention encoder with a gated Mamba branch.

Dimension glossary (tied to the paper, arXiv 2502.07858, and MODEL.md):

- B: windows in a batch
- L: window length (``win_size``)
- C: input channels (``n_features``)
- d: model width (``d_model``); H heads of width E = d / H
- F: feed-forward width (``d_ff``)
- Di: Mamba inner width (``expand * d_model``); N: SSM state size (``d_state``)
- b: attention block length; nb = ceil(L / b) blocks
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import AnomalyAttention, Association
from .config import MAATConfig
from .embedding import DataEmbedding
from .mamba import MambaBlock

__all__ = ["MAAT", "EncoderLayer", "GatedMambaFusion"]


class EncoderLayer(nn.Module):
    """Post-norm encoder layer: anomaly attention then feed-forward (section 4)."""

    def __init__(self, config: MAATConfig):
        super().__init__()
        d = config.d_model
        self.attention = AnomalyAttention(config)
        self.norm1 = nn.LayerNorm(d)
        self.ff_in = nn.Linear(d, config.d_ff)
        self.ff_out = nn.Linear(config.d_ff, d)
        self.norm2 = nn.LayerNorm(d)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, distance: torch.Tensor
    ) -> tuple[torch.Tensor, Association]:
        attended, association = self.attention(x, distance)
        u = self.norm1(x + self.dropout(attended))
        y = self.ff_out(self.dropout(F.gelu(self.ff_in(u))))
        return self.norm2(u + self.dropout(y)), association


class GatedMambaFusion(nn.Module):
    """Mamba branch with skip connection, LayerNorm and learned gate (section 6).

    ``r = LN(Mamba(a) + x_prev)``, ``g = sigmoid(W_g [a; r] + b_g)``,
    output ``g * r + (1 - g) * a``.
    """

    def __init__(self, config: MAATConfig):
        super().__init__()
        d = config.d_model
        self.mamba = MambaBlock(
            d,
            d_state=config.d_state,
            d_conv=config.d_conv,
            expand=config.expand,
            dt_rank=config.dt_rank,
            scan_backend=config.scan_backend,
        )
        self.gate = nn.Linear(2 * d, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, attended: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        residual = self.norm(self.mamba(attended) + previous)
        gate = torch.sigmoid(self.gate(torch.cat([attended, residual], dim=-1)))
        # g * r + (1 - g) * a in one pass, in the residual stream's dtype
        # (float32 also under bfloat16 autocast; no-op casts in float32).
        dtype = residual.dtype
        return torch.lerp(attended.to(dtype), residual, gate.to(dtype))


class MAAT(nn.Module):
    """Mamba Adaptive Anomaly Transformer.

    ``forward(x)`` maps windows (B, L, C) to their reconstruction (B, L, C) and
    one :class:`~maat_detector.nn.attention.Association` per layer.

    With ``share_mamba=True`` (the reference) one fusion block serves every
    layer and its LayerNorm is also the final norm; otherwise each layer has
    its own fusion and the final norm is separate.
    """

    def __init__(self, config: MAATConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.embedding = DataEmbedding(
            config.n_features,
            d,
            config.win_size,
            config.dropout,
            shifted=config.objective == "forecast",
        )
        self.layers = nn.ModuleList(
            EncoderLayer(config) for _ in range(config.e_layers)
        )
        if not config.use_mamba:
            self.fusions = nn.ModuleList()
        elif config.share_mamba:
            self.fusions = nn.ModuleList([GatedMambaFusion(config)])
        else:
            self.fusions = nn.ModuleList(
                GatedMambaFusion(config) for _ in range(config.e_layers)
            )
        if config.use_mamba and config.share_mamba:
            self.final_norm = self.fusions[0].norm  # shared, as the reference
        else:
            self.final_norm = nn.LayerNorm(d)
        self.projection = nn.Linear(d, config.n_features)
        steps = torch.arange(config.win_size, dtype=torch.float32)
        self.register_buffer(
            "distance", (steps[:, None] - steps[None, :]).abs(), persistent=False
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[Association]]:
        hidden = self.embedding(x)  # (B, L, d)
        associations = []
        for index, layer in enumerate(self.layers):
            attended, association = layer(hidden, self.distance)
            associations.append(association)
            if self.fusions:
                fusion = self.fusions[index if len(self.fusions) > 1 else 0]
                hidden = fusion(attended, hidden)
            else:
                hidden = attended
        return self.projection(self.final_norm(hidden)), associations
