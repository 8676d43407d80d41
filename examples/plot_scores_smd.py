"""
Scores on a server machine of SMD
=================================

The package ships one machine of the Server Machine Dataset (SMD, Su et al.,
KDD 2019): 38 metrics per minute, a training half and a labelled test half.
To keep this example to seconds, the detector is fitted on the last 4000 rows
of the training half and scores 5500 test rows that hold four labelled
incidents. The labels are used only to evaluate and to shade the plot.
"""

# %%
# Load and slice
# --------------
import numpy as np

from maat_detector import MAATDetector, metrics
from maat_detector.demo import load_shipped_machine
from maat_detector.plotting import plot_scores

train, test, label = load_shipped_machine()
print("train", train.shape, "test", test.shape,
      f"{label.mean():.1%} of test rows labelled anomalous")

train = train[-4000:]
test, label = test[14000:19500], label[14000:19500]

# %%
# Fit a small detector
# --------------------
# Several SMD channels are constant on this machine; the detector's scaling
# leaves them at scale 1 instead of dividing by zero.
#
# The default ``score_mode="reconstruction"`` scores each row by its
# reconstruction error, each channel scaled by its error on the calibration
# rows. (The paper's energy, ``score_mode="paper"``, is a softmax over each
# window with temperature 50: it concentrates on a few steps per window and
# underflows to nearly 0 elsewhere.)
det = MAATDetector(
    win_size=50, d_model=32, n_heads=2, e_layers=1, d_ff=32, epochs=1,
    train_step=5, lr=1e-3, batch_size=32, random_state=0,
)
det.fit(train)
score = det.anomaly_score(test)

# %%
# Honest metrics
# --------------
# The threshold comes from the held-out tail of the training rows, never from
# the test rows. Point-adjusted F1 is printed only to show how much it
# inflates the plain F1 (see the user guide).
flagged = (score > det.threshold_).astype(int)
_, _, f1 = metrics.point_prf(label, flagged)
_, _, pa_f1 = metrics.point_adjusted_prf(label, flagged)
print(f"VUS-PR {metrics.vus_pr(label, score, sliding_window=50):.3f}   "
      f"PR-AUC {metrics.pr_auc(label, score):.3f}   "
      f"ROC-AUC {metrics.roc_auc(label, score):.3f}")
print(f"F1 {f1:.3f} at the training threshold; point-adjusted F1 {pa_f1:.3f} "
      "(inflated)")

# %%
# Plot
# ----
# The six most variable channels, and the scores on a log axis: they span
# orders of magnitude.
top = np.argsort(test.std(axis=0))[::-1][:6]
fig = plot_scores(
    test[:, top], score, threshold=det.threshold_, labels=label,
    channel_names=[f"metric {j}" for j in top], score_scale="log",
    title="SMD machine-2-2, test rows 14000-19500",
)
