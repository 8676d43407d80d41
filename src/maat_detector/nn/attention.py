"""Anomaly attention: series association (block-sparse or dense) and Gaussian prior.

Dimension glossary (MODEL.md): B batch, L window, H heads, E head width,
b block length, nb = ceil(L / b) blocks, Lp = nb * b (L padded to whole blocks).

The series association S is computed block by block: for ``attention="block"``
each query attends only to keys in its own block of b steps, so the scores are
(B, H, nb, b, b) and no (L, L) score matrix exists. "full" and "causal" are
the single-block case b = L.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .config import MAATConfig

__all__ = ["Association", "AnomalyAttention", "prior_parts", "symmetric_kl", "EPS"]

#: Floor inside the logarithms of the KL terms, as in the reference.
EPS = 1e-4


@dataclass
class Association:
    """One layer's associations, kept in block form.

    Attributes
    ----------
    series : Tensor of shape (B, H, nb, b, b)
        Row-stochastic series association within each block; keys beyond L in
        the last block have weight exactly 0.
    sigma : Tensor of shape (B, H, L)
        Prior widths.
    distance : Tensor of shape (L, L)
        ``|i - j|`` as float (a model buffer, shared, not copied).
    """

    series: torch.Tensor
    sigma: torch.Tensor
    distance: torch.Tensor
    _prior: tuple[torch.Tensor, torch.Tensor] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def win_size(self) -> int:
        """Window length L."""
        return self.sigma.shape[-1]

    def prior(self) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`prior_parts` of this layer, computed once and cached.

        The minimax losses ask for the discrepancy twice per layer (each side
        detached in turn) and share one prior graph.
        """
        if self._prior is None:
            self._prior = prior_parts(self.sigma, self.distance, self.series.shape[-1])
        return self._prior

    def discrepancy(self, detach: str | None = None) -> torch.Tensor:
        """Symmetric KL between series and prior rows, averaged over heads.

        Parameters
        ----------
        detach : {None, "series", "prior"}
            Which side to cut from the graph (the minimax losses need both).

        Returns
        -------
        Tensor of shape (B, L)
            kl(S, P) + kl(P, S) per query row (MODEL.md section 8).
        """
        prior_blocks, off_block = self.prior()
        series = self.series
        if detach == "series":
            series = series.detach()
        elif detach == "prior":
            prior_blocks, off_block = prior_blocks.detach(), off_block.detach()
        return symmetric_kl(series, prior_blocks, off_block)

    def series_dense(self) -> torch.Tensor:
        """The series association as a dense (B, H, L, L) matrix (zeros off-block)."""
        batch, heads, n_blocks, block, _ = self.series.shape
        padded = n_blocks * block
        dense = self.series.new_zeros(batch, heads, n_blocks, block, n_blocks, block)
        idx = torch.arange(n_blocks, device=self.series.device)
        dense[:, :, idx, :, idx, :] = self.series.permute(2, 0, 1, 3, 4)
        dense = dense.reshape(batch, heads, padded, padded)
        return dense[..., : self.win_size, : self.win_size]


def symmetric_kl(
    series_blocks: torch.Tensor, prior_blocks: torch.Tensor, off_block: torch.Tensor
) -> torch.Tensor:
    """kl(S, P) + kl(P, S) per row from block form, mean over heads: (B, L).

    With kl(p, q) = sum_j p_j (log(p_j + eps) - log(q_j + eps)), the symmetric
    sum is sum_j (S_j - P_j)(log(S_j + eps) - log(P_j + eps)); where S is
    exactly zero (outside the block) that reduces to ``off_block``.
    """
    batch, heads = series_blocks.shape[:2]
    length = off_block.shape[-1]
    in_block = (series_blocks - prior_blocks) * (
        torch.log(series_blocks + EPS) - torch.log(prior_blocks + EPS)
    )
    in_block = in_block.sum(dim=-1).reshape(batch, heads, -1)[..., :length]
    return (in_block + off_block).mean(dim=1)


def sigma_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Prior width sigma = 3 ** (sigmoid(5 s) + 1e-5) - 1, in (1e-5, 2)."""
    return torch.pow(3.0, torch.sigmoid(5.0 * logits) + 1e-5) - 1.0


#: A prior weight at distance k from its query is exp(-k^2 / (2 sigma^2)) of
#: the weight at k = 0; beyond ``PRIOR_REACH_LOG`` nats it is dropped
#: (exp(-40) = 4e-18, far below float32 resolution of the row sums).
PRIOR_REACH_LOG = 40.0


def prior_reach(sigma: torch.Tensor) -> int:
    """Largest distance |i - j| at which any prior weight is not negligible."""
    sigma_max = float(sigma.detach().max()) if sigma.numel() else 0.0
    if not math.isfinite(sigma_max):
        return sys.maxsize
    return math.ceil(sigma_max * math.sqrt(2.0 * PRIOR_REACH_LOG))


def prior_parts(
    sigma: torch.Tensor, distance: torch.Tensor, block: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-normalised Gaussian prior, split as the discrepancy needs it.

    Parameters
    ----------
    sigma : Tensor of shape (B, H, L)
    distance : Tensor of shape (L, L)
        ``|i - j|`` as float.
    block : int
        Block length b.

    Returns
    -------
    prior_blocks : Tensor of shape (B, H, nb, b, b)
        P restricted to each diagonal block (zeros at padded keys).
    off_block_term : Tensor of shape (B, H, L)
        sum over keys j outside i's block of P_ij (log(P_ij + eps) - log(eps)),
        the part of the symmetric KL where S is exactly zero.

    Notes
    -----
    The prior is a Gaussian of width sigma <= 2 (:func:`sigma_from_logits`),
    so a row's weights vanish a few sigma from its query. When that reach r
    (:func:`prior_reach`) is short of the window, only the band |i - j| <= r,
    (B, H, L, 2r + 1), is computed, and the diagonal blocks directly: the
    dropped weights are below exp(-40) of the row's largest, so the result
    equals the dense computation to float32 rounding at a fraction of the
    (B, H, L, L) work.
    """
    # The band always covers the diagonal blocks, so their terms are part
    # of the band total that the off-block term is taken from.
    reach = max(prior_reach(sigma), block - 1)
    if 2 * reach + 1 >= sigma.shape[-1]:
        return _prior_parts_dense(sigma, distance, block)
    return _prior_parts_banded(sigma, block, reach)


_LOG2E = 1.4426950408889634  # exp(x) = exp2(x * log2(e))


def _log2_rate(sigma: torch.Tensor) -> torch.Tensor:
    """-log2(e) / (2 sigma^2) as (B, H, L, 1): exp(-k^2 / (2 sigma^2)) = exp2(k^2 rate).

    The Gaussian weights are taken with ``exp2``: ``exp`` goes through MKL's
    vector maths on the CPU, which takes a slow path for every result below
    float32's smallest normal number (a prior weight a few sigma out), and
    was 5-10x slower than ``exp2`` on these tensors.
    """
    return (-_LOG2E / 2.0) / sigma.square().unsqueeze(-1)


def _prior_parts_banded(
    sigma: torch.Tensor, block: int, reach: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`prior_parts` from the band |i - j| <= reach (see its Notes)."""
    batch, heads, length = sigma.shape
    device, dtype = sigma.device, sigma.dtype
    rate = _log2_rate(sigma)  # (B, H, L, 1)
    log_eps = math.log(EPS)

    # Band: offsets k = j - i in [-reach, reach]; keys outside the window
    # get weight exactly 0.
    offsets = torch.arange(-reach, reach + 1, device=device)
    inside = (torch.arange(length, device=device)[:, None] + offsets >= 0) & (
        torch.arange(length, device=device)[:, None] + offsets < length
    )  # (L, 2r + 1)
    kernel = torch.exp2(offsets.to(dtype).square() * rate)  # (B, H, L, 2r + 1)
    kernel = kernel * inside
    norm = kernel.sum(dim=-1, keepdim=True)  # (B, H, L, 1)
    band = kernel / norm
    total = (band * (torch.log(band + EPS) - log_eps)).sum(dim=-1)  # (B, H, L)

    # Diagonal blocks, computed directly: query r and key c of one block are
    # |c - r| apart; keys beyond L (last block) get weight 0.
    n_blocks = -(-length // block)
    pad = n_blocks * block - length
    within = torch.arange(block, device=device, dtype=dtype)
    block_dist2 = (within[None, :] - within[:, None]).square()  # (b, b)
    if pad:
        # Padded queries: width 1 and an infinite normaliser give rows of
        # exact zeros, as the dense path's zero padding.
        rate = F.pad(rate, (0, 0, 0, pad), value=-_LOG2E / 2.0)
        norm = F.pad(norm, (0, 0, 0, pad), value=math.inf)
    shape5 = (batch, heads, n_blocks, block, 1)
    prior_blocks = torch.exp2(block_dist2 * rate.reshape(shape5))
    if pad:
        key_inside = torch.arange(n_blocks * block, device=device) < length
        prior_blocks = prior_blocks * key_inside.reshape(n_blocks, 1, block)
    prior_blocks = prior_blocks / norm.reshape(shape5)  # (B, H, nb, b, b)
    in_block = (prior_blocks * (torch.log(prior_blocks + EPS) - log_eps)).sum(dim=-1)
    in_block = in_block.reshape(batch, heads, -1)[..., :length]
    return prior_blocks, total - in_block


def _prior_parts_dense(
    sigma: torch.Tensor, distance: torch.Tensor, block: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`prior_parts` over the full (B, H, L, L) prior."""
    length = sigma.shape[-1]
    # Gaussian kernel; its 1 / (sqrt(2 pi) sigma) factor cancels in the row
    # normalisation.
    kernel = torch.exp2(distance.square() * _log2_rate(sigma))  # (B, H, L, L)
    prior = kernel / kernel.sum(dim=-1, keepdim=True)
    log_eps = torch.log(torch.tensor(EPS, dtype=prior.dtype, device=prior.device))
    row_term = prior * (torch.log(prior + EPS) - log_eps)  # (B, H, L, L)

    n_blocks = -(-length // block)
    pad = n_blocks * block - length
    if pad:
        prior = F.pad(prior, (0, pad, 0, pad))
        row_term_padded = F.pad(row_term, (0, pad, 0, pad))
    else:
        row_term_padded = row_term
    batch, heads = sigma.shape[:2]
    shape6 = (batch, heads, n_blocks, block, n_blocks, block)
    # Diagonal blocks: (B, H, b, b, nb) -> (B, H, nb, b, b).
    prior_blocks = torch.diagonal(prior.reshape(shape6), dim1=2, dim2=4)
    prior_blocks = prior_blocks.permute(0, 1, 4, 2, 3)
    in_block = torch.diagonal(row_term_padded.reshape(shape6), dim1=2, dim2=4)
    in_block = in_block.sum(dim=-2).transpose(-1, -2).reshape(batch, heads, -1)
    off_block_term = row_term.sum(dim=-1) - in_block[..., :length]
    return prior_blocks, off_block_term


class AnomalyAttention(nn.Module):
    """Multi-head anomaly attention (MODEL.md sections 4-5).

    Returns the attended values (B, L, d) and the layer's :class:`Association`.
    """

    def __init__(self, config: MAATConfig):
        super().__init__()
        d, h = config.d_model, config.n_heads
        self.n_heads = h
        self.block = config.effective_block_size
        self.causal = config.causal
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)
        self.sigma = nn.Linear(d, h)
        self.out = nn.Linear(d, d)
        self.dropout = nn.Dropout(config.dropout)

        length, block = config.win_size, self.block
        n_blocks = -(-length // block)
        padded = n_blocks * block
        # Key mask per block: False where the key is padding (beyond L) or,
        # in causal mode, in the future of the query.
        key_pos = torch.arange(padded).reshape(n_blocks, 1, block)
        query_pos = torch.arange(padded).reshape(n_blocks, block, 1)
        allowed = (key_pos < length).expand(n_blocks, block, block)
        if self.causal:
            allowed = allowed & (key_pos <= query_pos)
        self.register_buffer("allowed", allowed, persistent=False)  # (nb, b, b)
        self.register_buffer("padding", torch.tensor(padded - length), persistent=False)

    def forward(
        self, x: torch.Tensor, distance: torch.Tensor
    ) -> tuple[torch.Tensor, Association]:
        batch, length, d = x.shape
        h, block = self.n_heads, self.block
        pad = int(self.padding)
        n_blocks = (length + pad) // block

        def heads(t: torch.Tensor) -> torch.Tensor:  # (B, L, d) -> (B, H, nb, b, E)
            t = t.reshape(batch, length, h, d // h)
            if pad:
                t = F.pad(t, (0, 0, 0, 0, 0, pad))
            return t.reshape(batch, n_blocks, block, h, d // h).permute(0, 3, 1, 2, 4)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(-1, -2) * (d // h) ** -0.5  # (B, H, nb, b, b)
        scores = scores.masked_fill(~self.allowed, float("-inf"))
        # Under bfloat16 autocast the association stays float32 for the KL
        # terms (log of probabilities); in float32 the casts are no-ops.
        series = self.dropout(torch.softmax(scores.float(), dim=-1))
        attended = series @ v  # (B, H, nb, b, E)
        attended = attended.permute(0, 2, 3, 1, 4).reshape(batch, n_blocks * block, d)
        out = self.out(attended[:, :length])

        sigma = sigma_from_logits(self.sigma(x).float()).transpose(1, 2)  # (B, H, L)
        return out, Association(series=series, sigma=sigma, distance=distance)
