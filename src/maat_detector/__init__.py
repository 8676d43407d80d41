"""MAAT: Mamba Adaptive Anomaly Transformer, as a scikit-learn outlier detector.

``import maat_detector`` is cheap: the estimator (and with it torch) is imported
on first use of :class:`MAATDetector`.
"""

from ._version import __version__

__all__ = ["MAATDetector", "__version__"]


def __getattr__(name):
    # Lazy import keeps `import maat_detector` (and the numpy-only metrics) fast.
    if name == "MAATDetector":
        from ._detector import MAATDetector

        return MAATDetector
    raise AttributeError(f"module 'maat_detector' has no attribute {name!r}")
