"""Everything a fit produces, and the scores of new rows."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..nn import MAATConfig
from ..windowing import moving_mean
from .calibrate import calibrate
from .preprocess import ScaledRows, scale_rows
from .score import SCORE_MODES, combine, components

__all__ = ["FittedMAAT"]


@dataclass
class FittedMAAT:
    """The fitted state of a detector: network, scaling, calibration, threshold.

    The estimator shows each field as a public attribute with a trailing
    underscore (``model_``, ``center_``, ``threshold_`` ...), as scikit-learn
    does; :meth:`from_attributes` and :meth:`attributes` convert between the
    two. Scoring here takes rows that are already checked (see
    :mod:`maat_detector._params`); the estimator's public methods check them.
    """

    n_features_in: int
    config: MAATConfig
    model: torch.nn.Module
    device: torch.device
    scan_backend: str
    center: np.ndarray
    scale: np.ndarray
    history: list
    best_epoch: int
    n_epochs: int
    fit_tail: np.ndarray
    n_calibration_rows: int
    channel_scale: np.ndarray
    score_stats: dict
    threshold: float
    feature_names_in: np.ndarray | None = None

    @property
    def offset(self):
        """``-threshold``: scikit-learn's ``decision_function`` offset."""
        return -self.threshold

    @classmethod
    def from_attributes(cls, owner):
        """The fitted state held by ``owner``'s public ``*_`` attributes."""
        values = {
            field.name: getattr(owner, f"{field.name}_", None)
            for field in dataclasses.fields(cls)
        }
        return cls(**values)

    def attributes(self):
        """Public attribute name (with ``_``) to value, ``offset_`` included.

        ``feature_names_in_`` is left out when there are no column names, as
        scikit-learn does.
        """
        names: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "feature_names_in" and value is None:
                continue
            names[f"{field.name}_"] = value
        # Written in the order a fit sets them (feature names second).
        if "feature_names_in_" in names:
            names = {
                "n_features_in_": names.pop("n_features_in_"),
                "feature_names_in_": names.pop("feature_names_in_"),
                **names,
            }
        names["offset_"] = self.offset
        return names

    def scale_rows(self, X):
        """Checked raw rows to the scaled float32 rows the network sees."""
        return scale_rows(X, self.center, self.scale)

    def scaled_view(self, X):
        """Checked raw rows, scaled batch by batch as the network reads them.

        What scoring takes instead of :meth:`scale_rows`' copy; an
        out-of-range row raises when its batch is read.
        """
        return ScaledRows(X, self.center, self.scale)

    def scores(self, X, settings, *, step=None, combine_mode=None, smooth=True):
        """Anomaly scores of scaled rows ``X`` (higher = more anomalous).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features), float32
            Scaled rows, at least ``win_size`` of them.
        settings : ScoreSettings
        step, combine_mode : optional
            Override the settings' window stride and combination.
        smooth : bool, default=True
            Apply the centred ``settings.smoothing`` mean (a stream applies a
            trailing one itself).
        """
        values = components(
            self.model,
            X,
            self.device,
            settings,
            needed=SCORE_MODES[settings.mode].needed,
            channel_scale=self.channel_scale,
            step=step,
            combine=combine_mode,
        )
        scores = combine(values, settings.mode, self.score_stats)
        return moving_mean(scores, settings.smoothing if smooth else 1)

    def contributions(self, X, settings):
        """Each channel's share of each row's score, for scaled rows ``X``."""
        if settings.mode == "paper":
            shares = components(
                self.model,
                X,
                self.device,
                settings,
                needed=("weighted_error",),
                per_channel=True,
            )["weighted_error"]
        else:
            shares = components(
                self.model,
                X,
                self.device,
                settings,
                needed=("error",),
                channel_scale=self.channel_scale,
                per_channel=True,
            )["error"]
        return moving_mean(shares, settings.smoothing)

    def recalibrated(self, X, settings, threshold):
        """A copy calibrated on the scaled normal rows ``X`` instead."""
        scale, stats, value = calibrate(self.model, X, self.device, settings, threshold)
        return dataclasses.replace(
            self,
            n_calibration_rows=X.shape[0],
            channel_scale=scale,
            score_stats=stats,
            threshold=value,
        )
