"""MAATDetector: the scikit-learn face of the MAAT model.

Each public method checks its input (:mod:`maat_detector._params`), calls the
engine (:mod:`maat_detector.engine`) and sets the fitted attributes. The
fitted attributes are the fields of one
:class:`~maat_detector.engine.FittedMAAT`, shown with a trailing underscore.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

from . import engine, persistence
from ._params import (
    PARAMETER_CONSTRAINTS,
    check_cross_parameters,
    check_fitted_parameters,
    check_input,
    check_min_rows,
    fit_context,
    fit_settings,
    score_settings,
    threshold_settings,
    with_parameters_added_later,
)
from .engine import FittedMAAT
from .engine.network import available_device, restore_network
from .streaming import StreamScorer

__all__ = ["MAATDetector"]


class MAATDetector(OutlierMixin, BaseEstimator):
    """Unsupervised anomaly detector for multivariate time series (MAAT).

    MAAT (Sellam et al., 2025) is the Anomaly Transformer's association
    discrepancy -- series attention against a learned Gaussian prior -- with
    block-sparse attention and a Mamba selective state-space branch fused into
    every encoder layer by a skip connection and a learned gate. The detector
    cuts the series into windows, trains the network under the minimax
    association loss to forecast each step from the steps before it (or, as
    the paper, to reconstruct the window: ``objective``), and turns each
    window's output error and discrepancy into one score per time step. The
    output error is called the reconstruction error below, whichever the
    objective.

    Sign conventions are scikit-learn's: :meth:`score_samples` is higher for
    more normal rows, :meth:`decision_function` is negative for outliers and
    :meth:`predict` returns -1 for outliers and +1 for inliers. PyOD's
    convention (higher = more anomalous, labels 0/1) is available through
    :meth:`anomaly_score` and :func:`maat_detector.metrics.to_binary_labels`.

    Parameters
    ----------
    win_size : int, default=100
        Window length L, in rows.
    d_model : int, default=512
        Model width.
    n_heads : int, default=8
        Attention heads; must divide ``d_model``.
    e_layers : int, default=2
        Encoder layers. The paper uses 3 (kept in
        :func:`~maat_detector.presets.paper_size`); two score as well on the
        benchmark data (docs, "Detection quality") and fit faster.
    d_ff : int, default=512
        Feed-forward width.
    epochs : int, default=3
        Maximum training epochs (the learning rate halves after every epoch
        from the second on, as in the reference).
    batch_size : int, default=8
        Windows per training batch; a scoring batch holds at least as many,
        and at least 3,200 rows (32 windows of 100), because scoring is bound
        by per-call overhead at small batches. Quality follows the
        number of optimizer steps, not the windows seen: 8 windows a step and
        ``max_train_windows=504`` give the paper-size reference's 189 steps
        (batch 32, 2,000 windows, 3 epochs) on a quarter of the windows,
        matched its VUS-PR on the tuning set and on the entities outside it
        that were measured, and fit an SMD machine 3.1x faster (docs,
        "Cheaper training at the paper's size").
    lr : float, default=1e-4
        Adam learning rate.
    k : float, default=3.0
        Weight of the association discrepancy in the minimax losses.
    contamination : float, default=0.005
        Expected fraction of anomalous rows, in (0, 0.5]; sets ``offset_`` when
        ``threshold_method="contamination"``.
    threshold_method : {"contamination", "spot"}, default="contamination"
        How ``offset_`` is set from the calibration scores (see Notes):
        their ``1 - contamination`` quantile, or Peaks-Over-Threshold (SPOT,
        Siffer et al., 2017) at risk ``spot_risk``, which needs no
        contamination guess.
    spot_risk : float, default=1e-3
        Probability of a normal score exceeding the SPOT threshold.
    attention : {"block", "full", "causal"}, default="block"
        Series association: the paper's block-sparse attention, the Anomaly
        Transformer's full attention, or the causal mask the released code
        applies.
    block_size : int, default=10
        Block length of ``attention="block"``; need not divide ``win_size``
        (the last block is then shorter).
    objective : {"forecast", "reconstruction"}, default="forecast"
        What the network learns to output at each step of a window, and so
        what the reconstruction error measures: x_t predicted from the steps
        before it only, or x_t seen from the whole window (the paper). With
        "forecast" every part of the network is causal (the token
        convolution reads x_{t-3..t-1}, the attention masks later steps, the
        Mamba branch is causal anyway), so a point cannot explain itself: a
        burst of noise or a distorted cycle that an autoencoder copies
        through is still unpredictable from its past. A row's score then
        leaves out each window's first ``ceil(win_size / 10)`` steps, which
        have little past, wherever another window covers the row (the default
        ``score_step`` makes windows overlap that much). A spike also raises
        the errors of the next 3 steps, whose input holds it. The minimax
        association losses and the score modes are unchanged. Chosen on the
        tuning set (docs, "Detection quality").
    use_mamba : bool, default=True
        Fuse the Mamba branch; ``False`` is the Anomaly Transformer ablation.
    share_mamba : bool, default=True
        One Mamba branch shared by all layers (the reference) or one per layer.
    d_state : int, default=8
        Mamba state size.
    d_conv : int, default=4
        Mamba causal convolution width.
    expand : int, default=2
        Mamba expansion factor.
    dropout : float, default=0.0
        Dropout probability.
    temperature : float, default=50.0
        Scale of the association discrepancy inside the scores.
    score_mode : {"reconstruction", "paper", "discrepancy", "calibrated"}, \
            default="reconstruction"
        Per-point score. The default was chosen by measurement (docs,
        "Detection quality"): on the tuning machines it scored VUS-PR 0.651
        against 0.115 for the paper's energy. The choices: the paper's energy
        ``softmax(-discrepancy) * reconstruction error`` (the softmax runs
        over one window, so energies are relative to their window); the
        reconstruction error alone (mean
        over channels of the squared error divided by the channel's mean on
        the calibration rows); the association discrepancy alone; or
        "calibrated", the sum of two robust z-scores set on the calibration
        rows (median and interquartile range): of the log reconstruction
        error and of the discrepancy.
    top_channels : int or None, default=3
        The reconstruction score of a time step is the mean of its
        ``top_channels`` largest channel-normalised squared errors; None (or
        a value of at least the number of channels) averages all channels.
        A fault usually shows in a few channels, and averaging over all of
        them dilutes it: on the tuning set (docs, "Detection quality") 3 beat
        the all-channel mean. Used by ``score_mode="reconstruction"`` and
        ``"calibrated"``.
    train_step : int, default=1
        Stride between training windows.
    max_train_windows : int or None, default=504
        Windows drawn per epoch, at random without replacement, from all
        training windows (stride ``train_step``); a new draw every epoch.
        Bounds the cost of an epoch whatever the series length; None uses
        every window every epoch.
    max_batch_size : int or None, default=None
        On a series with few training windows, the batch grows (up to this
        many windows) so that an epoch takes no more optimizer steps than
        one pass over all the series' training windows in batches of
        ``max_batch_size``; the windows an epoch draws are unchanged. None,
        or a value not above ``batch_size``, keeps ``batch_size`` on every
        series. With ``batch_size=8``, ``max_train_windows=504`` and
        ``max_batch_size=32``, a series with at least 2,000 training windows
        trains as with None, and a shorter one takes the paper-size
        reference's steps (batch 32 over up to 2,000 windows) instead of up
        to four times as many; as the default, that lost UCR 135 with one
        seed of four on the tuning set (docs, "Steps that follow the
        series' length").
    score_step : int or None, default=None
        Stride between scoring windows. None means ``win_size`` minus the
        forecast warm-up (see ``objective``): ``win_size`` when
        reconstructing (non-overlapping, as the reference), and
        ``win_size - ceil(win_size / 10)`` when forecasting, so that windows
        overlap just enough for every row to be scored from a window's later
        steps.
    score_combine : {"mean", "end"}, default="mean"
        How a row's scores from overlapping windows combine: their mean, or
        the score from the earliest window containing the row (with
        ``score_step=1``, the window ending at it: what :meth:`stream` gives).
    score_smoothing : "auto" or int, default="auto"
        Each row's final score is the mean of the scores of the
        ``score_smoothing`` rows centred on it (1: no smoothing); the
        threshold is set on scores smoothed the same way. "auto" means
        ``2 * (win_size // 6) + 1`` rows (33 at ``win_size=100``) for a
        univariate series and 1 otherwise: a single channel's per-row error
        is noisy, and averaging it over neighbouring rows, as the window
        baselines do, lifted VUS-PR on the univariate tuning series (mean of
        UCR and NAB 0.36 to 0.69 over two seeds), while on the multivariate
        ones, where the top channels already average, it lowered SMD and MSL
        (docs, "Detection quality"). :meth:`stream` smooths over the trailing
        rows instead, so its scores lag those of :meth:`anomaly_score` by half
        the width (rounded down).
    validation_fraction : float, default=0.2
        Chronological tail of the fit series held out for early stopping and
        for calibrating the threshold; 0 trains on everything and calibrates
        on the training rows.
    n_iter_no_change : int or None, default=3
        Stop after this many epochs without improvement of the validation
        reconstruction loss. None disables.
    restore_best : bool, default=True
        After training, load the weights of the epoch with the lowest
        validation reconstruction loss (True) or keep the last epoch's
        (False). On short series the validation tail holds a few windows,
        and its loss can prefer an early epoch that scores worse: on a
        tuning series of 1,200 rows (UCR 135) a ``d_model=256`` network
        kept its first epoch (VUS-PR 0.52 and 0.67, two seeds) where its
        third scored 0.92 (docs, "Detection quality").
    scaling : {"standard", "robust"} or None, default="standard"
        Per-channel scaling fitted on the fit series: mean and standard
        deviation, or median and interquartile range (robust to outliers in
        the training data). Constant channels get scale 1.
    nan_policy : {"raise", "interpolate"}, default="raise"
        What to do with NaN in X: raise, or interpolate linearly along time.
    scan_backend : {"auto", "torch", "cuda", "compiled"}, default="auto"
        Selective-scan implementation. "auto": mamba-ssm's fused kernel when
        it is installed and the device is CUDA; on the CPU the compiled
        kernel that ``pip install`` builds when a C++ compiler is present
        (fit and scoring about 1.2-1.3x faster than the pure-PyTorch scan
        at the paper's size on 2 cores; docs, "Benchmark results"); else the
        pure-PyTorch scan. "torch" always uses the pure-PyTorch scan; "cuda"
        and "compiled" require their kernel and fail if it is absent.
        All compute the same function, to float rounding.
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of the network's forward passes, in training and scoring.
        "bfloat16" runs them under :func:`torch.autocast` (CPU or CUDA):
        matrix products in bfloat16, while the selective scan, the
        association (softmax and prior), the losses and the score
        accumulation stay in float32. It pays on CPUs with AMX or AVX512-BF16
        (Sapphire Rapids and later) and on CUDA GPUs from Ampere on; elsewhere
        it can be much slower (an AVX2-only AMD CPU ran a bfloat16 matrix
        product at 1.3 GFLOP/s against 45 in float32), as for small models;
        ``fit`` warns on a CPU without native bfloat16.
        Measured on 2 Sapphire Rapids cores at the paper's size, one epoch,
        stride 100: fit 1.6x and scoring 2.1x the float32 points/s
        (``benchmarks/speed/speed.py``). Scores
        move: on SMD machine-1-6 the default reconstruction scores kept their
        order (Spearman rank correlation with float32 above 0.99999, median
        relative change under 0.1 %), the paper's energy less so (Spearman
        0.979 to 0.9987; ``tools/precision_check.py``). The same seed
        still gives the same scores on the same machine.
    device : str, default="auto"
        Torch device; "auto" picks CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seed of weight initialisation and shuffling. With an int, the same
        data gives the same scores on the CPU. Global RNGs are not touched.
    verbose : int, default=0
        0 silent; 1 and above show a progress bar and log per-epoch losses at
        INFO.

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network, in eval mode, on ``device_``.
    config_ : MAATConfig
        Its configuration.
    offset_ : float
        ``decision_function = score_samples - offset_``; ``-offset_`` is the
        threshold on :meth:`anomaly_score`.
    threshold_ : float
        Threshold on :meth:`anomaly_score` (``-offset_``).
    history_ : list of dict
        Per-epoch mean training losses, validation losses, learning rate and
        seconds.
    best_epoch_ : int
        Epoch (1-based) whose weights were kept.
    n_epochs_ : int
        Epochs actually run.
    device_ : torch.device
        Device used.
    scan_backend_ : str
        Selective scan actually used: "torch" or "cuda".
    center_, scale_ : ndarray of shape (`n_features_in_`,)
        Scaling fitted on the fit series.
    n_calibration_rows_ : int
        The threshold and the channel error scales were calibrated on the
        last ``n_calibration_rows_`` rows of the fit series (all of them when
        its validation tail could not hold a window).
    channel_scale_ : ndarray of shape (`n_features_in_`,)
        Mean squared reconstruction error of each scaled channel on those
        rows; channel errors are divided by it before they are combined.
    n_features_in_ : int
        Number of channels seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when X had string column names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Tree-based detector on single points.

    Notes
    -----
    **Windows and scores.** Scoring covers the series with windows of stride
    ``score_step`` plus one end-aligned window, so every row -- the first
    ``win_size - 1`` and the tail included -- gets exactly one score, without
    padding or shift. A row's score is the mean over the grid windows that
    contain it; rows no grid window reaches take the end-aligned window's
    score (:mod:`maat_detector.windowing`).

    **Threshold.** ``offset_`` comes from anomaly scores of data the model did
    not train on: the chronological validation tail of the fit series (the
    last ``validation_fraction`` of rows). Training scores are biased low
    (the network has fit them), so a threshold taken from them flags too
    many points on new data. When the tail is shorter than one window the
    training rows are used instead. Scoring never sets a threshold from the
    X it scores.

    **Interruption.** A ``KeyboardInterrupt`` during ``fit`` leaves the
    estimator as it was before the call (unfitted if it was); no partial
    fitted attribute is written.

    References
    ----------
    .. [1] Sellam, A. et al. "MAAT: Mamba Adaptive Anomaly Transformer with
       association discrepancy for time series", arXiv:2502.07858, 2025.
    .. [2] Xu, J. et al. "Anomaly Transformer: Time Series Anomaly Detection
       with Association Discrepancy", ICLR 2022.
    .. [3] Siffer, A. et al. "Anomaly Detection in Streams with Extreme Value
       Theory", KDD 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from maat_detector import MAATDetector
    >>> t = np.arange(400)
    >>> X = np.c_[np.sin(t / 5), np.cos(t / 7)]
    >>> det = MAATDetector(win_size=20, d_model=16, n_heads=2, e_layers=1,
    ...                    d_ff=16, epochs=1, block_size=5, random_state=0)
    >>> det.fit(X).predict(X).shape
    (400,)
    """

    _parameter_constraints = PARAMETER_CONSTRAINTS

    def __init__(
        self,
        *,
        win_size=100,
        d_model=512,
        n_heads=8,
        e_layers=2,
        d_ff=512,
        epochs=3,
        batch_size=8,
        lr=1e-4,
        k=3.0,
        contamination=0.005,
        threshold_method="contamination",
        spot_risk=1e-3,
        attention="block",
        block_size=10,
        objective="forecast",
        use_mamba=True,
        share_mamba=True,
        d_state=8,
        d_conv=4,
        expand=2,
        dropout=0.0,
        temperature=50.0,
        score_mode="reconstruction",
        top_channels=3,
        train_step=1,
        max_train_windows=504,
        max_batch_size=None,
        score_step=None,
        score_combine="mean",
        score_smoothing="auto",
        validation_fraction=0.2,
        n_iter_no_change=3,
        restore_best=True,
        scaling="standard",
        nan_policy="raise",
        scan_backend="auto",
        precision="float32",
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.win_size = win_size
        self.d_model = d_model
        self.n_heads = n_heads
        self.e_layers = e_layers
        self.d_ff = d_ff
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.k = k
        self.contamination = contamination
        self.threshold_method = threshold_method
        self.spot_risk = spot_risk
        self.attention = attention
        self.block_size = block_size
        self.objective = objective
        self.use_mamba = use_mamba
        self.share_mamba = share_mamba
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.dropout = dropout
        self.temperature = temperature
        self.score_mode = score_mode
        self.top_channels = top_channels
        self.train_step = train_step
        self.max_train_windows = max_train_windows
        self.max_batch_size = max_batch_size
        self.score_step = score_step
        self.score_combine = score_combine
        self.score_smoothing = score_smoothing
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.restore_best = restore_best
        self.scaling = scaling
        self.nan_policy = nan_policy
        self.scan_backend = scan_backend
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    @fit_context
    def fit(self, X, y=None):
        """Train the network on a series and calibrate the threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One row per time step, in time order; numpy or pandas. Needs at
            least ``win_size`` rows.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : MAATDetector
            The fitted detector.
        """
        before = {k: v for k, v in vars(self).items() if k.endswith("_")}
        try:
            check_cross_parameters(self)
            X = check_input(self, X, reset=True)
            check_min_rows(X.shape[0], self.win_size)
            fitted = engine.fit(X, fit_settings(self, X.shape[1]))
        except BaseException:
            # check_input(reset=True) has already written n_features_in_ (and
            # feature_names_in_): restore the state from before the call, so
            # a failed or interrupted fit leaves the detector as it was.
            for key in [k for k in vars(self) if k.endswith("_")]:
                del self.__dict__[key]
            self.__dict__.update(before)
            raise
        fitted.feature_names_in = getattr(self, "feature_names_in_", None)
        return self._set_fitted(fitted)

    @fit_context
    def calibrate(self, X):
        """Recalibrate the scores and the threshold on normal rows, keeping the network.

        Re-runs the calibration step of :meth:`fit` on ``X``: each channel's
        error scale, the score statistics of ``score_mode="calibrated"`` and
        the threshold (from ``contamination`` or SPOT, per
        ``threshold_method``). Use it after changing ``score_mode``,
        ``top_channels``, ``contamination``, ``threshold_method`` or
        ``spot_risk`` with :meth:`set_params` on a fitted detector, or to move
        the threshold to a recent stretch of normal operation, without
        training again. Passing the rows :meth:`fit` calibrated on (the last
        ``n_calibration_rows_`` rows of its X) gives the detector that ``fit``
        with the new parameters would have given, since they do not affect
        training.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in time order believed free of anomalies, at least
            ``win_size`` of them, with the channels of the fit data.

        Returns
        -------
        self : MAATDetector
            The recalibrated detector.
        """
        fitted, X = self._prepare(X)
        fitted = fitted.recalibrated(
            X, score_settings(self, X.shape[1]), threshold_settings(self)
        )
        return self._set_fitted(fitted)

    # -------------------------------------------------------------- scoring

    def anomaly_score(self, X):
        """Raw MAAT anomaly score per row: higher = more anomalous.

        This is PyOD's sign convention; :meth:`score_samples` is its negation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in time order, at least ``win_size`` of them.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Finite, non-negative scores, one per row.
        """
        fitted, X = self._prepare(X)
        return fitted.scores(X, score_settings(self, X.shape[1]))

    def score_samples(self, X):
        """Normality score per row: higher = more normal (scikit-learn convention).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in time order, at least ``win_size`` of them.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-anomaly_score(X)``.
        """
        return -self.anomaly_score(X)

    def decision_function(self, X):
        """Shifted normality score: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each row: -1 for outliers, +1 for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function(X) < 0``, else +1.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def anomaly_contributions(self, X):
        """Per-channel contributions to each row's anomaly score.

        Taken from the model's own quantities, not from a post-hoc explainer:

        - ``score_mode="paper"``: the energy split over channels,
          ``softmax_t(-AD) * (x_c - xhat_c)^2 / C``, which sums over channels
          to :meth:`anomaly_score`.
        - other modes: each channel's share of the reconstruction score: its
          squared reconstruction error divided by its mean on the calibration
          rows (``channel_scale_``), over ``top_channels``, where it is among
          the ``top_channels`` largest of its time step, else 0. It sums to
          the score for ``"reconstruction"``; for ``"calibrated"`` it is the
          per-channel part of the score (the discrepancy part is shared by all
          channels).

        Overlapping windows combine, and rows are smoothed
        (``score_smoothing``), as in :meth:`anomaly_score`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        contributions : ndarray of shape (n_samples, n_features)
            Non-negative; larger means the channel explains more of the score.
        """
        fitted, X = self._prepare(X)
        return fitted.contributions(X, score_settings(self, X.shape[1]))

    def stream(self, context=None, state=None):
        """A scorer for rows arriving one chunk at a time.

        Parameters
        ----------
        context : array-like of shape (n, n_features), optional
            Rows preceding the stream (at least ``win_size - 1``). By default
            the stream continues the fit series: its last ``win_size - 1``
            rows (``fit_tail_``) are the context.
        state : dict, optional
            A state from :meth:`StreamScorer.get_state` to resume from.

        Returns
        -------
        StreamScorer
            Call ``update(chunk)`` for the anomaly scores of new rows.
        """
        check_is_fitted(self)
        check_fitted_parameters(self)
        return StreamScorer(self, context=context, state=state)

    # ------------------------------------------------------------- helpers

    def _prepare(self, X):
        """The fitted state, and the checked rows of X, scaled as they are read."""
        check_is_fitted(self)
        check_fitted_parameters(self)
        X = check_input(self, X, reset=False)
        check_min_rows(X.shape[0], self.win_size)
        fitted = self._fitted()
        return fitted, fitted.scaled_view(X)

    def _fitted(self):
        """The fitted attributes as one :class:`~maat_detector.engine.FittedMAAT`."""
        return FittedMAAT.from_attributes(self)

    def _set_fitted(self, fitted):
        """Show ``fitted``'s fields as the public ``*_`` attributes."""
        for name, value in fitted.attributes().items():
            setattr(self, name, value)
        return self

    # --------------------------------------------------------- persistence

    def save(self, path):
        """Save the fitted detector in a weights-only format that runs no code.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file. See :mod:`maat_detector.persistence`.
        """
        check_is_fitted(self, ["model_", "offset_", "config_"])
        check_fitted_parameters(self)
        persistence.write(path, self.get_params(deep=False), self._fitted())

    @classmethod
    def load(cls, path, device=None):
        """Load a detector written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            File written by :meth:`save`.
        device : str or None, default=None
            Device to load onto; None keeps the saved one when available,
            else the CPU.

        Returns
        -------
        detector : MAATDetector
            Fitted, ready to score.
        """
        params, fitted = persistence.read(path, cls._get_param_names(), device=device)
        return cls(**params)._set_fitted(fitted)

    # ---------------------------------------------------- pickling support

    def __getstate__(self):
        # object.__getstate__ returns the live __dict__: copy before editing.
        state = dict(super().__getstate__())
        if "model_" in state:
            # Store CPU weights, not the module, so a model trained on a GPU
            # unpickles on a machine without one.
            model = state.pop("model_")
            state["_model_state"] = {
                name: tensor.detach().cpu()
                for name, tensor in model.state_dict().items()
            }
            state["device_"] = str(state["device_"])
        return state

    def __setstate__(self, state):
        model_state = state.pop("_model_state", None)
        super().__setstate__(with_parameters_added_later(state))
        if model_state is not None:
            self.device_ = available_device(self.device_)
            self.model_, self.config_ = restore_network(
                self.config_, model_state, self.device_, requested=self.scan_backend
            )
            self.scan_backend_ = self.config_.scan_backend

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.nan_policy == "interpolate"
        tags.non_deterministic = self.random_state is None
        return tags
