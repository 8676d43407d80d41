"""OpenMP's wait policy: defaulted at import, a hint where it cannot be."""

import os
import subprocess
import sys

import pytest

FIT = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
{imports}
import numpy as np
torch.set_num_threads(2)
X = np.random.default_rng(0).standard_normal((200, 2))
params = dict(win_size=20, d_model=8, n_heads=2, e_layers=1, d_ff=8, epochs=1,
              block_size=5, random_state=0)
for _ in range(2):
    maat_detector.MAATDetector(**params).fit(X)
print("policy:", os.environ.get("OMP_WAIT_POLICY"))
"""


def _run(imports, **env):
    unset = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    clean.update(env)
    code = FIT.format(imports="import os\n" + imports)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize(
    ("imports", "env", "hints", "policy"),
    [
        ("import torch\nimport maat_detector", {}, 1, "None"),
        ("import maat_detector\nimport torch", {}, 0, "PASSIVE"),
        (
            "import torch\nimport maat_detector",
            {"OMP_WAIT_POLICY": "ACTIVE"},
            0,
            "ACTIVE",
        ),
    ],
    ids=["torch-first", "package-first", "policy-set"],
)
def test_spinning_openmp_is_named_once_where_the_import_order_caused_it(
    imports, env, hints, policy
):
    out = _run(imports, **env)
    assert out.count("OMP_WAIT_POLICY=PASSIVE") == hints
    assert f"policy: {policy}" in out
