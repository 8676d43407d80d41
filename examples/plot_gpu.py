"""
Running on a GPU
================

The same code runs on a CPU or a CUDA GPU: ``device="auto"`` (the default)
picks CUDA when PyTorch sees one. This example asks for ``"cuda"`` only when
:func:`torch.cuda.is_available` says so, and runs on the CPU otherwise (as
when these pages are built). With mamba-ssm installed (``pip install
"maat-detector[cuda]"``), ``scan_backend="auto"`` also uses its fused
selective-scan kernel on the GPU.
"""

# %%
# Choose the device
# -----------------
import time

import numpy as np
import torch

from maat_detector import MAATDetector
from maat_detector.ssm import fused_scan_available

device = "cuda" if torch.cuda.is_available() else "cpu"
print(f"torch {torch.__version__}, device {device!r}, "
      f"mamba-ssm fused scan importable: {fused_scan_available()}")

# %%
# Fit and score
# -------------
# On a GPU, larger models and ``train_step=1`` (every window, as the paper)
# become affordable; the sizes here keep the CPU build fast.
t = np.arange(2000)
X = np.c_[np.sin(2 * np.pi * t / 40), np.cos(2 * np.pi * t / 90), np.sin(t / 7)]
X += 0.05 * np.random.default_rng(4).standard_normal(X.shape)

det = MAATDetector(
    win_size=50, d_model=32, n_heads=2, e_layers=1, d_ff=32, epochs=1,
    train_step=5, lr=1e-3, batch_size=128, device=device, scan_backend="auto",
    random_state=0,
)
began = time.perf_counter()
det.fit(X)
print(f"fit in {time.perf_counter() - began:.1f} s on {det.device_}; "
      f"scan backend {det.scan_backend_!r}")
score = det.anomaly_score(X)
print(score.shape, score.dtype)  # numpy on the host, whatever the device

# %%
# The parameter keeps what was passed (``device``), the fitted attribute
# what was used (``device_``, ``scan_backend_``), so ``clone`` and
# ``get_params`` are unaffected by the machine. ``scan_backend="cuda"`` would
# raise, with the install command, where the fused kernel is missing instead
# of falling back.
print(det.get_params()["device"], det.device_, det.scan_backend_)
