"""How fit and scoring time grow with the window: MAAT vs PyOD's Anomaly Transformer.

Both models at one size: d_model 128, 4 heads, 2 layers, feed-forward 512
(PyOD's is fixed at 4 * d_model, which is 512 here), batch 8, one epoch,
dropout 0, training and scoring stride equal to the window. One seeded
synthetic series (``_common.make_series``: ``--rows`` training and
``--rows`` test rows, 25 channels), windows 100, 200, 400, 800 and 1600.

- ``maat``: ``MAATDetector(win_size=w, d_model=128, n_heads=4, e_layers=2,
  d_ff=512, batch_size=8, epochs=1, train_step=w, score_step=w,
  max_train_windows=None, validation_fraction=0.0, n_iter_no_change=None)``,
  the rest at its defaults (block attention, forecast objective, the
  compiled scan where the install built it). Its fit trains and calibrates
  the threshold on the training rows.
- ``pyod``: ``AnomalyTransformer(window_size=w, d_model=128, n_heads=4,
  n_layers=2, epochs=1, batch_size=8, step=w, dropout=0.0)``. Its fit trains
  and scores the training windows.

Each (system, window, repeat) runs in a fresh subprocess with ``--threads``
torch threads: it builds the series, fits on the training rows and scores
the test rows (``anomaly_score`` for MAAT, ``decision_function`` for
PyOD). The figures are microseconds per row (wall time / ``--rows``) and
the subprocess's peak resident set (``ru_maxrss``), with its resident set
just before the fit beside it. The systems alternate within each repeat,
so a busy phase of a shared machine hits both; tables give medians.

Writes ``<out>.json`` and ``<out>.md`` and, with matplotlib, a log-log
plot: the docs' figure when ``--out`` is left at its default, else only
where ``--plot`` says (a partial sweep must not replace the docs' figure).

Usage::

    python benchmarks/speed/window_sweep.py                  # full sweep
    python benchmarks/speed/window_sweep.py --rows 4000 --windows 100 400
"""

import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common  # noqa: E402

WINDOWS = (100, 200, 400, 800, 1600)
SYSTEMS = ("maat", "pyod")
SIZE = {"d_model": 128, "n_heads": 4, "layers": 2, "d_ff": 512, "batch_size": 8}


def _rss_bytes():
    # Resident set now, from /proc (Linux); None elsewhere.
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def build(system, window):
    """The detector ``system`` at the sweep's size for ``window``."""
    if system == "maat":
        from maat_detector import MAATDetector

        return MAATDetector(
            win_size=window,
            d_model=SIZE["d_model"],
            n_heads=SIZE["n_heads"],
            e_layers=SIZE["layers"],
            d_ff=SIZE["d_ff"],
            batch_size=SIZE["batch_size"],
            epochs=1,
            train_step=window,
            score_step=window,
            max_train_windows=None,
            validation_fraction=0.0,
            n_iter_no_change=None,
            random_state=0,
        )
    from pyod.models.ts_anomaly_transformer import AnomalyTransformer

    return AnomalyTransformer(
        window_size=window,
        d_model=SIZE["d_model"],
        n_heads=SIZE["n_heads"],
        n_layers=SIZE["layers"],
        epochs=1,
        batch_size=SIZE["batch_size"],
        step=window,
        dropout=0.0,
    )


def run_one(system, window, rows, threads):
    """Fit and score once in this process; the measurement as a dict."""
    import torch

    _common.set_threads(threads)
    torch.manual_seed(0)
    train, test = _common.make_series(rows)
    detector = build(system, window)
    rss_before = _rss_bytes()
    began = time.perf_counter()
    detector.fit(train)
    fit_s = time.perf_counter() - began
    began = time.perf_counter()
    if system == "maat":
        scores = detector.anomaly_score(test)
    else:
        scores = detector.decision_function(test)
    score_s = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {
        "system": system,
        "window": window,
        "fit_s": fit_s,
        "score_s": score_s,
        "fit_us_per_row": 1e6 * fit_s / rows,
        "score_us_per_row": 1e6 * score_s / rows,
        "peak_rss_mib": peak / 2**20,
        "rss_before_fit_mib": None if rss_before is None else rss_before / 2**20,
        "n_scores": int(len(scores)),
        "scan_backend": getattr(detector, "scan_backend_", None),
    }


def _child(args):
    result = run_one(args.system, args.window, args.rows, args.threads)
    _common.report_to_parent(result)


def _spawn(system, window, args):
    command = [
        sys.executable,
        __file__,
        "--child",
        "--system",
        system,
        "--window",
        str(window),
        "--rows",
        str(args.rows),
        "--threads",
        str(args.threads),
    ]
    return _common.run_child(command, f"{system} at window {window}")


def summarise(runs):
    """Medians per (system, window), and MAAT's speed relative to PyOD."""
    rows = []
    keys = ("fit_us_per_row", "score_us_per_row", "peak_rss_mib", "rss_before_fit_mib")
    for window in sorted({r["window"] for r in runs}):
        row = {"window": window}
        for system in SYSTEMS:
            mine = [r for r in runs if r["system"] == system and r["window"] == window]
            for key in keys:
                values = [r[key] for r in mine if r[key] is not None]
                row[f"{system}_{key}"] = statistics.median(values) if values else None
        for phase in ("fit", "score"):
            maat = row.get(f"maat_{phase}_us_per_row")
            pyod = row.get(f"pyod_{phase}_us_per_row")
            speedup = pyod / maat if maat and pyod else None
            row[f"{phase}_speedup_maat_over_pyod"] = speedup
        rows.append(row)
    return rows


def markdown(result):
    def num(value, digits=1):
        return "n/a" if value is None else f"{value:,.{digits}f}"

    table = _common.md_table(
        [
            "window",
            "MAAT fit µs/row",
            "MAAT score µs/row",
            "PyOD AT fit µs/row",
            "PyOD AT score µs/row",
            "fit: MAAT speed-up",
            "score: MAAT speed-up",
            "MAAT peak RSS MiB",
            "PyOD peak RSS MiB",
        ],
        [
            [
                f"{r['window']:,}",
                num(r["maat_fit_us_per_row"]),
                num(r["maat_score_us_per_row"]),
                num(r["pyod_fit_us_per_row"]),
                num(r["pyod_score_us_per_row"]),
                num(r["fit_speedup_maat_over_pyod"], 2) + "x",
                num(r["score_speedup_maat_over_pyod"], 2) + "x",
                num(r["maat_peak_rss_mib"], 0),
                num(r["pyod_peak_rss_mib"], 0),
            ]
            for r in result["rows"]
        ],
    )
    config = result["config"]
    machine = result["run"]["machine"]
    notes = "\n".join(f"- {n}" for n in result["notes"])
    return f"""# Window sweep: MAAT vs PyOD's Anomaly Transformer

`{result["command"]}`

d_model {SIZE["d_model"]}, {SIZE["n_heads"]} heads, {SIZE["layers"]} layers, \
feed-forward {SIZE["d_ff"]}, batch {SIZE["batch_size"]}, one epoch, stride = window; \
{config["rows"]:,} training + {config["rows"]:,} test rows x 25 channels; \
{config["threads"]} threads; each (system, window) in a fresh process, \
{config["repeats"]} repeat(s), medians. Microseconds per row: fit time / training \
rows, scoring time / test rows. Speed-up: PyOD's time / MAAT's. Peak RSS: \
the process's peak resident set (imports included).

{table}

Machine: {machine["cpu"]} ({machine["cpu_count"]} CPUs), load average \
{result["load_avg_before"]} before and {machine["load_avg"]} after the run; \
torch {result["run"]["torch"]["torch"]}.

{notes}
"""


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    windows = [r["window"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.0, 4.0), constrained_layout=True)
    styles = {
        ("maat", "fit"): ("MAAT fit", "C0", "-", "o"),
        ("maat", "score"): ("MAAT score", "C0", "--", "s"),
        ("pyod", "fit"): ("PyOD AT fit", "C3", "-", "o"),
        ("pyod", "score"): ("PyOD AT score", "C3", "--", "s"),
    }
    for (system, phase), (label, color, line, marker) in styles.items():
        ys = [r[f"{system}_{phase}_us_per_row"] for r in rows]
        ax.plot(windows, ys, line, color=color, marker=marker, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(windows, [f"{w:,}" for w in windows])
    ax.minorticks_off()
    ax.set_xlabel("window length (rows)")
    ax.set_ylabel("microseconds per row")
    ax.set_title(
        f"CPU, {result['config']['threads']} threads: d_model {SIZE['d_model']}, "
        f"{SIZE['layers']} layers, batch {SIZE['batch_size']}",
        fontsize=10,
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    p = _common.parser(
        __doc__, out=_common.RESULTS / "speed" / "window_sweep", threads=2, repeats=1
    )
    p.add_argument("--rows", type=int, default=16_000, help="training (and test) rows")
    p.add_argument("--windows", type=int, nargs="+", default=list(WINDOWS))
    p.add_argument(
        "--plot",
        default=None,
        help="log-log plot path (default: the docs' figure with the default "
        "--out, else none; '' for none)",
    )
    p.add_argument("--note", action="append", default=[], help="a line for the md")
    p.add_argument("--child", action="store_true", help=Path(__file__).name + " only")
    p.add_argument("--system", choices=SYSTEMS)
    p.add_argument("--window", type=int)
    args = p.parse_args(argv)
    if args.plot is None and Path(args.out) == Path(p.get_default("out")):
        args.plot = str(_common.REPO / "docs" / "_static" / "window_sweep.png")
    if args.child:
        return _child(args)

    load_before = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    runs = []
    for repeat in range(args.repeats):
        for i, window in enumerate(args.windows):
            order = SYSTEMS if (repeat + i) % 2 == 0 else SYSTEMS[::-1]
            for system in order:
                run = _spawn(system, window, args)
                run["repeat"] = repeat
                runs.append(run)
                sys.stderr.write(
                    f"{system:5s} window {window:5d}: fit {run['fit_us_per_row']:9.1f}"
                    f" µs/row, score {run['score_us_per_row']:8.1f} µs/row, peak "
                    f"{run['peak_rss_mib']:7.0f} MiB\n"
                )
    result = {
        "command": _common.command_line(__file__, argv),
        "config": {
            "rows": args.rows,
            "windows": args.windows,
            "threads": args.threads,
            "repeats": args.repeats,
            **SIZE,
        },
        "load_avg_before": load_before,
        "run": _common.run_info(),
        "notes": args.note,
        "rows": summarise(runs),
        "runs": runs,
    }
    _common.write_results(args.out, result, markdown(result), rows_key="runs")
    if args.plot:
        plot(result, args.plot)


if __name__ == "__main__":
    main()
