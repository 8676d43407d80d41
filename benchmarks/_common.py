"""What every benchmark script shares: command line, run metadata, output files.

A script builds its parser with :func:`parser` (``--out``, ``--threads`` and,
where asked, ``--repeats`` and ``--data-dir``), applies the thread limit with
:func:`set_threads`, collects :func:`run_info` (machine, git, torch) and
writes its results with :func:`write_results` (``<out>.json`` and
``<out>.md``). :func:`make_series` is the synthetic series the speed
scripts time. Import it from a script under ``benchmarks/`` with::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import _common
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
RESULTS = BENCHMARKS / "results"

__all__ = [
    "BENCHMARKS",
    "REPO",
    "RESULTS",
    "command_line",
    "git_info",
    "machine_info",
    "make_series",
    "parser",
    "read_jsonl",
    "report_to_parent",
    "resolve_data_dir",
    "run_child",
    "run_info",
    "set_threads",
    "to_json",
    "torch_info",
    "write_results",
]


# ------------------------------------------------------------------ command line


def parser(doc, *, out=None, threads=1, repeats=None, data_dir=False):
    """An ``ArgumentParser`` with the options the scripts share.

    Parameters
    ----------
    doc : str
        The script's module docstring; its first line is the description and
        the rest is shown after the options.
    out : str or Path, default=None
        Default of ``--out``, a path without suffix; None leaves ``--out``
        out.
    threads : int or None, default=1
        Default of ``--threads`` (torch and BLAS threads); None leaves it out.
    repeats : int, default=None
        Default of ``--repeats``; None leaves it out.
    data_dir : bool, default=False
        Add ``--data-dir`` (the benchmark data folder, see
        :func:`resolve_data_dir`).
    """
    head, _, rest = (doc or "").strip().partition("\n")
    p = argparse.ArgumentParser(
        description=head,
        epilog=rest.strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if out is not None:
        p.add_argument(
            "--out",
            default=str(out),
            help=f"output path without suffix (default {_relative(out)})",
        )
    if threads is not None:
        p.add_argument(
            "--threads",
            type=int,
            default=threads,
            help=f"torch and BLAS threads (default {threads})",
        )
    if repeats is not None:
        p.add_argument(
            "--repeats",
            type=int,
            default=repeats,
            help=f"timed repeats, the median is kept (default {repeats})",
        )
    if data_dir:
        p.add_argument(
            "--data-dir",
            default=None,
            help="benchmark data folder (default: $MAAT_DATA, else ../shared/data)",
        )
    return p


def _relative(path):
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def command_line(script, argv=None):
    """The command that ran, as ``python <script relative to the repo> args``."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", _relative(script), *map(shlex.quote, args)])


def resolve_data_dir(arg=None):
    """``arg``, else ``$MAAT_DATA``, else ``../shared/data`` beside the repository."""
    if arg:
        return Path(arg)
    if os.environ.get("MAAT_DATA"):
        return Path(os.environ["MAAT_DATA"])
    return (REPO / ".." / "shared" / "data").resolve()


def set_threads(threads):
    """Limit torch and the BLAS/OpenMP pools to ``threads`` for the process."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


# ------------------------------------------------------------------ run metadata


def git_info():
    """Commit, whether the tree is dirty, and up to 30 dirty paths.

    The commit is ``""`` where git or the repository's ``.git`` is missing.
    """

    def git(*args):
        try:
            return subprocess.run(
                ["git", *args],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            ).stdout
        except (OSError, subprocess.SubprocessError):  # no git, or a copy without it
            return ""

    # Porcelain lines are "XY path".
    dirty = [line[3:] for line in git("status", "--porcelain").splitlines()]
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "dirty": bool(dirty),
        "dirty_paths": dirty[:30],
    }


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """Date, platform, CPU model and count, load average, library versions."""
    import sklearn

    try:
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = None
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_avg": load,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
    }


def torch_info():
    """torch version, threads, CUDA device if any, maat_detector version."""
    import torch

    import maat_detector

    info = {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "maat_detector": maat_detector.__version__,
    }
    if info["cuda"]:
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_info():
    """``{"machine": ..., "torch": ..., "git": ...}`` for a results file."""
    return {"machine": machine_info(), "torch": torch_info(), "git": git_info()}


# --------------------------------------------------------------------- writing


def _clean(value):
    """JSON-ready: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def to_json(result, *, rows_key=None):
    """``result`` as indented JSON; the list under ``rows_key`` one row a line."""
    result = _clean(result)
    if rows_key is None or rows_key not in result:
        return json.dumps(result, indent=1, default=str) + "\n"
    rows = result.pop(rows_key)
    head = json.dumps(result, indent=1, default=str)
    body = ",\n".join(json.dumps(r, default=str) for r in rows)
    return f'{head[:-2]},\n "{rows_key}": [\n{body}\n ]\n}}\n'


def write_results(out, result, markdown=None, *, rows_key=None):
    """Write ``<out>.json`` (and ``<out>.md`` when ``markdown`` is given).

    Returns the paths written.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".json")]
    paths[0].write_text(to_json(result, rows_key=rows_key))
    if markdown is not None:
        paths.append(out.with_suffix(".md"))
        paths[1].write_text(markdown if markdown.endswith("\n") else markdown + "\n")
    return paths


def md_table(header, rows):
    """A markdown table from a header list and rows of cells."""
    lines = ["| " + " | ".join(map(str, header)) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


# -------------------------------------------------------------------- synthetic


def make_series(rows, n_features=25, seed=0, *, max_period=400):
    """Seeded train and test series, ``(rows, n_features)`` float32 each.

    Sines of periods drawn from 20 to ``max_period`` with random phases, plus
    noise of scale 0.1; the test half has one injected anomaly (rows
    ``rows // 2`` to ``rows // 2 + 50``, the first 5 channels shifted by 3).
    The speed scripts time fits and scores on it.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(2 * rows)[:, None]
    periods = rng.uniform(20, max_period, n_features)
    phases = rng.uniform(0, 2 * np.pi, n_features)
    X = np.sin(2 * np.pi * t / periods + phases) + 0.1 * rng.standard_normal(
        (2 * rows, n_features)
    )
    X = X.astype(np.float32)
    test = X[rows:].copy()
    test[rows // 2 : rows // 2 + 50, :5] += 3.0
    return X[:rows], test


# ------------------------------------------------------------------ subprocesses

_RESULT = "RESULT "


def report_to_parent(result):
    """Print ``result`` (JSON-able) where :func:`run_child` looks for it."""
    sys.stdout.write(_RESULT + json.dumps(result) + "\n")


def run_child(command, what):
    """Run ``command`` (a list) and return what it passed to :func:`report_to_parent`.

    A fresh process per measurement keeps each one's peak memory and first
    calls its own. Raises ``RuntimeError`` naming ``what``, with the tail
    of the child's stderr, if it reported nothing.
    """
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(_RESULT):
            return json.loads(line[len(_RESULT) :])
    raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")


# ------------------------------------------------------------------ records


def read_jsonl(path):
    """The records of ``path``, skipping a torn last line."""
    records = []
    if not Path(path).exists():
        return records
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                print(f"skipping an unreadable line of {path}", file=sys.stderr)
    return records
