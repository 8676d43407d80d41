"""The MAAT engine: training, scoring and calibration on typed settings.

The estimator (:class:`maat_detector.MAATDetector`) validates its parameters
and inputs, turns them into settings (:mod:`maat_detector._params`) and
calls in here; nothing in this package reads an estimator. One job per
module:

- :mod:`.preprocess`: per-channel scaling;
- :mod:`.network`: the forward pass, and rebuilding a saved network on a device;
- :mod:`.train`: the minimax training loop with early stopping;
- :mod:`.score`: the network pass over scoring windows, the accumulation of
  window values into one value per row, and the table of score modes;
- :mod:`.calibrate`: channel error scales, score statistics and the threshold;
- :mod:`.fitted`: :class:`FittedMAAT`, everything a fit produces, and the
  scores of new rows;
- :mod:`.fitting`: one fit, from raw rows to a :class:`FittedMAAT`.
"""

from .calibrate import ThresholdSettings
from .fitted import FittedMAAT
from .fitting import FitSettings, fit
from .score import SCORE_MODES, ScoreSettings
from .train import TrainSettings

__all__ = [
    "SCORE_MODES",
    "FitSettings",
    "FittedMAAT",
    "ScoreSettings",
    "ThresholdSettings",
    "TrainSettings",
    "fit",
]
