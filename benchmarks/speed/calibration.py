"""Fit time with the calibration window errors kept between the two passes, or not.

When ``top_channels`` is below the channel count, ``fit`` needs the window
errors twice: for the channel scale, then for the top-k scores. It keeps them
from the first pass when they fit in scikit-learn's ``working_memory``; a
budget of 0 makes it run the network again. Same paper-size detector and synthetic
series as ``speed.py``, the two settings alternating, median of the repeats::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/speed/calibration.py

Prints its timings; it writes no results file.
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import speed  # noqa: E402
from sklearn import config_context  # noqa: E402

# scikit-learn's working_memory (MiB) bounds the kept errors: 0 keeps none.
SETTINGS = {
    "two passes": 0,
    "kept errors": None,  # scikit-learn's default working_memory
}


def main(argv=None):
    parser = _common.parser(__doc__, threads=2, repeats=3)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train, _ = speed.make_series(args.rows)
    seconds = {name: [] for name in SETTINGS}
    for repeat in range(args.repeats):
        for name, budget in SETTINGS.items():
            det = speed.maat_detector(args.batch_size)
            with config_context(working_memory=budget):
                began = time.perf_counter()
                det.fit(train)
                seconds[name].append(time.perf_counter() - began)
            print(
                f"repeat {repeat} {name}: fit {seconds[name][-1]:.2f} s, "
                f"threshold {det.threshold_:.6g}",
                flush=True,
            )
    for name, values in seconds.items():
        print(f"{name}: median fit {statistics.median(values):.2f} s")


if __name__ == "__main__":
    sys.exit(main())
