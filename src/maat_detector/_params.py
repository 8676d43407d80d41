"""From the estimator's flat parameters to checked inputs and typed settings.

This is the one module that reads an estimator's parameters (``est.x``) and
the one that touches scikit-learn internals: the parameter constraints, the
rules that tie two parameters together, the input checks, device
resolution, and :func:`fit_settings` / :func:`score_settings`, which turn the
parameters into the settings objects the engine (:mod:`maat_detector.engine`)
runs on. The engine never sees the estimator.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from .engine import (
    SCORE_MODES,
    FitSettings,
    ScoreSettings,
    ThresholdSettings,
    TrainSettings,
)
from .engine.network import resolve_device
from .engine.preprocess import row_blocks
from .nn import MAATConfig
from .nn.config import ATTENTION_MODES, OBJECTIVES
from .ssm import resolve_scan_backend

__all__ = [
    "NETWORK_PARAMETERS",
    "PARAMETERS_ADDED_LATER",
    "PARAMETER_CONSTRAINTS",
    "check_cross_parameters",
    "check_finite",
    "check_input",
    "check_fitted_parameters",
    "check_min_rows",
    "check_precision",
    "fit_context",
    "fit_settings",
    "network_changes",
    "resolve_device",
    "score_settings",
    "threshold_settings",
    "with_parameters_added_later",
]

#: scikit-learn's decorator for ``fit``-like methods: it validates the
#: parameters against ``_parameter_constraints`` first, then skips nested
#: validation inside. Re-exported so this stays the one module that touches
#: scikit-learn internals.
fit_context = _fit_context(prefer_skip_nested_validation=True)

#: Parameters added after detectors were first saved, with the value that
#: reproduces what a detector saved (or pickled) before them computed: older
#: files scored with the mean over all channels, held reconstruction
#: networks, did not smooth their scores, kept their best epoch and trained
#: with one batch size on every series.
PARAMETERS_ADDED_LATER = {
    "top_channels": None,
    "objective": "reconstruction",
    "score_smoothing": 1,
    "restore_best": True,
    "max_batch_size": None,
}


def with_parameters_added_later(params):
    """``params`` with each parameter it lacks set to its added-later value.

    Saved files, pickles and benchmark records made before a parameter
    existed ran with the value :data:`PARAMETERS_ADDED_LATER` gives it, so
    they are read as having it. Returns a new dict; ``params`` is unchanged.
    """
    return {**PARAMETERS_ADDED_LATER, **params}


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
    "score_mode": [StrOptions(set(SCORE_MODES))],
    "train_step": [Interval(Integral, 1, None, closed="left")],
    "max_train_windows": [Interval(Integral, 1, None, closed="left"), None],
    "max_batch_size": [Interval(Integral, 1, None, closed="left"), None],
    "score_step": [Interval(Integral, 1, None, closed="left"), None],
    "score_combine": [StrOptions({"mean", "end"})],
    "score_smoothing": [
        StrOptions({"auto"}),
        Interval(Integral, 1, None, closed="left"),
    ],
    "top_channels": [Interval(Integral, 1, None, closed="left"), None],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
    "restore_best": ["boolean"],
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
    if est.score_step is not None and est.score_step > est.win_size:
        raise ValueError(
            f"score_step={est.score_step} is larger than win_size={est.win_size}, "
            "so some rows would fall between windows; choose score_step <= "
            "win_size, or None for the default."
        )


#: Parameters that shape the fitted network: scoring with other values would
#: need another network, so changing one after ``fit`` needs a refit.
NETWORK_PARAMETERS = (
    "win_size",
    "d_model",
    "n_heads",
    "e_layers",
    "d_ff",
    "attention",
    "block_size",
    "objective",
    "use_mamba",
    "share_mamba",
    "d_state",
    "d_conv",
    "expand",
)


def check_fitted_parameters(est) -> None:
    """The parameters are valid and still describe ``est``'s fitted network.

    Parameters used only by ``fit`` (``lr``, ``epochs`` ...) act at the next
    fit; the scoring parameters act at once. Those that shape the network
    (:data:`NETWORK_PARAMETERS`) cannot change without a refit.
    """
    est._validate_params()
    check_cross_parameters(est)
    changed = network_changes(est.get_params(deep=False), est.config_)
    if changed:
        raise ValueError(
            f"parameters changed after fit ({', '.join(changed)}) define the "
            "fitted network: call fit again, or set them back to the fitted "
            "values."
        )


def network_changes(params, config):
    """``"name: fitted -> now"`` for each network parameter that differs.

    Parameters
    ----------
    params : dict
        Estimator parameters.
    config : MAATConfig
        The fitted network's configuration.
    """
    changed = []
    for name in NETWORK_PARAMETERS:
        if name not in params:  # files from before the parameter existed
            continue
        value = params[name]
        if name == "block_size":  # the network holds it clipped to the window
            value = min(value, params["win_size"])
        if value != getattr(config, name):
            changed.append(f"{name}: {getattr(config, name)!r} -> {value!r}")
    return changed


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
    # Checked by row blocks first: a mask of the whole of X is a byte per
    # value (360 MiB for 10 M x 38 rows), and clean input is the usual case.
    if all(np.isfinite(X[b:e]).all() for b, e in row_blocks(0, len(X))):
        return X
    finite = np.isfinite(X)
    n_inf = int(np.isinf(X).sum())
    if n_inf:
        row, col = np.argwhere(np.isinf(X))[0]
        raise ValueError(
            f"X has {n_inf} infinite value(s) (first at row {row}, column {col}); "
            "replace them with finite values."
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
    if device.type == "cpu" and not cpu_has_native_bfloat16():
        warnings.warn(
            f"precision={precision!r} on a CPU without bfloat16 instructions "
            f"(torch reports {torch.backends.cpu.get_cpu_capability()}, no "
            "AVX512-BF16 or AMX): bfloat16 matrix products are emulated there "
            "and run many times slower than float32; use precision='float32'.",
            UserWarning,
            stacklevel=5,
        )


def cpu_has_native_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 matrix products natively on this CPU."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without the probe: assume so
        return True


def check_input(est, X, reset):
    """``X`` as a finite float32 or float64 array with the fit data's channels.

    ``reset=True`` (in ``fit``) records ``n_features_in_`` and
    ``feature_names_in_`` on ``est``; otherwise X is checked against them.
    float32 and float64 input are used as they are, never modified (other
    dtypes become float64); the scaling rounds them to float32 for the
    network.
    """
    if X is None:
        raise TypeError(
            "X is None; pass an array of shape (n_samples, n_features), one row "
            "per time step (an empty (0, n_features) array for no rows)."
        )
    try:
        X = validate_data(
            est,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=0,  # check_min_rows says how many are needed
        )
    except ValueError as exc:
        message = str(exc)
        if "could not convert" in message:
            raise ValueError(
                f"X must be numeric ({exc}); convert or drop the non-numeric "
                "columns first, e.g. df.select_dtypes('number') for a DataFrame."
            ) from exc
        # scikit-learn's message names the problem; add what to do.
        if "0 feature(s)" in message:
            raise ValueError(
                f"{message.rstrip('.')}: X has no columns; pass at least one "
                "channel, one column per channel."
            ) from exc
        if "features, but" in message:
            raise ValueError(
                f"{message.rstrip('.')}; pass the same columns in the same order "
                "as at fit, or fit again on the new columns."
            ) from exc
        raise
    return check_finite(X, est.nan_policy)


def fit_settings(est, n_features):
    """The settings of one fit of ``est`` on data with ``n_features`` channels.

    Resolves the device and the scan backend, and draws the seed, once.
    """
    device = resolve_device(est.device)
    check_precision(est.precision, device)
    config = MAATConfig(
        n_features=n_features,
        win_size=est.win_size,
        d_model=est.d_model,
        n_heads=est.n_heads,
        e_layers=est.e_layers,
        d_ff=est.d_ff,
        dropout=float(est.dropout),
        attention=est.attention,
        block_size=min(est.block_size, est.win_size),
        objective=est.objective,
        use_mamba=est.use_mamba,
        share_mamba=est.share_mamba,
        d_state=est.d_state,
        d_conv=est.d_conv,
        expand=est.expand,
        scan_backend=resolve_scan_backend(est.scan_backend, device),
    )
    train = TrainSettings(
        win_size=est.win_size,
        epochs=est.epochs,
        batch_size=est.batch_size,
        lr=est.lr,
        k=est.k,
        train_step=est.train_step,
        max_train_windows=est.max_train_windows,
        max_batch_size=est.max_batch_size,
        n_iter_no_change=est.n_iter_no_change,
        restore_best=est.restore_best,
        precision=est.precision,
        verbose=est.verbose,
    )
    return FitSettings(
        config=config,
        train=train,
        score=score_settings(est, n_features),
        threshold=threshold_settings(est),
        scaling=est.scaling,
        validation_fraction=est.validation_fraction,
        device=device,
        seed=_seed_from(est.random_state),
    )


def score_settings(est, n_features):
    """How ``est`` turns windows into one score per row of ``n_features`` channels."""
    warmup = _warmup(est.objective, est.win_size)
    return ScoreSettings(
        win_size=est.win_size,
        warmup=warmup,
        step=est.score_step or est.win_size - warmup,
        combine=est.score_combine,
        smoothing=_smoothing_width(est.score_smoothing, est.win_size, n_features),
        top_k=n_features if est.top_channels is None else est.top_channels,
        mode=est.score_mode,
        temperature=est.temperature,
        batch_size=_scoring_batch_size(est.batch_size, est.win_size),
        precision=est.precision,
        verbose=est.verbose,
    )


def threshold_settings(est):
    """How ``est`` sets its threshold from calibration scores."""
    return ThresholdSettings(
        method=est.threshold_method,
        contamination=est.contamination,
        spot_risk=est.spot_risk,
    )


#: Rows a scoring batch spans at least. Scoring keeps no activations for a
#: backward pass, and batches of small windows are bound by per-call overhead:
#: at window 100 (shipped SMD machine, 12,000 rows, 2 threads) batch 32 scored
#: in 0.74x the time of batch 8 at d_model 128 and 0.86x at the paper's size
#: (benchmarks/speed/score_batch.py).
_SCORING_BATCH_ROWS = 3200


def _scoring_batch_size(batch_size, win_size):
    """Windows per scoring batch: the training batch, or more when windows are short.

    The scores do not depend on it (up to float rounding); only time and
    memory do.
    """
    return max(batch_size, math.ceil(_SCORING_BATCH_ROWS / win_size))


def _warmup(objective, win_size):
    """Leading steps of a scoring window a forecaster's row means skip.

    A forecast at the start of a window has almost no past to go on, so its
    error says little about the row (docs, "Detection quality").
    """
    if objective != "forecast":
        return 0
    return min(math.ceil(win_size / 10), win_size - 1)


def _smoothing_width(score_smoothing, win_size, n_features):
    """Rows per centred mean of the final scores (1: none)."""
    if score_smoothing != "auto":
        return score_smoothing
    if n_features > 1:
        return 1
    # A third of the window, centred: the narrowest width of the plateau
    # measured on the univariate tuning series (33 to 67 rows, within 0.005
    # VUS-PR of each other).
    return 2 * (win_size // 6) + 1


def _seed_from(random_state):
    """An int seed from ``random_state`` without touching numpy's global RNG."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    return int(random_state)
