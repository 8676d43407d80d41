"""Which selective-scan backend runs: the fused CUDA kernel, the compiled CPU
kernel or the pure-PyTorch scan.

:func:`resolve_scan_backend` makes the choice once (at fit time) and reports
a missing kernel; :func:`maat_detector.ssm.selective_scan` repeats the
``"auto"`` choice per call without logging.
"""

import logging

import torch

from ._cpu import BUILD_HINT, cpu_kernel_error, load_cpu_kernel
from ._cuda import INSTALL_HINT, fused_scan_import_error, load_fused_scan

__all__ = ["fused_scan_available", "resolve_scan_backend"]

# The choice is logged under the scan module's name, as before it moved here
# (docs/install.rst and the user guide name that logger).
logger = logging.getLogger("maat_detector.ssm.scan")

_BACKENDS = ("auto", "torch", "cuda", "compiled")


def fused_scan_available():
    """Whether ``mamba_ssm``'s fused selective-scan kernel can be used.

    Imports ``mamba_ssm`` on the first call (never at module import) and
    caches the answer. True does not mean a GPU is present; see
    :func:`resolve_scan_backend`.

    Returns
    -------
    available : bool
    """
    return load_fused_scan() is not None


def resolve_scan_backend(backend, device, *, param_name="scan_backend"):
    """Resolve a ``scan_backend`` name to the backend actually used.

    Meant to be called once (e.g. at fit time) and the result stored, so a
    missing kernel is reported before training starts.

    Parameters
    ----------
    backend : {"auto", "torch", "cuda", "compiled"}
        ``"auto"`` picks the fused ``mamba_ssm`` kernel when it imports and
        ``device`` is a CUDA device, the compiled CPU kernel when it was
        built and ``device`` is the CPU, else the pure-PyTorch scan.
        ``"torch"`` always uses the pure-PyTorch scan. ``"cuda"`` requires
        the fused kernel and a CUDA device. ``"compiled"`` requires the
        compiled CPU kernel (``_cpu_kernel.cpp``, built when the package is
        installed with a C++ compiler available) and a CPU device.
    device : str or torch.device
        Device the tensors will live on.
    param_name : str, default="scan_backend"
        Name of the caller's parameter, used in error messages.

    Returns
    -------
    resolved : {"cuda", "torch", "compiled"}

    Raises
    ------
    ValueError
        If ``backend`` is not one of the names, ``backend="cuda"`` with a
        non-CUDA ``device``, or ``backend="compiled"`` with a non-CPU one.
    ImportError
        If ``backend="cuda"`` and ``mamba_ssm`` cannot be imported, or
        ``backend="compiled"`` and the kernel was not built; the message
        says what to install.
    """
    if backend not in _BACKENDS:
        raise ValueError(
            f"{param_name}={backend!r} is not supported; use one of "
            f"{', '.join(repr(b) for b in _BACKENDS)}."
        )
    device_type = torch.device(device).type
    if backend == "torch":
        return "torch"
    if backend == "compiled":
        if device_type != "cpu":
            raise ValueError(
                f"{param_name}='compiled' is the CPU kernel, got "
                f"device={str(device)!r}; pass device='cpu', or "
                f"{param_name}='auto' on a GPU."
            )
        if load_cpu_kernel() is None:
            raise ImportError(
                f"{param_name}='compiled' needs the compiled CPU scan, which "
                f"could not be loaded ({cpu_kernel_error()}); {BUILD_HINT}. Or "
                f"pass {param_name}='auto' or 'torch'."
            )
        return "compiled"
    if backend == "cuda":
        if not fused_scan_available():
            raise ImportError(
                f"{param_name}='cuda' needs the fused kernel from mamba-ssm, which "
                f"could not be imported ({fused_scan_import_error()}). Install it "
                f"with: {INSTALL_HINT}; or pass {param_name}='auto' or 'torch'."
            )
        if device_type != "cuda":
            raise ValueError(
                f"{param_name}='cuda' runs only on a CUDA device, got "
                f"device={str(device)!r}; pass a CUDA device or "
                f"{param_name}='auto' or 'torch'."
            )
        return "cuda"
    if device_type == "cuda":
        if fused_scan_available():
            return "cuda"
        logger.info(
            "mamba-ssm fused scan unavailable (%s); using the pure-PyTorch scan. "
            "For the fused kernel: %s",
            fused_scan_import_error(),
            INSTALL_HINT,
        )
    elif device_type == "cpu":
        if load_cpu_kernel() is not None:
            return "compiled"
        logger.info(
            "compiled CPU scan unavailable (%s); using the pure-PyTorch scan, "
            "about 1.2-1.3x slower (the kernel: %s).",
            cpu_kernel_error(),
            BUILD_HINT,
        )
    return "torch"
