"""CPU speed of MAATDetector against PyOD's AnomalyTransformer, and FLOP use.

One process, one seeded synthetic series (``--rows`` train and test rows, 25
channels) for every system. Both models at the paper's size: window 100,
d_model 512, 3 layers, 8 heads; MAAT's d_ff is 512, PyOD's feed-forward is
fixed at 4 * d_model = 2048 (its constructor has no d_ff), so the two differ
in FLOPs per window and the utilisation column, not points/s, is the
like-for-like figure. One epoch, ``--batch-size`` windows per training batch,
training and scoring stride 100 (``train_step`` / ``score_step`` for MAAT,
``step`` for PyOD).

- ``maat``: ``MAATDetector(train_step=100, max_train_windows=None, epochs=1,
  validation_fraction=0.0, n_iter_no_change=None, score_step=100,
  score_mode="paper")``: the paper's energy, as PyOD scores
  (``--score-mode reconstruction`` times the default's score instead, which
  leaves the association's prior and KL terms out). Its fit trains
  on every window and calibrates the threshold on the same rows. The default
  ``scan_backend="auto"``: the compiled CPU scan where the install built it
  (the report names the scan each MAAT row ran).
- ``maat_bf16``: the same with ``precision="bfloat16"`` (``--precisions``;
  autocast for the forward passes of training and scoring). Same FLOPs as
  ``maat``; its utilisation is given against both the fp32 and the bf16
  matmul rate.
- ``maat_torch``: ``maat`` with ``scan_backend="torch"``, the pure-PyTorch
  scan that runs where no compiler was present at install
  (``--scan-backends auto,torch``).
- ``pyod``: ``AnomalyTransformer(window_size=100, d_model=512, n_heads=8,
  n_layers=3, epochs=1, step=100, dropout=0.0)``. Its fit trains (two forward
  and backward passes per batch, its minimise and maximise phases) and scores
  the training windows (batch 64, fixed in PyOD).
- ``pyod_reuse``: ``pyod`` run inside ``maat_detector._memory.reusing_freed_memory``,
  the malloc settings MAATDetector applies to its own fit and scoring (freed
  large blocks reused instead of unmapped and page-faulted in again), so the
  comparison can also be made with the same allocator behaviour on both sides.

Systems are timed alternately within each repeat, so a busy phase of the
shared machine hits all of them; the tables give medians. Each repeat also
times ``torch.mm`` (2048 x 2048, and the model's widest Linear shape), the
machine's fp32 matmul rate at that moment, and the same in bfloat16.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` on one
batch (matmuls, convolutions, bmm: elementwise work is not counted): the
forward for scoring, the forward, losses and backward for training. Fit
FLOPs = training windows x training FLOPs per window + calibration windows x
forward FLOPs per window. Utilisation = counted FLOPs / wall time / the
2048^2 matmul rate.

Peak memory (``--memory``): one subprocess per system fits and scores once;
the figure is its peak resident set (``ru_maxrss``) minus its resident set
just before the fit (all allocations, not only torch's).

The stride table times MAAT scoring at strides 1, 10, 25 and 100. Strides
below 100 score a prefix of the test rows holding ``--stride-windows``
windows (say so in the table), not all rows.

The selective scan's per-step loop is many small OpenMP regions; on an
oversubscribed machine libgomp's default spin-waiting makes two threads
several times slower than one. ``--omp-probe`` times one training batch and
one scoring batch in subprocesses with ``OMP_WAIT_POLICY`` unset and
``PASSIVE``. The run records the policy it ran under.

Usage::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/speed/speed.py     # full run
    python benchmarks/speed/speed.py --rows 4000 --repeats 1 --out /tmp/speed_quick

Writes ``benchmarks/results/speed/speed.json`` and ``.md`` (``--out``).
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common  # noqa: E402

from maat_detector import MAATDetector, __version__  # noqa: E402
from maat_detector._memory import reusing_freed_memory  # noqa: E402
from maat_detector.engine.score import SCORE_MODES  # noqa: E402
from maat_detector.nn import (  # noqa: E402
    MAAT,
    MAATConfig,
    minimax_loss,
    window_components,
)

OUT = _common.RESULTS / "speed" / "speed"
WIN, D_MODEL, N_HEADS, LAYERS, D_FF, CHANNELS, STRIDE = 100, 512, 8, 3, 512, 25, 100


def make_series(rows, seed=0):
    """Train and test series (rows, 25): sines of mixed periods plus noise."""
    return _common.make_series(rows, CHANNELS, seed)


def maat_detector(
    batch_size, precision="float32", scan_backend="auto", score_mode="paper"
):
    return MAATDetector(
        win_size=WIN,
        d_model=D_MODEL,
        n_heads=N_HEADS,
        e_layers=LAYERS,
        d_ff=D_FF,
        epochs=1,
        batch_size=batch_size,
        train_step=STRIDE,
        max_train_windows=None,
        score_step=STRIDE,
        score_mode=score_mode,
        validation_fraction=0.0,
        n_iter_no_change=None,
        device="cpu",
        scan_backend=scan_backend,
        random_state=0,
        precision=precision,
    )


def pyod_detector(batch_size):
    from pyod.models.ts_anomaly_transformer import AnomalyTransformer

    return AnomalyTransformer(
        window_size=WIN,
        d_model=D_MODEL,
        n_heads=N_HEADS,
        n_layers=LAYERS,
        epochs=1,
        batch_size=batch_size,
        step=STRIDE,
        dropout=0.0,
        contamination=0.005,
        device="cpu",
    )


def fit_and_score(system, batch_size, train, test, score_mode="paper"):
    """(fit seconds, score seconds, fitted detector)."""
    if system.startswith("maat"):
        precision = "bfloat16" if system == "maat_bf16" else "float32"
        backend = "torch" if system == "maat_torch" else "auto"
        det = maat_detector(batch_size, precision, backend, score_mode)
    else:
        det = pyod_detector(batch_size)
    # pyod_reuse: PyOD under the malloc settings MAATDetector uses itself.
    reuse = reusing_freed_memory() if system == "pyod_reuse" else nullcontext()
    with reuse:
        began = time.perf_counter()
        det.fit(train)
        fit_s = time.perf_counter() - began
        began = time.perf_counter()
        if system.startswith("maat"):
            det.anomaly_score(test)
        else:
            det.decision_function(test)
    return fit_s, time.perf_counter() - began, det


def matmul_rates(repeats=5, bf16=True):
    """GFLOP/s of torch.mm: 2048^2, and (B*L, d) @ (d, 2 Di) as in Mamba.

    fp32, and with ``bf16`` bfloat16 (``_bf16`` keys; AMX or AVX512-BF16 where
    present). Without native bfloat16 those products take tens of seconds
    each, so they are measured only when a bfloat16 row is timed.
    """
    rates = {}
    shapes = {"mm_2048": (2048, 2048, 2048), "mm_model": (128 * WIN, D_MODEL, 2048)}
    dtypes = [("", torch.float32)] + ([("_bf16", torch.bfloat16)] if bf16 else [])
    for suffix, dtype in dtypes:
        for name, (m, k, n) in shapes.items():
            a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
            a @ b
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                a @ b
                times.append(time.perf_counter() - began)
            rates[name + suffix] = 2 * m * k * n / statistics.median(times) / 1e9
    return rates


def paper_model(**config):
    """The paper-size network (window 100, d_model 512, 3 layers, 8 heads)."""
    return MAAT(
        MAATConfig(
            n_features=CHANNELS,
            win_size=WIN,
            d_model=D_MODEL,
            n_heads=N_HEADS,
            e_layers=LAYERS,
            d_ff=D_FF,
            **config,
        )
    )


def count_flops(batch_size):
    """Counted FLOPs per window: forward and training step, both systems."""
    torch.manual_seed(0)
    model = paper_model()
    x = torch.randn(batch_size, WIN, CHANNELS)
    flops = {}
    model.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        window_components(x, *model(x), 50.0)
    flops["maat_forward"] = counter.get_total_flops() / batch_size
    model.train()
    with FlopCounterMode(display=False) as counter:
        reconstruction, associations = model(x)
        minimax_loss(x, reconstruction, associations, 3.0)["objective"].backward()
    flops["maat_train"] = corrected_total(counter) / batch_size

    from pyod.models import ts_anomaly_transformer as pat

    det = pyod_detector(batch_size)
    det.model_ = pat._AnomalyTransformerModel(
        n_channels=CHANNELS,
        window_size=WIN,
        d_model=D_MODEL,
        n_heads=N_HEADS,
        n_layers=LAYERS,
        dropout=0.0,
    )
    windows = np.random.default_rng(0).standard_normal((batch_size, WIN, CHANNELS))
    with FlopCounterMode(display=False) as counter:
        pat._score_windows(
            det.model_,
            torch.tensor(windows, dtype=torch.float32),
            torch.device("cpu"),
            WIN,
        )
    flops["pyod_forward"] = counter.get_total_flops() / batch_size
    with FlopCounterMode(display=False) as counter:
        det._train(windows, torch.device("cpu"))  # one batch: both phases
    flops["pyod_train"] = corrected_total(counter) / batch_size
    return flops


def corrected_total(counter):
    """Total FLOPs, with convolution backward counted as 2x its forward.

    FlopCounterMode's convolution_backward formula ignores ``groups``, so
    Mamba's depthwise conv1d (groups = Di = 1024) would count ~1000x its
    cost (2.6 GFLOP per window, more than the attention layers).
    """
    counts = counter.get_flop_counts()["Global"]
    total = sum(counts.values())
    conv_bwd = sum(v for k, v in counts.items() if "convolution_backward" in str(k))
    conv_fwd = sum(v for k, v in counts.items() if str(k).endswith("convolution"))
    return total - conv_bwd + 2 * conv_fwd


def n_windows(rows, step=STRIDE):
    """Windows of a stride-``step`` grid (training: no end-aligned extra)."""
    return (rows - WIN) // step + 1


def fit_flops(system, flops, rows):
    train = n_windows(rows)
    if system.startswith("maat"):
        # calibration scores the grid plus the end-aligned window, if any
        calib = train + (1 if (train - 1) * STRIDE + WIN < rows else 0)
        return train * flops["maat_train"] + calib * flops["maat_forward"]
    return train * (flops["pyod_train"] + flops["pyod_forward"])


def score_windows(system, rows, step=STRIDE):
    grid = n_windows(rows, step)
    if system.startswith("maat") and (grid - 1) * step + WIN < rows:
        return grid + 1
    return grid


def child_memory(system, rows, batch_size, threads, score_mode):
    """Run in a subprocess: print ru_maxrss growth (MiB) over one fit+score."""
    torch.set_num_threads(threads)
    train, test = make_series(rows)
    # ru_maxrss survives exec (a child starts at its parent's high-water
    # mark), so the baseline is the current resident set, read from /proc;
    # the parent spawns these children before its own heavy work.
    before = current_rss_kib()
    fit_and_score(system, batch_size, train, test, score_mode)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"rss_before_mib": before / 1024, "peak_delta_mib": (after - before) / 1024}
        )
    )


def current_rss_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_probe(batch_size, threads):
    """Run in a subprocess: seconds of one training and one scoring batch."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = paper_model()
    x = torch.randn(batch_size, WIN, CHANNELS)
    out = {}
    for _ in range(2):  # the second pass is the one reported
        model.train()
        began = time.perf_counter()
        rec, assoc = model(x)
        minimax_loss(x, rec, assoc, 3.0)["objective"].backward()
        out["train_s"] = time.perf_counter() - began
        model.eval()
        began = time.perf_counter()
        with torch.inference_mode():
            window_components(x, *model(x), 50.0)
        out["score_s"] = time.perf_counter() - began
    print(json.dumps(out))


def run_child(args_list, env=None):
    proc = subprocess.run(
        [sys.executable, __file__, *args_list],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_parser():
    p = _common.parser(__doc__, out=OUT, threads=2, repeats=3)
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--strides", default="1,10,25,100")
    p.add_argument("--stride-windows", type=int, default=128)
    p.add_argument("--no-pyod", action="store_true")
    p.add_argument(
        "--precisions",
        default="float32,bfloat16",
        help="MAAT rows to time: float32 (maat), bfloat16 (maat_bf16)",
    )
    p.add_argument(
        "--scan-backends",
        default="auto",
        help="auto (the maat rows), torch (adds maat_torch: the PyTorch scan, fp32)",
    )
    p.add_argument(
        "--score-mode",
        default="paper",
        choices=list(SCORE_MODES),
        help="MAAT's score_mode (paper: the energy, as PyOD scores; "
        "reconstruction: the default)",
    )
    p.add_argument("--memory", action="store_true")
    p.add_argument("--omp-probe", action="store_true")
    p.add_argument("--probe-batch", type=int, default=32)
    p.add_argument(
        "--child",
        choices=["maat", "maat_bf16", "maat_torch", "pyod", "pyod_reuse", "probe"],
        help=argparse.SUPPRESS,
    )
    return p


def systems_to_time(args):
    """The rows of the table, in order: MAAT precisions, torch scan, PyOD."""
    names = {"float32": "maat", "bfloat16": "maat_bf16"}
    systems = [names[p] for p in args.precisions.split(",")]
    if "torch" in args.scan_backends.split(","):
        systems.append("maat_torch")
    return systems + ([] if args.no_pyod else ["pyod", "pyod_reuse"])


def measure_memory(systems, args):
    """Peak RSS growth of one fit and score per system, each in a subprocess."""
    memory = {}
    for system in systems:
        memory[system] = run_child(
            [
                "--child",
                system,
                "--rows",
                str(args.rows),
                "--batch-size",
                str(args.batch_size),
                "--threads",
                str(args.threads),
                "--score-mode",
                args.score_mode,
            ]
        )
    print("peak memory:", memory, flush=True)
    return memory


def time_systems(systems, args, train, test):
    """Fit and score every system per repeat, alternating; matmul rates too.

    Returns ``(times, rates, loads, scans, fitted)``: seconds per system and
    phase, matmul rates and load averages per repeat, the scan each MAAT row
    ran and the fitted fp32 MAAT detector (for the stride table).
    """
    # Warm-up (allocator, MKL, oneDNN primitives), untimed.
    for system in systems:
        fit_and_score(
            system, args.batch_size, train[: 3 * WIN], test[: 3 * WIN], args.score_mode
        )
    times = {s: {"fit": [], "score": []} for s in systems}
    rates, loads, fitted, scans = [], [], None, {}
    for repeat in range(args.repeats):
        rates.append(matmul_rates(bf16="maat_bf16" in systems))
        for system in systems:
            fit_s, score_s, det = fit_and_score(
                system, args.batch_size, train, test, args.score_mode
            )
            times[system]["fit"].append(fit_s)
            times[system]["score"].append(score_s)
            if _family(system) == "maat":
                scans[system] = det.scan_backend_
            if system == systems[0]:
                fitted = det
        loads.append(os.getloadavg()[0])
        print(
            f"repeat {repeat}: mm {rates[-1]['mm_2048']:.1f} GFLOP/s, "
            + ", ".join(
                f"{s} fit {times[s]['fit'][-1]:.1f}s score {times[s]['score'][-1]:.1f}s"
                for s in systems
            )
            + f", load {loads[-1]:.1f}",
            flush=True,
        )
    return times, rates, loads, scans, fitted


def time_strides(fitted, args, test, flops, mm):
    """MAAT scoring seconds at each stride, alternating within each repeat."""
    strides = [int(s) for s in args.strides.split(",")]
    stride_rows = {
        s: args.rows
        if s >= WIN
        else min(args.rows, WIN + s * (args.stride_windows - 1))
        for s in strides
    }
    stride_times = {s: [] for s in strides}
    for _ in range(args.repeats):
        for s in strides:
            fitted.set_params(score_step=s)
            began = time.perf_counter()
            fitted.anomaly_score(test[: stride_rows[s]])
            stride_times[s].append(time.perf_counter() - began)
    fitted.set_params(score_step=STRIDE)
    table = []
    for s in strides:
        sec = statistics.median(stride_times[s])
        windows = score_windows("maat", stride_rows[s], s)
        gflop = windows * flops["maat_forward"] / 1e9
        table.append(
            {
                "stride": s,
                "rows": stride_rows[s],
                "subset": stride_rows[s] < args.rows,
                "windows": windows,
                "seconds": sec,
                "points_per_s": stride_rows[s] / sec,
                "windows_per_s": windows / sec,
                "gflop_per_s": gflop / sec,
                "utilisation": gflop / sec / mm,
            }
        )
    return table


def omp_probe(args):
    """One training and one scoring batch with OMP_WAIT_POLICY unset and PASSIVE."""
    probe = {}
    for _ in range(2):
        for policy in ("unset", "PASSIVE"):
            env = dict(os.environ)
            env.pop("OMP_WAIT_POLICY", None)
            if policy != "unset":
                env["OMP_WAIT_POLICY"] = policy
            out = run_child(
                [
                    "--child",
                    "probe",
                    "--probe-batch",
                    str(args.probe_batch),
                    "--threads",
                    str(args.threads),
                ],
                env=env,
            )
            for key, value in out.items():
                probe.setdefault(policy, {}).setdefault(key, []).append(value)
    return {
        p: {k: statistics.median(v) for k, v in d.items()} for p, d in probe.items()
    }


def system_results(systems, times, scans, flops, rates, rows):
    """Median seconds, points/s, GFLOP/s and utilisation per system."""
    mm = statistics.median(r["mm_2048"] for r in rates)
    mm_bf16 = None
    if "mm_2048_bf16" in rates[0]:
        mm_bf16 = statistics.median(r["mm_2048_bf16"] for r in rates)
    results = {}
    for system in systems:
        fit_s = statistics.median(times[system]["fit"])
        score_s = statistics.median(times[system]["score"])
        f_flops = fit_flops(system, flops, rows)
        s_flops = score_windows(system, rows) * flops[f"{_family(system)}_forward"]
        results[system] = {
            "fit_s": fit_s,
            "score_s": score_s,
            "fit_s_all": times[system]["fit"],
            "score_s_all": times[system]["score"],
            "fit_points_per_s": rows / fit_s,
            "score_points_per_s": rows / score_s,
            "fit_gflop": f_flops / 1e9,
            "score_gflop": s_flops / 1e9,
            "fit_gflop_per_s": f_flops / fit_s / 1e9,
            "score_gflop_per_s": s_flops / score_s / 1e9,
            "fit_utilisation": f_flops / fit_s / 1e9 / mm,
            "score_utilisation": s_flops / score_s / 1e9 / mm,
        }
        if mm_bf16 is not None:
            results[system]["fit_utilisation_of_bf16_rate"] = (
                f_flops / fit_s / 1e9 / mm_bf16
            )
            results[system]["score_utilisation_of_bf16_rate"] = (
                s_flops / score_s / 1e9 / mm_bf16
            )
        if system in scans:
            results[system]["scan_backend_"] = scans[system]
    return results


def ratios(results):
    """MAAT rows over PyOD rows, and bf16 / torch-scan MAAT over fp32 MAAT."""
    out = {"ratio_maat_over_pyod": {}}
    keys = ("fit_points_per_s", "score_points_per_s")
    for system in results:
        for pyod in ("pyod", "pyod_reuse"):
            if _family(system) == "pyod" or pyod not in results:
                continue
            out["ratio_maat_over_pyod"][f"{system} / {pyod}"] = {
                k: results[system][k] / results[pyod][k] for k in keys
            }
    for other in ("maat_bf16", "maat_torch"):
        if "maat" in results and other in results:
            out[f"ratio_{other}_over_maat"] = {
                k: results[other][k] / results["maat"][k] for k in keys
            }
    return out


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.child == "probe":
        return child_probe(args.probe_batch, args.threads)
    if args.child:
        return child_memory(
            args.child, args.rows, args.batch_size, args.threads, args.score_mode
        )

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    systems = systems_to_time(args)
    # Memory first, while this process is still small (see child_memory).
    memory = measure_memory(systems, args) if args.memory else {}
    train, test = make_series(args.rows)
    flops = count_flops(args.batch_size)
    print(
        "FLOPs per window (G):",
        {k: round(v / 1e9, 3) for k, v in flops.items()},
        flush=True,
    )
    times, rates, loads, scans, fitted = time_systems(systems, args, train, test)
    mm = {
        key: statistics.median(r[key] for r in rates)
        for key in ("mm_2048", "mm_model", "mm_2048_bf16", "mm_model_bf16")
        if key in rates[0]
    }
    stride_table = time_strides(fitted, args, test, flops, mm["mm_2048"])
    report = {
        "command": _common.command_line(__file__, argv),
        "config": {
            "rows_train": args.rows,
            "rows_test": args.rows,
            "channels": CHANNELS,
            "win_size": WIN,
            "d_model": D_MODEL,
            "n_heads": N_HEADS,
            "layers": LAYERS,
            "maat_d_ff": D_FF,
            "pyod_d_ff": 4 * D_MODEL,
            "epochs": 1,
            "batch_size": args.batch_size,
            "score_mode": args.score_mode,
            "pyod_score_batch": 64,
            "train_stride": STRIDE,
            "score_stride": STRIDE,
            "maat_validation_fraction": 0.0,
            "threads": args.threads,
            "repeats": args.repeats,
            "stride_table_system": systems[0],
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
        },
        "versions": {
            "maat_detector": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_1min_per_repeat": loads,
            "loadavg_after": os.getloadavg(),
        },
        "run": _common.run_info(),
        "matmul_gflop_per_s": {**mm, "all": rates},
        "flops_per_window_g": {k: v / 1e9 for k, v in flops.items()},
        "results": system_results(systems, times, scans, flops, rates, args.rows),
        "strides": stride_table,
        "peak_memory_ru_maxrss_delta_mib": memory,
        "omp_probe_s": omp_probe(args) if args.omp_probe else {},
    }
    report.update(ratios(report["results"]))
    markdown = to_markdown(report)
    _common.write_results(args.out, report, markdown)
    print(markdown)


def _family(system):
    """Whose FLOP counts a system's row uses: "maat" or "pyod"."""
    return "maat" if system.startswith("maat") else "pyod"


def _scan_note(res):
    scan = res.get("scan_backend_")
    return "" if scan is None else f" ({scan} scan)"


def _util(res, phase):
    fp32 = f"{100 * res[phase + '_utilisation']:.0f}%"
    bf16 = res.get(phase + "_utilisation_of_bf16_rate")
    return fp32 if bf16 is None else f"{fp32} [{100 * bf16:.0f}%]"


def to_markdown(r):
    c, m = r["config"], r["machine"]
    mm, nan = r["matmul_gflop_per_s"], float("nan")
    lines = [
        f"Synthetic series, {c['rows_train']} train and {c['rows_test']} test rows x "
        f"{c['channels']} channels (seeded). Window {c['win_size']}, d_model "
        f"{c['d_model']}, {c['layers']} layers, {c['n_heads']} heads; d_ff MAAT "
        f"{c['maat_d_ff']}, PyOD {c['pyod_d_ff']} (fixed 4 d_model). One epoch, batch "
        f"{c['batch_size']} (PyOD scores in batches of {c['pyod_score_batch']}), "
        f"training and scoring stride {c['train_stride']}; MAAT "
        f"validation_fraction=0.0 (calibrates on the training rows), "
        f"score_mode={c.get('score_mode', 'paper')}, "
        f"max_train_windows=None. torch {r['versions']['torch']}, "
        f"{c['threads']} threads, OMP_WAIT_POLICY={c['omp_wait_policy']}, median "
        f"of {c['repeats']} alternating repeats. Load average (1 min) before "
        f"{m['loadavg_before'][0]:.1f}, per repeat "
        + ", ".join(f"{x:.1f}" for x in m["loadavg_1min_per_repeat"])
        + f" on {m['cpu_count']} CPUs: shared machine, treat as indicative.",
        "",
        f"Matmul rates, measured in the same run: torch.mm 2048^2 fp32 "
        f"{mm['mm_2048']:.1f} GFLOP/s, bf16 {mm.get('mm_2048_bf16', nan):.1f}; "
        f"(12800x512)@(512x2048) fp32 {mm['mm_model']:.1f}, bf16 "
        f"{mm.get('mm_model_bf16', nan):.1f} GFLOP/s. Utilisation = counted FLOPs "
        "(FlopCounterMode: matmul, conv, bmm; the same for both precisions) / wall "
        "time / the fp32 2048^2 rate (in brackets: / the bf16 2048^2 rate).",
        "",
        "| system | fit points/s | score points/s | fit GFLOP/s (util. fp32 [bf16]) "
        "| score GFLOP/s (util. fp32 [bf16]) | GFLOP/window fwd / train "
        "| peak RSS delta MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    fpw = r["flops_per_window_g"]
    for name, res in r["results"].items():
        base = _family(name)
        mem = r["peak_memory_ru_maxrss_delta_mib"].get(name, {}).get("peak_delta_mib")
        lines.append(
            f"| {name}{_scan_note(res)} | {res['fit_points_per_s']:.0f} "
            f"| {res['score_points_per_s']:.0f} "
            f"| {res['fit_gflop_per_s']:.1f} ({_util(res, 'fit')}) "
            f"| {res['score_gflop_per_s']:.1f} ({_util(res, 'score')}) "
            f"| {fpw[base + '_forward']:.2f} / {fpw[base + '_train']:.2f} "
            f"| {'-' if mem is None else f'{mem:.0f}'} |"
        )
    for name, ratio in r["ratio_maat_over_pyod"].items():
        lines += [
            "",
            f"Ratio {name} points/s: "
            f"fit {ratio['fit_points_per_s']:.2f}x, "
            f"score {ratio['score_points_per_s']:.2f}x.",
        ]
    maat_scan = r["results"].get("maat", {}).get("scan_backend_", "?")
    for other in ("maat_bf16", "maat_torch"):
        ratio = r.get(f"ratio_{other}_over_maat")
        if ratio:
            lines += [
                "",
                f"Ratio {other} / maat (fp32, {maat_scan} scan) points/s: "
                f"fit {ratio['fit_points_per_s']:.2f}x, "
                f"score {ratio['score_points_per_s']:.2f}x.",
            ]
    lines += [
        "",
        f"MAAT ({c.get('stride_table_system', 'maat')}) scoring by stride "
        "(subset: a prefix of the test rows holding that many windows):",
        "",
        "| stride | rows | windows | points/s | windows/s | GFLOP/s (util.) |",
        "|---|---|---|---|---|---|",
    ]
    for s in r["strides"]:
        rows = f"{s['rows']}{' (subset)' if s['subset'] else ''}"
        lines.append(
            f"| {s['stride']} | {rows} | {s['windows']} "
            f"| {s['points_per_s']:.0f} "
            f"| {s['windows_per_s']:.1f} | {s['gflop_per_s']:.1f} "
            f"({100 * s['utilisation']:.0f}%) |"
        )
    if r["omp_probe_s"]:
        lines += [
            "",
            "OMP_WAIT_POLICY probe (one batch, subprocess, median of 2):",
            "",
            "| OMP_WAIT_POLICY | train step s | score batch s |",
            "|---|---|---|",
        ]
        for policy, d in r["omp_probe_s"].items():
            lines.append(f"| {policy} | {d['train_s']:.2f} | {d['score_s']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
