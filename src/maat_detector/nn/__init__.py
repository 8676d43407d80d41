"""PyTorch modules of the MAAT network."""

from .attention import AnomalyAttention, Association
from .config import MAATConfig
from .losses import minimax_loss, window_components
from .mamba import MambaBlock
from .model import MAAT

__all__ = [
    "MAAT",
    "MAATConfig",
    "AnomalyAttention",
    "Association",
    "MambaBlock",
    "minimax_loss",
    "window_components",
]
