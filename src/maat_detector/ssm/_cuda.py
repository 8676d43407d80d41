"""Optional fused selective-scan kernel from ``mamba-ssm``.

The import is lazy and cached: ``import maat_detector.ssm`` never imports
``mamba_ssm``. It is attempted once, on the first call of
:func:`load_fused_scan`, and any failure is remembered rather than raised. A
failure is not only :class:`ImportError`: on a machine without a CUDA build,
``mamba_ssm`` may be installed yet die with ``No module named
'selective_scan_cuda'``, an :class:`OSError` from a missing shared library, or
a :class:`RuntimeError` from a torch/CUDA version mismatch.
"""

import logging

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    'pip install "maat-detector[cuda]" (installs mamba-ssm and causal-conv1d, '
    "which compile against a CUDA toolkit matching your torch build; they need "
    "nvcc and an NVIDIA GPU)"
)

_UNSET = object()
_fused_fn = _UNSET
_import_error = None


def load_fused_scan():
    """Return ``mamba_ssm``'s ``selective_scan_fn``, or None if unusable.

    Returns
    -------
    fn : callable or None
        The fused kernel's autograd function, or None when ``mamba_ssm`` (or
        its compiled extension) cannot be imported. The result is cached.
    """
    global _fused_fn, _import_error
    if _fused_fn is _UNSET:
        try:
            from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
        except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
            # Broad on purpose: the compiled extension fails with OSError or
            # RuntimeError as often as with ImportError (see module docstring).
            _fused_fn = None
            _import_error = f"{type(exc).__name__}: {exc}"
            logger.debug("mamba_ssm fused scan unavailable: %s", _import_error)
        else:
            _fused_fn = selective_scan_fn
    return _fused_fn


def fused_scan_import_error():
    """Return why the fused kernel could not be loaded, or None.

    Returns
    -------
    reason : str or None
        ``"ExceptionType: message"`` of the failed import, None when the
        kernel loaded or has not been tried yet.
    """
    load_fused_scan()
    return _import_error
