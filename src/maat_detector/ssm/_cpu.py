"""The compiled CPU kernel for the selective scan (``scan_backend="compiled"``).

``_cpu_kernel.cpp`` fuses each scan step into one loop over a small state
held in cache, where the pure-PyTorch scan makes several passes over memory
per step. It is a plain shared library with a C interface, compiled when the
package is installed (``setup.py``) once per x86 instruction-set level
(baseline, SSE4.2, AVX2 + FMA, AVX-512); this module asks the baseline
build which level the CPU supports and loads the best variant with
:mod:`ctypes`. Nothing is compiled at run time. ``MAAT_CPU_KERNEL`` names a
variant to load instead (for comparisons; one the CPU lacks is refused).

Where the install had no C++ compiler the libraries are absent:
:func:`load_cpu_kernel` returns None and :func:`cpu_kernel_error` says why,
and ``scan_backend="auto"`` falls back to the pure-PyTorch scan.
"""

import ctypes
import importlib.machinery
import logging
import os
from pathlib import Path

import torch

from ._threads import for_each_range, split_range

logger = logging.getLogger(__name__)

BUILD_HINT = (
    "it is compiled when maat-detector is installed, which needs a C++ compiler "
    "(g++, clang++ or MSVC); with one on the PATH, reinstall: pip install "
    "--force-reinstall --no-deps --no-cache-dir maat-detector (in a source "
    "checkout: pip install -e .)"
)

#: Variants in the order of the levels ``maat_cpu_level`` returns.
VARIANTS = ("baseline", "sse4", "avx2", "avx512")

_ABI_VERSION = 1
_DTYPES = {torch.float32: 0, torch.float64: 1}
_DIRECTORY = Path(__file__).parent
_UNSET = object()
_kernel = _UNSET
_error = None


class _Strided(ctypes.Structure):
    # A (B, Di, L) operand: data pointer and strides in elements.
    _fields_ = [
        ("p", ctypes.c_void_p),
        ("sb", ctypes.c_int64),
        ("sd", ctypes.c_int64),
        ("st", ctypes.c_int64),
    ]


class _ScanArgs(ctypes.Structure):
    # Mirrors MaatScanArgs in _cpu_kernel.cpp (field for field).
    _fields_ = [
        ("B", ctypes.c_int64),
        ("Di", ctypes.c_int64),
        ("L", ctypes.c_int64),
        ("N", ctypes.c_int64),
        ("dtype", ctypes.c_int32),
        ("softplus", ctypes.c_int32),
        ("u", _Strided),
        ("delta", _Strided),
        ("z", _Strided),
        ("a", ctypes.c_void_p),
        ("bm", ctypes.c_void_p),
        ("cm", ctypes.c_void_p),
        ("d", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("out", _Strided),
        ("h_last", ctypes.c_void_p),
        ("d_out", _Strided),
        ("d_last", ctypes.c_void_p),
        ("d_u", _Strided),
        ("d_delta", _Strided),
        ("d_z", _Strided),
        ("d_a_rows", ctypes.c_void_p),
        ("d_bm", ctypes.c_void_p),
        ("d_cm", ctypes.c_void_p),
        ("d_d_rows", ctypes.c_void_p),
        ("d_bias_rows", ctypes.c_void_p),
    ]


def _strided(tensor):
    if tensor is None:
        return _Strided(None, 0, 0, 0)
    return _Strided(tensor.data_ptr(), *tensor.stride())


def _pointer(tensor):
    return None if tensor is None else tensor.data_ptr()


def _channels_last_like(u):
    # A (B, Di, L) tensor stored as (B, L, Di): what the output projection reads.
    batch, d_inner, length = u.shape
    return u.new_empty(batch, length, d_inner).transpose(1, 2)


class CompiledScan:
    """One loaded variant of the compiled kernel.

    Both methods take the inputs of :func:`selective_scan` already cast to
    one compute dtype (float32 or float64): ``u``, ``delta`` and ``z`` with
    any strides, the rest contiguous. Work is split over
    ``torch.get_num_threads()`` threads; the results do not depend on the
    split.

    Parameters
    ----------
    library : ctypes.CDLL
    variant : str
        One of :data:`VARIANTS`.
    """

    def __init__(self, library, variant):
        self.variant = variant
        self._block = library.maat_block_size()
        self._forward = library.maat_scan_forward
        self._backward = library.maat_scan_backward
        for function in (self._forward, self._backward):
            function.argtypes = [
                ctypes.POINTER(_ScanArgs),
                ctypes.c_int64,
                ctypes.c_int64,
            ]
            function.restype = ctypes.c_int32

    def __repr__(self):
        return f"CompiledScan(variant={self.variant!r})"

    def scan_forward(self, u, delta, a, bm, cm, d, z, bias, softplus):
        """Forward: ``(out, h_last)``, ``out`` a (B, Di, L) view of (B, L, Di)."""
        args = self._inputs(u, delta, a, bm, cm, d, z, bias, softplus)
        out = _channels_last_like(u)
        h_last = u.new_empty(args.B, args.Di, args.N)
        args.out, args.h_last = _strided(out), h_last.data_ptr()
        blocks = -(-args.Di // self._block)
        self._run(self._forward, args, args.B * blocks)
        return out, h_last

    def scan_backward(self, d_out, d_last, u, delta, a, bm, cm, d, z, bias, softplus):
        """Gradients w.r.t. ``u, delta, a, bm, cm, d, z, bias`` (None if absent)."""
        args = self._inputs(u, delta, a, bm, cm, d, z, bias, softplus)
        batch, d_inner, d_state = args.B, args.Di, args.N
        if d_out is not None:
            self._check(d_out, (batch, d_inner, args.L), u.dtype, "d_out", False)
        if d_last is not None:
            self._check(d_last, (batch, d_inner, d_state), u.dtype, "d_last")
        d_u, d_delta = _channels_last_like(u), _channels_last_like(u)
        d_z = None if z is None else _channels_last_like(u)
        d_bm, d_cm = torch.zeros_like(bm), torch.zeros_like(cm)
        # Per batch row, summed in order here: the sums do not depend on how
        # the rows were split among threads.
        d_a_rows = u.new_zeros(batch, d_state, d_inner)
        d_d_rows = u.new_zeros(batch, d_inner)
        d_bias_rows = u.new_zeros(batch, d_inner)
        args.d_out, args.d_last = _strided(d_out), _pointer(d_last)
        args.d_u, args.d_delta, args.d_z = map(_strided, (d_u, d_delta, d_z))
        args.d_a_rows, args.d_bm, args.d_cm, args.d_d_rows, args.d_bias_rows = map(
            _pointer, (d_a_rows, d_bm, d_cm, d_d_rows, d_bias_rows)
        )
        self._run(self._backward, args, batch)
        return (
            d_u,
            d_delta,
            d_a_rows.sum(0).t().contiguous(),
            d_bm,
            d_cm,
            None if d is None else d_d_rows.sum(0),
            d_z,
            None if bias is None else d_bias_rows.sum(0),
        )

    def _inputs(self, u, delta, a, bm, cm, d, z, bias, softplus):
        # The kernel reads raw memory: a wrong shape or dtype here would be
        # a crash there, so check everything it relies on.
        batch, d_inner, length = u.shape
        d_state = a.shape[1]
        dtype = u.dtype
        if dtype not in _DTYPES or u.device.type != "cpu":
            raise TypeError(f"the compiled scan takes CPU float32/float64, got {u}")
        shapes = {
            "delta": (delta, (batch, d_inner, length), False),
            "z": (z, (batch, d_inner, length), False),
            "A": (a, (d_inner, d_state), True),
            "B": (bm, (batch, d_state, length), True),
            "C": (cm, (batch, d_state, length), True),
            "D": (d, (d_inner,), True),
            "delta_bias": (bias, (d_inner,), True),
        }
        for name, (tensor, shape, dense) in shapes.items():
            if tensor is not None:
                self._check(tensor, shape, dtype, name, dense)
        return _ScanArgs(
            B=batch,
            Di=d_inner,
            L=length,
            N=d_state,
            dtype=_DTYPES[dtype],
            softplus=int(bool(softplus)),
            u=_strided(u),
            delta=_strided(delta),
            z=_strided(z),
            a=a.data_ptr(),
            bm=bm.data_ptr(),
            cm=cm.data_ptr(),
            d=_pointer(d),
            bias=_pointer(bias),
        )

    @staticmethod
    def _check(tensor, shape, dtype, name, dense=True):
        if (
            tuple(tensor.shape) != shape
            or tensor.dtype != dtype
            or tensor.device.type != "cpu"
            or (dense and not tensor.is_contiguous())
        ):
            raise ValueError(
                f"compiled scan: {name} must be a CPU {dtype} tensor of shape "
                f"{shape}{' (contiguous)' if dense else ''}, got {tensor.dtype} "
                f"{tuple(tensor.shape)} on {tensor.device}."
            )

    @staticmethod
    def _run(function, args, count):
        def work(begin, end):
            status = function(ctypes.byref(args), begin, end)
            if status == 2:
                raise MemoryError("the compiled scan ran out of memory")
            if status != 0:
                raise RuntimeError(f"the compiled scan failed (status {status})")

        ranges = split_range(count, torch.get_num_threads())
        for_each_range(ranges, work, torch.device("cpu"))


def _library_path(variant):
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = _DIRECTORY / f"_scan_kernel_{variant}{suffix}"
        if path.is_file():
            return path
    return None


def _open(variant):
    path = _library_path(variant)
    if path is None:
        raise FileNotFoundError(
            f"no {variant} build of the kernel in {_DIRECTORY} (was maat-detector "
            "installed without a C++ compiler?)"
        )
    library = ctypes.CDLL(str(path))
    library.maat_abi_version.restype = ctypes.c_int32
    library.maat_cpu_level.restype = ctypes.c_int32
    library.maat_block_size.restype = ctypes.c_int64
    if library.maat_abi_version() != _ABI_VERSION:
        raise ImportError(f"{path.name} is from another version of maat-detector")
    return library


def _cpu_level():
    # Asked of the baseline build: the only one every CPU can load.
    return _open("baseline").maat_cpu_level()


def supported_variants():
    """The kernel variants built for this install that this CPU can run.

    Returns
    -------
    variants : list of str
        From :data:`VARIANTS`, lowest level first; empty when the kernel was
        not built.
    """
    try:
        level = _cpu_level()
    except (OSError, ImportError):
        return []
    return [v for v in VARIANTS[: level + 1] if _library_path(v) is not None]


def load_variant(variant):
    """Load one variant of the kernel, whatever the CPU's best.

    Parameters
    ----------
    variant : str
        One of :func:`supported_variants`.

    Returns
    -------
    CompiledScan

    Raises
    ------
    ValueError
        If ``variant`` is unknown or needs instructions this CPU lacks
        (loading it could crash the process).
    OSError, ImportError
        If that variant was not built or is from another version.
    """
    if variant not in VARIANTS:
        raise ValueError(
            f"unknown kernel variant {variant!r}; use one of {', '.join(VARIANTS)}."
        )
    level = _cpu_level()
    if VARIANTS.index(variant) > level:
        raise ValueError(
            f"this CPU cannot run the {variant} kernel (best: {VARIANTS[level]})."
        )
    return CompiledScan(_open(variant), variant)


def load_cpu_kernel():
    """Load the best compiled CPU scan for this CPU, or None.

    Returns
    -------
    CompiledScan or None
        None when the kernel was not built (or ``MAAT_CPU_KERNEL`` names a
        variant that cannot be loaded); :func:`cpu_kernel_error` says why.
        The result is cached for the process.
    """
    global _kernel, _error
    if _kernel is _UNSET:
        requested = os.environ.get("MAAT_CPU_KERNEL")
        try:
            if requested:
                _kernel = load_variant(requested)
            else:
                variants = supported_variants()
                _kernel = load_variant(variants[-1] if variants else "baseline")
            logger.debug("compiled CPU scan: %s variant", _kernel.variant)
        except (OSError, ImportError, ValueError) as exc:
            _kernel = None
            prefix = f"MAAT_CPU_KERNEL={requested}: " if requested else ""
            _error = f"{prefix}{type(exc).__name__}: {exc}"
            logger.debug("compiled CPU scan unavailable: %s", _error)
    return _kernel


def cpu_kernel_error():
    """Why the compiled CPU scan could not be loaded, or None.

    Returns
    -------
    reason : str or None
    """
    load_cpu_kernel()
    return _error
