"""Time a fleet of SMD machines: sequential vs local Dask workers vs more threads.

One :class:`~maat_detector.MAATDetector` per SMD machine (the 8 machines in
``<data>/SMD``), fitted on its training rows and scoring its test rows with
:func:`maat_detector.fleet.fit_score_fleet`, one task per machine. Modes:

- ``sequential``: ``n_jobs=1``, 1 torch thread (the baseline);
- ``sequential-2-threads``: ``n_jobs=1``, 2 torch threads per fit;
- ``loky-2``: 2 local worker processes (joblib's default backend), 1 torch
  thread each;
- ``dask-2``: a ``LocalCluster`` of 2 worker processes with 1 thread each on
  loopback, through ``joblib.parallel_config("dask")``, 1 torch thread each.

Worker start-up (spawning processes, importing torch) is timed apart, not in
the mode times: a long-lived cluster pays it once. Every mode first runs once,
untimed, on 600 rows per machine and 16 training windows, to warm up each
process. Modes alternate within each
repeat, so a busy phase of a shared machine hits all of them; the table gives
medians, the CPU seconds the run and its workers used, the load average seen
before and after, and a probe of how much a second process speeds up fixed
work on the machine at that moment. Scores of the parallel
modes are compared with the sequential ones bit for bit.

Data: ``$MAAT_DATA`` or ``../shared/data`` beside the repository. By default
each machine keeps its last 6000 training rows and first 6000 test rows
(``--rows 0`` keeps all) to hold the run to a few minutes.

The network is a small one (``SMALL_CONFIG``) unless ``--config`` gives
``MAATDetector`` parameters as JSON; ``--config '{}'`` is the defaults. The
table gives each mode's throughput in machines an hour.

Usage::

    python benchmarks/speed/fleet.py               # 8 machines, 6000 rows, 2 repeats
    python benchmarks/speed/fleet.py --rows 0 --repeats 1
    # the defaults on whole machines, as a user's fleet runs:
    python benchmarks/speed/fleet.py --config '{}' --rows 0 --machines 4 \
        --repeats 1 --modes loky-2 sequential-2-threads --out ...

Writes ``benchmarks/results/speed/fleet.json`` and ``.md`` (``--out``).
"""

import json
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import joblib
import numpy as np
import psutil
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common  # noqa: E402

from maat_detector import MAATDetector, __version__  # noqa: E402
from maat_detector.datasets import list_entities, load_benchmark_entity  # noqa: E402
from maat_detector.fleet import fit_score_fleet  # noqa: E402

OUT = _common.RESULTS / "speed" / "fleet"
SMALL_CONFIG = dict(
    win_size=100,
    d_model=32,
    n_heads=2,
    e_layers=1,
    d_ff=32,
    epochs=1,
    train_step=50,
    score_step=100,
)
MODES = {
    # name: (n_jobs, backend argument, joblib.parallel_config backend, torch threads)
    "sequential": (1, None, None, 1),
    "sequential-2-threads": (1, None, None, 2),
    "loky-2": (2, "loky", None, 1),
    "dask-2": (None, None, "dask", 1),
}


def load_fleet(data_dir, rows, machines=0):
    train, test = {}, {}
    names = list_entities("SMD", data_dir)
    for name in names[:machines] if machines else names:
        ds = load_benchmark_entity("SMD", name, data_dir)
        train[name] = ds.train[-rows:] if rows else ds.train
        test[name] = ds.test[:rows] if rows else ds.test
    return train, test


def _warm():
    """Import what a task needs, so start-up is not timed with the first mode."""
    import torch  # noqa: F401

    import maat_detector.fleet  # noqa: F401

    return os.getpid()


def start_workers(client):
    """Seconds to start the loky workers and to import in the Dask ones (or None)."""
    began = time.perf_counter()
    joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(_warm)() for _ in range(4))
    loky_s = time.perf_counter() - began
    if client is None:
        return loky_s, None
    began = time.perf_counter()
    client.run(_warm)
    return loky_s, time.perf_counter() - began


def start_cluster():
    """A 2-worker local Dask cluster on loopback, its client and start seconds."""
    from dask.distributed import Client, LocalCluster

    began = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    return cluster, Client(cluster), time.perf_counter() - began


def _spin(n=1500):
    """A fixed amount of single-threaded torch work."""
    torch.set_num_threads(1)
    a = torch.ones(256, 256)
    for _ in range(n):
        a @ a


def probe_parallelism():
    """Throughput of 2 processes over 1 on this machine right now.

    The same two units of work, one after the other in this process, then at
    once in 2 loky workers: about 2 on an idle 2-core machine, about 1 when
    other jobs leave this run one core's worth of CPU time.
    """
    threads = torch.get_num_threads()
    began = time.perf_counter()
    _spin()
    _spin()
    sequential = time.perf_counter() - began
    torch.set_num_threads(threads)
    began = time.perf_counter()
    joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(_spin)() for _ in range(2))
    return sequential / (time.perf_counter() - began)


def run_mode(mode, train, test, config):
    n_jobs, backend, config_backend, threads = MODES[mode]
    context = (
        joblib.parallel_config(config_backend) if config_backend else nullcontext()
    )
    load_before = os.getloadavg()[0]
    cpu_before = cpu_seconds()
    began = time.perf_counter()
    with context:
        _, scores = fit_score_fleet(
            train,
            MAATDetector(**config),
            score_series=test,
            n_jobs=n_jobs,
            backend=backend,
            torch_threads=threads,
        )
    wall = time.perf_counter() - began
    cpu = cpu_seconds() - cpu_before
    return wall, cpu, load_before, os.getloadavg()[0], scores


def cpu_seconds():
    """CPU seconds used so far by this process and its workers (children)."""
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def markdown(record):
    rows = record["modes"]
    # The first mode is the reference when the sequential one did not run.
    base_mode = "sequential" if "sequential" in rows else next(iter(rows))
    base = rows[base_mode]["median_s"]
    lines = [
        f"{record['n_series']} SMD machines, {record['rows_note']}; MAATDetector "
        f"{record['config_note']}; torch {record['torch']}, "
        f"{record['cpu_count']} CPUs, median of {record['repeats']} repeat(s).",
        "",
        f"| mode | workers x torch threads | wall (s) | machines/hour "
        f"| speed-up over {base_mode} | CPU (s) "
        "| identical scores | load avg before-after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        loads = " / ".join(
            f"{a:.1f}-{b:.1f}"
            for a, b in zip(row["load_before"], row["load_after"], strict=True)
        )
        identical = row["identical_to_sequential"]
        lines.append(
            f"| {name} | {row['workers']} x {row['threads']} | {row['median_s']:.1f} "
            f"| {3600 * record['n_series'] / row['median_s']:.1f} "
            f"| {base / row['median_s']:.2f}x | {row['median_cpu_s']:.1f} "
            f"| {'-' if identical is None else identical} "
            f"| {loads} |"
        )
    startup = record["startup_s"]
    dask = ""
    if startup["dask_cluster"] is not None:
        dask = (
            f", Dask cluster {startup['dask_cluster']:.1f} s + imports "
            f"{startup['dask_imports']:.1f} s"
        )
    lines += [
        "",
        f"Worker start-up, not in the times above: loky {startup['loky']:.1f} s{dask}.",
        "",
        "Parallelism probe (2 processes vs 1 on fixed torch work; 2.0 on an "
        "idle 2-core machine): "
        + " before, ".join(
            f"{x:.2f}x" for x in record["parallelism_probe_before_after"]
        )
        + " after the runs.",
        "",
    ]
    if "sequential" in rows:
        lines += [
            "Identical scores: bit for bit equal to the sequential mode's. Another "
            "torch thread count may change the last bits (float sums split "
            "differently); the same count on any backend gives the same bits.",
            "",
        ]
    lines += [
        "CPU (s): user + system seconds of this process and its worker "
        "processes during the mode. The machine is shared with other jobs (see "
        f"the load averages; it has {record['cpu_count']} cores): treat the times "
        "as indicative only.",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = _common.parser(__doc__, out=OUT, threads=None, repeats=2, data_dir=True)
    parser.add_argument(
        "--rows",
        type=int,
        default=6000,
        help="last training / first test rows per machine; 0 = all",
    )
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument(
        "--machines", type=int, default=0, help="first N SMD machines; 0 = all"
    )
    parser.add_argument(
        "--config",
        type=json.loads,
        default=SMALL_CONFIG,
        help="MAATDetector parameters as JSON ('{}': the defaults; "
        "default: a small network)",
    )
    args = parser.parse_args(argv)
    config = {**args.config, "random_state": 0}
    args.data_dir = _common.resolve_data_dir(args.data_dir)

    train, test = load_fleet(args.data_dir, args.rows, args.machines)
    # Only the dask mode needs a cluster; its two idle workers would hold
    # memory through the other modes.
    cluster = client = cluster_s = None
    if "dask-2" in args.modes:
        cluster, client, cluster_s = start_cluster()
    loky_s, dask_imports_s = start_workers(client)

    # One untimed pass of every mode on a small slice: first calls in a
    # process (allocator, kernel selection) are not what a long-lived fleet pays.
    # A few training windows are enough to warm up, whatever the config's size.
    small_train = {k: v[-600:] for k, v in train.items()}
    small_test = {k: v[:600] for k, v in test.items()}
    warm_config = {**config, "epochs": 1, "max_train_windows": 16}
    for mode in args.modes:
        run_mode(mode, small_train, small_test, warm_config)

    parallelism = [probe_parallelism()]
    times = {m: [] for m in args.modes}
    cpu = {m: [] for m in args.modes}
    loads = {m: ([], []) for m in args.modes}
    scores = {}
    try:
        for _ in range(args.repeats):
            for mode in args.modes:
                seconds, cpu_s, before, after, scores[mode] = run_mode(
                    mode, train, test, config
                )
                times[mode].append(seconds)
                cpu[mode].append(cpu_s)
                loads[mode][0].append(before)
                loads[mode][1].append(after)
                print(
                    f"{mode}: {seconds:.1f} s, CPU {cpu_s:.1f} s "
                    f"(load {before:.1f} -> {after:.1f})",
                    flush=True,
                )
        parallelism.append(probe_parallelism())
    finally:
        if cluster is not None:
            client.close()
            cluster.close()

    reference = scores.get("sequential")
    modes = {}
    for mode in args.modes:
        n_jobs, _, _, threads = MODES[mode]
        identical = None
        if reference is not None:
            identical = all(
                np.array_equal(scores[mode][k], reference[k]) for k in train
            )
        modes[mode] = {
            "workers": 1 if n_jobs == 1 else 2,
            "threads": threads,
            "seconds": times[mode],
            "median_s": statistics.median(times[mode]),
            "cpu_seconds": cpu[mode],
            "median_cpu_s": statistics.median(cpu[mode]),
            "identical_to_sequential": identical,
            "load_before": loads[mode][0],
            "load_after": loads[mode][1],
        }
    n_rows = {k: [len(train[k]), len(test[k])] for k in train}
    record = {
        "command": _common.command_line(__file__, argv),
        "n_series": len(train),
        "series_rows_train_test": n_rows,
        "rows_note": (
            f"last {args.rows} training and first {args.rows} test rows each"
            if args.rows
            else "all rows"
        ),
        "config": config,
        "config_note": ", ".join(f"{k}={v}" for k, v in config.items())
        if args.config
        else "defaults, random_state=0",
        "repeats": args.repeats,
        "modes": modes,
        "startup_s": {
            "loky": loky_s,
            "dask_cluster": cluster_s,
            "dask_imports": dask_imports_s,
        },
        "parallelism_probe_before_after": parallelism,
        "cpu_count": joblib.cpu_count(),
        "torch": torch.__version__,
        "maat_detector": __version__,
        "platform": platform.platform(),
        "shared_machine": True,
        "run": _common.run_info(),
    }
    table = markdown(record)
    print(table)
    _common.write_results(args.out, record, table)


if __name__ == "__main__":
    sys.exit(main())
