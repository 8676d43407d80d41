"""Selective scan (Mamba's S6 recurrence) with an optional fused CUDA kernel.

:func:`selective_scan` has the signature of ``mamba_ssm``'s
``selective_scan_fn`` plus a ``backend`` keyword. Importing this package never
imports ``mamba_ssm``; the fused kernel is looked up lazily.
"""

from .backend import fused_scan_available, resolve_scan_backend
from .scan import selective_scan, selective_scan_ref

__all__ = [
    "fused_scan_available",
    "resolve_scan_backend",
    "selective_scan",
    "selective_scan_ref",
]
