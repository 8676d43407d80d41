"""Fit time with the calibration window errors kept between the two passes, or not.

When ``top_channels`` is below the channel count, ``fit`` needs the window
errors twice: for the channel scale, then for the top-k scores. It keeps them
from the first pass (up to ``_CALIBRATION_CACHE_BYTES``); a budget of 0 makes
it run the network again, as before. Same paper-size detector and synthetic
series as ``speed.py``, the two settings alternating, median of the repeats::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/calibration_speed.py
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import speed  # noqa: E402

import maat_detector._detector as detector_module  # noqa: E402

SETTINGS = {
    "two passes": 0,
    "kept errors": detector_module._CALIBRATION_CACHE_BYTES,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, _ = speed.make_series(args.rows)
    seconds = {name: [] for name in SETTINGS}
    for repeat in range(args.repeats):
        for name, budget in SETTINGS.items():
            detector_module._CALIBRATION_CACHE_BYTES = budget
            det = speed.maat_detector(args.batch_size)
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
    main()
