"""
Inside a scikit-learn Pipeline
==============================

:class:`~maat_detector.MAATDetector` is a scikit-learn outlier detector, so it
can be the last step of a :class:`~sklearn.pipeline.Pipeline`. Here a
:class:`~sklearn.preprocessing.StandardScaler` does the scaling, so the
detector's own scaling is turned off, and the input is a pandas DataFrame
whose column names the pipeline checks at scoring time.
"""

# %%
# Data with named channels
# ------------------------
import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from maat_detector import MAATDetector
from maat_detector.plotting import plot_scores

rng = np.random.default_rng(1)
t = np.arange(2500)
frame = pd.DataFrame(
    {
        "temperature": 20 + 2 * np.sin(2 * np.pi * t / 50),
        "pressure": 1000 + 5 * np.cos(2 * np.pi * t / 80),
        "flow": 3 + 0.5 * np.sin(2 * np.pi * t / 50 + 1.0),
    }
)
frame += rng.normal(scale=[0.2, 0.5, 0.05], size=frame.shape)
train, test = frame.iloc[:1800], frame.iloc[1800:].copy()
labels = np.zeros(len(test), dtype=int)
test.iloc[300:320, 2] += 1.0  # the flow jumps by four times its amplitude
labels[300:320] = 1

# %%
# The pipeline
# ------------
# ``scaling=None`` because the scaler already standardises every channel with
# the training statistics.
pipe = make_pipeline(
    StandardScaler(),
    MAATDetector(
        win_size=50, d_model=32, n_heads=2, e_layers=1, d_ff=32, epochs=2,
        train_step=5, batch_size=32, lr=1e-3,
        scaling=None, contamination=0.01, random_state=0,
    ),
)
pipe.fit(train)
detector = pipe[-1]
print("channels seen in fit:", list(pipe[0].feature_names_in_))

# %%
# The pipeline forwards ``predict``, ``decision_function`` and
# ``score_samples`` to the detector after scaling. ``score_samples`` is
# higher for more normal rows, so the anomaly score is its negation.
pred = pipe.predict(test)
anomaly = -pipe.score_samples(test)
print(f"{np.mean(pred == -1):.1%} of rows flagged;",
      f"{np.mean(pred[labels == 1] == -1):.0%} of the anomalous rows among them")

# %%
# The DataFrame's column names become the channel names of the plot.
fig = plot_scores(
    test, anomaly, threshold=detector.threshold_, labels=labels,
    title="StandardScaler + MAATDetector",
)
