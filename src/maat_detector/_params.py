"""Parameter constraints and input checks: the one place touching sklearn internals."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .nn.config import ATTENTION_MODES, OBJECTIVES

__all__ = [
    "PARAMETER_CONSTRAINTS",
    "check_finite",
    "check_cross_parameters",
    "check_min_rows",
    "check_precision",
    "resolve_device",
]

#: Parameters added after detectors were first saved, with the value that
#: reproduces what a detector saved (or pickled) before them computed: older
#: files scored with the mean over all channels, held reconstruction
#: networks and did not smooth their scores.
PARAMETERS_ADDED_LATER = {
    "top_channels": None,
    "objective": "reconstruction",
    "score_smoothing": 1,
}

PARAMETER_CONSTRAINTS = {
    "win_size": [Interval(Integral, 2, None, closed="left")],
    "d_model": [Interval(Integral, 2, None, closed="left")],
    "n_heads": [Interval(Integral, 1, None, closed="left")],
    "e_layers": [Interval(Integral, 1, None, closed="left")],
    "d_ff": [Interval(Integral, 1, None, closed="left")],
    "epochs": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "k": [Interval(Real, 0, None, closed="left")],
    "contamination": [Interval(Real, 0, 0.5, closed="right")],
    "threshold_method": [StrOptions({"contamination", "spot"})],
    "spot_risk": [Interval(Real, 0, 1, closed="neither")],
    "attention": [StrOptions(set(ATTENTION_MODES))],
    "block_size": [Interval(Integral, 1, None, closed="left")],
    "objective": [StrOptions(set(OBJECTIVES))],
    "use_mamba": ["boolean"],
    "share_mamba": ["boolean"],
    "d_state": [Interval(Integral, 1, None, closed="left")],
    "d_conv": [Interval(Integral, 1, None, closed="left")],
    "expand": [Interval(Integral, 1, None, closed="left")],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "temperature": [Interval(Real, 0, None, closed="neither")],
    "score_mode": [
        StrOptions({"paper", "reconstruction", "discrepancy", "calibrated"})
    ],
    "train_step": [Interval(Integral, 1, None, closed="left")],
    "max_train_windows": [Interval(Integral, 1, None, closed="left"), None],
    "score_step": [Interval(Integral, 1, None, closed="left"), None],
    "score_combine": [StrOptions({"mean", "end"})],
    "score_smoothing": [
        StrOptions({"auto"}),
        Interval(Integral, 1, None, closed="left"),
    ],
    "top_channels": [Interval(Integral, 1, None, closed="left"), None],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
    "scaling": [StrOptions({"standard", "robust"}), None],
    "nan_policy": [StrOptions({"raise", "interpolate"})],
    "scan_backend": [StrOptions({"auto", "torch", "cuda", "compiled"})],
    "precision": [StrOptions({"float32", "bfloat16"})],
    "device": [str],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def check_cross_parameters(est) -> None:
    """Rules that tie two parameters together; both values in the message."""
    if est.d_model % est.n_heads:
        raise ValueError(
            f"d_model={est.d_model} is not divisible by n_heads={est.n_heads}; "
            "choose d_model as a multiple of n_heads."
        )
    if est.d_model % 2:
        raise ValueError(
            f"d_model={est.d_model} must be even (sinusoidal positional embedding)."
        )
    if est.attention == "block" and est.block_size > est.win_size:
        raise ValueError(
            f"block_size={est.block_size} is longer than win_size={est.win_size}; "
            "choose block_size <= win_size."
        )


def check_min_rows(n_samples: int, win_size: int, what: str = "X") -> None:
    """Raise if a series is shorter than one window."""
    if n_samples < win_size:
        raise ValueError(
            f"{what} has {n_samples} rows (n_samples = {n_samples}) but "
            f"win_size={win_size}; pass at least win_size rows or a smaller win_size."
        )


def check_finite(X: np.ndarray, nan_policy: str = "raise") -> np.ndarray:
    """Reject NaN and inf with their count and first position, or interpolate NaN.

    ``nan_policy="interpolate"`` fills NaN linearly along time per channel
    (constant at the ends); inf always raises, since no value is implied.
    """
    finite = np.isfinite(X)
    if finite.all():
        return X
    n_inf = int(np.isinf(X).sum())
    if n_inf:
        row, col = np.argwhere(np.isinf(X))[0]
        raise ValueError(
            f"X has {n_inf} infinite value(s) (first at row {row}, column {col}); "
            "replace them with finite values. Values beyond the float32 range "
            "(about 3.4e38) also become infinite: rescale such data."
        )
    nan = ~finite
    if nan_policy == "interpolate":
        return _interpolate_nan(X, nan)
    row, col = np.argwhere(nan)[0]
    raise ValueError(
        f"X has {int(nan.sum())} NaN value(s) (first at row {row}, column {col}); "
        "impute them or pass nan_policy='interpolate'."
    )


def _interpolate_nan(X: np.ndarray, nan: np.ndarray) -> np.ndarray:
    X = X.copy()
    steps = np.arange(X.shape[0])
    for col in np.flatnonzero(nan.any(axis=0)):
        missing = nan[:, col]
        if missing.all():
            raise ValueError(
                f"column {col} of X is entirely NaN; drop it or fill it before "
                "calling the detector."
            )
        X[missing, col] = np.interp(steps[missing], steps[~missing], X[~missing, col])
    return X


def resolve_device(device: str):
    """Turn ``device`` ("auto", "cpu", "cuda", "cuda:1", "mps") into a torch.device."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda' "
            "or 'cuda:<index>'."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available to torch "
            f"({torch.__version__}); use device='cpu' or 'auto'."
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} but MPS is not available; use 'cpu'.")
    return resolved


def check_precision(precision: str, device) -> None:
    """Raise if ``precision="bfloat16"`` cannot run on the resolved device."""
    if precision == "float32":
        return
    import torch

    if device.type not in ("cpu", "cuda"):
        raise ValueError(
            f"precision={precision!r} runs on the CPU or CUDA, not on "
            f"device={str(device)!r}; use precision='float32' or another device."
        )
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(
            f"precision={precision!r} but this GPU "
            f"({torch.cuda.get_device_name(device)}) has no bfloat16 support; "
            "use precision='float32'."
        )
