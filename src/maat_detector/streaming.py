"""Score rows as they arrive, without rescoring history.

:class:`StreamScorer` keeps the last ``win_size - 1`` (scaled) rows as context.
For each new row t it scores the window that ends at t and keeps the score of
that window's last position. Precisely::

    stream = detector.stream()            # context = detector.fit_tail_
    s = np.concatenate([stream.update(c) for c in chunks])
    # equals, to float32 rounding:
    detector.set_params(score_step=1, score_combine="end")
    detector.anomaly_score(np.vstack([detector.fit_tail_, *chunks]))[win_size - 1:]

whatever the chunk sizes, with ``score_smoothing`` 1 (the default for
multivariate series). With a smoothing width w > 1 the stream averages each
row's score with those of the w - 1 rows before it, where the batch scores
average the rows around it, so a stream's smoothed score of row t is the
batch's smoothed score of row ``t - w // 2``. The threshold is the detector's
``threshold_`` (set on centred means, which have the same distribution).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._params import check_fitted_parameters, check_input, score_settings
from .engine import FittedMAAT
from .windowing import moving_mean

__all__ = ["StreamScorer"]


class StreamScorer:
    """Anomaly scores for new rows, one chunk at a time (see module docstring).

    Create it with :meth:`MAATDetector.stream`. The state that changes --
    the context rows, the last scores before smoothing and a row counter --
    is small: ``get_state()`` returns it for checkpointing, and
    ``detector.stream(state=...)`` resumes. The object itself also pickles
    (with its detector).

    Parameters
    ----------
    detector : MAATDetector
        A fitted detector.
    context : array-like of shape (n, n_features), optional
        Rows before the stream, at least ``win_size - 1``; default
        ``detector.fit_tail_``.
    state : dict, optional
        From :meth:`get_state`.

    Attributes
    ----------
    threshold_ : float
        The detector's threshold: a row is anomalous when its score exceeds it.
    n_rows_seen_ : int
        Rows scored so far.
    """

    def __init__(self, detector, context=None, state=None):
        check_is_fitted(detector)
        self.detector = detector
        self.threshold_ = detector.threshold_
        keep = detector.win_size - 1
        self._smoothing = score_settings(detector, detector.n_features_in_).smoothing
        if state is not None:
            self._context = np.asarray(state["context"], dtype=np.float32)
            self.n_rows_seen_ = int(state["n_rows_seen"])
            # States saved before smoothing existed hold no recent scores.
            self._recent = np.asarray(state.get("recent_scores", ()), np.float64)
        else:
            raw = detector.fit_tail_ if context is None else context
            fitted = FittedMAAT.from_attributes(detector)
            scaled = fitted.scale_rows(check_input(detector, raw, reset=False))
            if scaled.shape[0] < keep:
                raise ValueError(
                    f"context has {scaled.shape[0]} rows; the stream needs "
                    f"win_size - 1 = {keep} rows of history."
                )
            self._context = scaled[scaled.shape[0] - keep :]
            self.n_rows_seen_ = 0
            self._recent = np.empty(0)
        if self._context.shape != (keep, detector.n_features_in_):
            raise ValueError(
                f"stream state holds context of shape {self._context.shape}, "
                f"expected ({keep}, {detector.n_features_in_})."
            )

    def update(self, chunk):
        """Score new rows and advance the stream.

        Parameters
        ----------
        chunk : array-like of shape (m, n_features)
            The next m rows, m >= 0, in time order.

        Returns
        -------
        scores : ndarray of shape (m,)
            Anomaly scores, higher = more anomalous (:meth:`anomaly_score`'s
            convention); ``scores > threshold_`` flags anomalies.
        """
        check_is_fitted(self.detector)
        det = self.detector
        self._check_parameters()
        fitted = FittedMAAT.from_attributes(det)
        # Checked before the early return: an empty chunk must still have the
        # fitted channels.
        rows = fitted.scale_rows(check_input(det, chunk, reset=False))
        if rows.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        full = np.concatenate([self._context, rows])
        settings = score_settings(det, det.n_features_in_)
        raw = fitted.scores(full, settings, step=1, combine_mode="end", smooth=False)
        raw = np.concatenate([self._recent, raw[det.win_size - 1 :]])
        # The first rows of a stream average over the scores there are.
        scores = moving_mean(raw, self._smoothing, centered=False)
        self._recent = raw[max(raw.shape[0] - (self._smoothing - 1), 0) :]
        self._context = full[full.shape[0] - (det.win_size - 1) :]
        self.n_rows_seen_ += rows.shape[0]
        return scores[scores.shape[0] - rows.shape[0] :]

    def _check_parameters(self):
        """Check the detector's parameters when they changed since last time.

        A full check costs about a millisecond, as much as scoring a row of a
        small model, so a stream repeats it only after ``set_params``.
        """
        params = self.detector.get_params(deep=False)
        if params != getattr(self, "_checked_params", None):
            check_fitted_parameters(self.detector)
            self._checked_params = params

    def get_state(self):
        """The stream's small mutable state, for checkpointing.

        Returns
        -------
        dict
            ``{"context": ndarray (win_size - 1, n_features), "n_rows_seen": int,
            "recent_scores": ndarray (up to score_smoothing - 1,)}``.
        """
        return {
            "context": self._context.copy(),
            "n_rows_seen": self.n_rows_seen_,
            "recent_scores": self._recent.copy(),
        }
