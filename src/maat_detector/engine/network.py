"""The network's forward pass, devices, and rebuilding a saved network."""

from __future__ import annotations

import dataclasses
import logging

import torch

from ..nn import MAAT
from ..ssm import fused_scan_available, resolve_scan_backend
from ..ssm._cpu import load_cpu_kernel

__all__ = ["available_device", "forward", "resolve_device", "restore_network"]

logger = logging.getLogger(__name__)


def forward(model, x, precision):
    """``model(x)``; with ``precision="bfloat16"`` under autocast on x's device.

    The association comes out in float32 either way (the attention computes
    it so); the reconstruction is cast back, so that errors, losses and
    scores are float32 arithmetic.
    """
    if precision == "float32":
        return model(x)
    with torch.autocast(x.device.type, dtype=torch.bfloat16):
        reconstruction, associations = model(x)
    return reconstruction.float(), associations


def resolve_device(device):
    """Turn ``device`` ("auto", "cpu", "cuda", "cuda:1", "mps") into a torch.device."""
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


def available_device(saved, device=None):
    """The device to restore a network on.

    Parameters
    ----------
    saved : str or torch.device
        The device the network was fitted on.
    device : str or None, default=None
        A device asked for; None keeps ``saved`` when this machine has it,
        else the CPU (logged at INFO).
    """
    if device is not None:
        return resolve_device(str(device))
    saved = torch.device(saved)
    if saved.type == "cuda" and torch.cuda.is_available():
        if saved.index is None or saved.index < torch.cuda.device_count():
            return saved
    elif saved.type == "mps" and torch.backends.mps.is_available():
        return saved
    elif saved.type == "cpu":
        return saved
    logger.info("saved on %s, which is not available here; loading on the CPU", saved)
    return torch.device("cpu")


def restore_network(config, state_dict, device, name=None, requested=None):
    """Rebuild a fitted network on ``device``; shared by ``load`` and unpickling.

    With ``requested="auto"`` the scan backend is chosen again for this
    machine (a detector fitted where the compiled CPU scan was absent uses
    it where it is present). Otherwise a fused CUDA or compiled CPU scan is
    swapped for the pure-PyTorch one where it cannot run, so a detector
    fitted on a GPU scores on a CPU-only machine.

    Parameters
    ----------
    config : MAATConfig
    state_dict : dict of str to Tensor
    device : torch.device
        From :func:`available_device`.
    name : str, optional
        The file, for error messages on mismatched shapes.
    requested : str, optional
        The detector's ``scan_backend`` parameter.

    Returns
    -------
    model : MAAT
        On ``device``, in eval mode.
    config : MAATConfig
        ``config``, with the scan backend actually used.
    """
    if requested == "auto":
        config = dataclasses.replace(
            config, scan_backend=resolve_scan_backend("auto", device)
        )
    if config.scan_backend == "cuda" and (
        device.type != "cuda" or not fused_scan_available()
    ):
        logger.info(
            "fitted with the fused CUDA scan; using the pure-PyTorch scan on %s", device
        )
        config = dataclasses.replace(config, scan_backend="torch")
    if config.scan_backend == "compiled" and (
        device.type != "cpu" or load_cpu_kernel() is None
    ):
        logger.info(
            "fitted with the compiled CPU scan; using the pure-PyTorch scan on %s",
            device,
        )
        config = dataclasses.replace(config, scan_backend="torch")
    model = MAAT(config)
    if name is not None:
        _check_state_dict(model, state_dict, name)
    model.load_state_dict(state_dict, strict=True)
    return model.to(device).eval(), config


def _check_state_dict(model, state_dict, name):
    """Raise ValueError naming each weight whose name or shape does not fit."""
    expected = model.state_dict()
    problems = []
    for key, tensor in state_dict.items():
        if key not in expected:
            problems.append(f"unexpected weight {key!r}")
        elif tuple(tensor.shape) != tuple(expected[key].shape):
            problems.append(
                f"weight {key!r} has shape {tuple(tensor.shape)} in the file but "
                f"{tuple(expected[key].shape)} in the network its configuration "
                "builds"
            )
    problems += [f"missing weight {key!r}" for key in expected if key not in state_dict]
    if problems:
        shown = "; ".join(problems[:5])
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise ValueError(
            f"{name} does not match the network built from its own "
            f"configuration: {shown}{more}. The file was edited or written by an "
            "incompatible version; save the detector again."
        )
