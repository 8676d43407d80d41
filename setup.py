"""Builds the compiled CPU scan kernel; everything else is in pyproject.toml.

``src/maat_detector/ssm/_cpu_kernel.cpp`` is a plain shared library with a C
interface (loaded with ctypes, so it needs neither torch nor Python headers).
It is compiled once per instruction-set level, each into its own library;
at run time ``maat_detector.ssm._cpu`` loads the best one the CPU supports.
A build without ``-march=native`` runs the scan up to 6x slower (the
polynomial exp does not vectorise on baseline x86-64), and a ``-march=native``
build can crash a different CPU that loads it from a shared cache, hence the
variants.

The extensions are optional: without a C++ compiler the install still
succeeds and the detector uses the pure-PyTorch scan (about 1.2-1.3x slower to
fit at paper size; ``benchmarks/speed/speed.py``).
"""

import os
import platform

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE = "src/maat_detector/ssm/_cpu_kernel.cpp"
PACKAGE = "maat_detector.ssm"

# Level (as maat_cpu_level returns it), name, GCC/Clang flags, MSVC flags
# (None: this compiler has no such level, skip it).
_AVX2 = ["-mavx2", "-mfma", "-mf16c", "-mpopcnt", "-msse4.2"]
_AVX512 = _AVX2 + ["-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq", "-mavx512cd"]
X86_VARIANTS = [
    ("baseline", [], []),
    ("sse4", ["-msse4.2", "-mpopcnt"], None),
    ("avx2", _AVX2, ["/arch:AVX2"]),
    ("avx512", _AVX512, ["/arch:AVX512"]),
]
IS_X86 = platform.machine().lower() in {"x86_64", "amd64", "i386", "i686", "x86"}
VARIANTS = X86_VARIANTS if IS_X86 else X86_VARIANTS[:1]

# -ffast-math lets the compiler vectorise the sums over a block; the kernel
# never sees NaN or infinity (the detector checks its input, and softplus
# output is finite). It is a compile flag only: linked into a shared library
# it would set flush-to-zero for the whole process.
GCC_FLAGS = ["-O3", "-g0", "-ffast-math", "-std=c++17", "-fvisibility=hidden"]
MSVC_FLAGS = ["/O2", "/fp:fast", "/std:c++17"]


class BuildKernel(build_ext):
    """build_ext for plain shared libraries built in several variants."""

    def build_extension(self, ext):
        variant = ext.name.rsplit("_", 1)[-1]
        _, gcc, msvc = next(v for v in VARIANTS if v[0] == variant)
        if self.compiler.compiler_type == "msvc":
            if msvc is None:
                return
            ext.extra_compile_args = MSVC_FLAGS + msvc
        else:
            ext.extra_compile_args = GCC_FLAGS + gcc
        # The variants share one source file: separate object directories,
        # or one variant's object would be linked into another.
        shared_temp = self.build_temp
        self.build_temp = os.path.join(shared_temp, ext.name)
        try:
            super().build_extension(ext)
        finally:
            self.build_temp = shared_temp

    def get_export_symbols(self, ext):
        # Not a Python module: no PyInit_ function to export.
        return ext.export_symbols


setup(
    ext_modules=[
        Extension(
            f"{PACKAGE}._scan_kernel_{name}",
            sources=[SOURCE],
            language="c++",
            optional=True,
        )
        for name, _, _ in VARIANTS
    ],
    cmdclass={"build_ext": BuildKernel},
)
