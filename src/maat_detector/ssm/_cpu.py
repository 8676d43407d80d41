"""Optional compiled CPU kernel for the selective scan (``scan_backend="cpu"``).

``_cpu_kernel.cpp`` fuses each scan step into one loop over a small state
held in cache, where the pure-PyTorch scan makes several passes over memory
per step. It is built with :func:`torch.utils.cpp_extension.load` on first
use, which needs a C++ compiler (``g++`` or ``clang++``) and ``ninja``; the
build (about a minute) is cached in torch's extension directory
(``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``), so later
processes load it in a second. It is built for the vector units of the
machine that builds it (``-march=native``), under a name that includes a
digest of the CPU's model and feature flags, so that machines sharing one
extension directory (a home directory on a cluster) each build their own
instead of loading one built for another CPU; ``MAAT_CPU_KERNEL_PORTABLE``
builds without ``-march=native`` instead. Like the fused CUDA
import, a failure is remembered rather than raised, and reported by
:func:`cpu_kernel_error`.
"""

import hashlib
import logging
import os
import platform
from pathlib import Path

logger = logging.getLogger(__name__)

BUILD_HINT = (
    "it is compiled on first use and needs a C++ compiler (g++ or clang++) and "
    "ninja (pip install ninja)"
)

_SOURCE = Path(__file__).with_name("_cpu_kernel.cpp")
# -ffast-math lets the compiler vectorise the sums over a block (and the
# float64 exp); the kernel never sees NaN or infinity (the detector checks its
# input, and softplus output is finite).
_CFLAGS = ["-O3", "-ffast-math", "-fopenmp"]

_UNSET = object()
_module = _UNSET
_error = None


def _cpu_digest():
    """Short digest of this CPU's model and instruction-set flags."""
    description = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith(("model name", "flags", "Features")):
                    description += line
                if line.strip() == "":  # the first processor is enough
                    break
    except OSError:  # not Linux: the platform strings above have to do
        pass
    return hashlib.sha256(description.encode()).hexdigest()[:12]


def load_cpu_kernel():
    """Build (once per machine) and import the compiled CPU scan, or None.

    Returns
    -------
    module or None
        With ``scan_forward`` and ``scan_backward``; None when the build or
        the import failed. The result is cached for the process.
    """
    global _module, _error
    if _module is _UNSET:
        try:
            from torch.utils.cpp_extension import load

            flags = list(_CFLAGS)
            name = "maat_selective_scan_cpu"
            if os.environ.get("MAAT_CPU_KERNEL_PORTABLE") is None:
                # Built on the machine that runs it: use its vector units.
                flags.append("-march=native")
                name += "_" + _cpu_digest()
            _module = load(
                name=name,
                sources=[str(_SOURCE)],
                extra_cflags=flags,
                extra_ldflags=["-fopenmp"],
                verbose=logger.isEnabledFor(logging.DEBUG),
            )
        except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
            # Compilers fail with RuntimeError, missing ninja with
            # RuntimeError or OSError, a stale build with ImportError.
            _module = None
            _error = f"{type(exc).__name__}: {exc}"
            logger.debug("compiled CPU scan unavailable: %s", _error)
    return _module


def cpu_kernel_error():
    """Why the compiled CPU scan could not be built or loaded, or None.

    Returns
    -------
    reason : str or None
    """
    load_cpu_kernel()
    return _error
