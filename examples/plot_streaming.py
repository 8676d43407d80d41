"""
Scoring a live stream
=====================

:meth:`~maat_detector.MAATDetector.stream` returns a scorer that takes new
rows in chunks of any size and scores each with the window ending at it, so
no score looks ahead and nothing is rescored. Here rows arrive in chunks of
25, an anomaly starts in the middle, and the stream is checkpointed and
resumed half way.
"""

# %%
# Fit on history
# --------------
import numpy as np

from maat_detector import MAATDetector
from maat_detector.plotting import plot_scores

rng = np.random.default_rng(6)
t = np.arange(2500)
X = np.c_[np.sin(2 * np.pi * t / 40), np.cos(2 * np.pi * t / 55)]
X += 0.1 * rng.standard_normal(X.shape)
history, live = X[:2000], X[2000:].copy()
labels = np.zeros(len(live), dtype=int)
live[300:320, 0] += 2.0
labels[300:320] = 1

det = MAATDetector(
    win_size=50, d_model=32, n_heads=2, e_layers=1, d_ff=32, epochs=2,
    train_step=5, batch_size=32, lr=1e-3,
    random_state=0,
).fit(history)

# %%
# Stream in chunks
# ----------------
# The stream continues the fit series: its context is the last
# ``win_size - 1`` rows of ``history``. Half way, its state is saved and a
# new scorer resumes from it, as a service would after a restart.
stream = det.stream()
scores = []
for begin in range(0, len(live), 25):
    if begin == 250:
        state = stream.get_state()
        stream = det.stream(state=state)
    chunk_scores = stream.update(live[begin : begin + 25])
    if (chunk_scores > stream.threshold_).any():
        print(f"rows {begin}-{begin + 24}: "
              f"{int((chunk_scores > stream.threshold_).sum())} alarm(s)")
    scores.append(chunk_scores)
scores = np.concatenate(scores)
print(f"{stream.n_rows_seen_} rows scored, counting those before the restart")

# %%
# Same scores as the batch method
# -------------------------------
# Scoring the whole series at once with ``score_step=1`` and
# ``score_combine="end"`` gives the stream's scores, whatever the chunk size.
batch = det.set_params(score_step=1, score_combine="end").anomaly_score(
    np.vstack([det.fit_tail_, live])
)[det.win_size - 1 :]
print("stream == batch:", np.allclose(scores, batch, rtol=1e-4, atol=1e-6))

# %%
fig = plot_scores(live, scores, threshold=det.threshold_, labels=labels,
                  title="Scores computed as the rows arrived")
