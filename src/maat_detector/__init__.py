"""MAAT: Mamba Adaptive Anomaly Transformer, as a scikit-learn outlier detector.

``import maat_detector`` is cheap: the estimator (and with it torch) is imported
on first use of :class:`MAATDetector`.
"""

import os as _os
import sys as _sys

from ._version import __version__

#: True when torch was imported before this package and nothing chose
#: OpenMP's wait policy: its threads then spin while waiting (fit logs how
#: to avoid that once, when it runs on more than one thread).
_OPENMP_SPINS = "torch" in _sys.modules and not (
    {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(_os.environ)
)
if "torch" not in _sys.modules:
    # OpenMP threads that spin while waiting make torch's many small CPU ops
    # 5-100x slower whenever another process shares the cores (measured in
    # benchmarks/speed/speed.py). The policy is read once, when torch loads, so it
    # can only be defaulted here; a value the user set is kept.
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["MAATDetector", "__version__"]


def __getattr__(name):
    # Lazy import keeps `import maat_detector` (and the numpy-only metrics) fast.
    if name == "MAATDetector":
        from .estimator import MAATDetector

        return MAATDetector
    raise AttributeError(f"module 'maat_detector' has no attribute {name!r}")
