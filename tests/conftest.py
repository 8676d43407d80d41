"""Shared fixtures: small deterministic series and a tiny detector configuration."""

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

# Tests use tiny models that gain nothing from threads; one thread avoids
# oversubscribing the 2-core CI machine (and MKL start-up cost per call).
torch.set_num_threads(1)

# Property-based tests (hypothesis). "ci", the default, is bounded and
# reproducible: a fixed number of examples, derandomized (the examples are a
# function of the test alone), no per-example deadline (a tiny fit can take a
# second on a loaded 2-core runner). "fuzz" runs the same properties longer
# and randomized; the tests marked `fuzz` use it (`pytest -m fuzz`).
# HYPOTHESIS_PROFILE picks the default profile.
_NOT_FOR_FITS = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci",
    max_examples=20,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=_NOT_FOR_FITS,
)
settings.register_profile(
    "fuzz",
    max_examples=500,
    deadline=None,
    print_blob=True,
    suppress_health_check=_NOT_FOR_FITS,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TINY = dict(
    win_size=16,
    d_model=16,
    n_heads=2,
    e_layers=1,
    d_ff=16,
    d_state=4,
    block_size=4,
    epochs=2,
    batch_size=32,
    lr=1e-3,
    random_state=0,
    n_iter_no_change=None,
)


def sinusoids(n=480, n_features=3, noise=0.05, seed=0):
    """Clean multichannel sinusoids with a little Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    periods = np.array([20.0, 33.0, 47.0, 13.0, 29.0])[:n_features]
    X = np.sin(2 * np.pi * t / periods) + noise * rng.standard_normal((n, n_features))
    return X.astype(np.float64)


@contextlib.contextmanager
def torch_threads(count):
    """torch's thread count set to ``count`` inside, the caller's restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def local_dask_cluster(distributed):
    """A real two-process Dask cluster on loopback: ``(cluster, client)``."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    return cluster, distributed.Client(cluster)


@pytest.fixture
def tiny_params():
    return dict(TINY)


@pytest.fixture
def series():
    return sinusoids()


@pytest.fixture(scope="session")
def data_dir():
    """The shared benchmark data: $MAAT_DATA or ../shared/data beside the repo."""
    path = Path(
        os.environ.get("MAAT_DATA", Path(__file__).parents[2] / "shared" / "data")
    )
    if not path.is_dir():
        pytest.skip(f"benchmark data not found at {path}; set MAAT_DATA")
    return path
