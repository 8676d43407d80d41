"""
Saving and loading a detector
=============================

:meth:`~maat_detector.MAATDetector.save` writes a weights-only file that
:meth:`~maat_detector.MAATDetector.load` reads back without running any code
from it. Pickle and joblib also work, but unpickling runs code: use them only
for files you trust.
"""

# %%
# Fit a small detector
# --------------------
import pickle
import tempfile
from pathlib import Path

import joblib
import numpy as np

from maat_detector import MAATDetector

t = np.arange(1500)
X = np.c_[np.sin(2 * np.pi * t / 40), np.cos(2 * np.pi * t / 70)]
X += 0.05 * np.random.default_rng(3).standard_normal(X.shape)
det = MAATDetector(
    win_size=50, d_model=32, n_heads=2, e_layers=1, d_ff=32, epochs=1,
    train_step=5, lr=1e-3, random_state=0,
).fit(X)
expected = det.score_samples(X)

# %%
# Weights-only file
# -----------------
# The file holds tensors and plain values only, a checksum, and the library
# versions that wrote it. ``device="cpu"`` loads a detector fitted on a GPU
# onto a CPU-only machine.
folder = Path(tempfile.mkdtemp())
path = folder / "detector.pt"
det.save(path)
loaded = MAATDetector.load(path, device="cpu")
print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")
print("same scores:", np.array_equal(loaded.score_samples(X), expected))
print("same threshold:", loaded.threshold_ == det.threshold_)
print("parameters kept:", loaded.get_params() == det.get_params())

# %%
# pickle and joblib
# -----------------
# The pickle stores the weights as CPU tensors, so it too loads without a
# GPU. Only unpickle files from sources you trust.
again = pickle.loads(pickle.dumps(det))
joblib.dump(det, folder / "detector.joblib")
from_joblib = joblib.load(folder / "detector.joblib")
print("pickle:", np.array_equal(again.score_samples(X), expected),
      " joblib:", np.array_equal(from_joblib.score_samples(X), expected))
