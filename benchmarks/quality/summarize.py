"""Mean VUS-PR per dataset and method from ``protocols.py`` result files.

Usage::

    python benchmarks/quality/summarize.py \
        benchmarks/results/history/quick_all_entities.json \
        benchmarks/results/history/quick_SMAP_all.json --exclude-tuning

Where files hold the same dataset, entity and method, the later file's row
counts (pass an earlier run first and a rerun of some datasets after it).
``--exclude-tuning`` leaves out the tuning entities that chose the defaults
(``TUNING_SET`` in ``score_ablation.py``, named in docs/quality.rst), so the
means cover only entities no default was chosen on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import _common  # noqa: E402
from score_ablation import TUNING_SET  # noqa: E402


def dataset_means(rows, excluded=frozenset()):
    """{dataset: {method: (mean VUS-PR, n entities)}}; VUS-PR is threshold-free,
    so each (entity, method) counts once whatever the protocol rows."""
    values = {}
    for row in rows:
        if row.get("vus_pr") is None or f"{row['dataset']}:{row['entity']}" in excluded:
            continue
        key = (row["dataset"], row["method"])
        values.setdefault(key, {})[row["entity"]] = row["vus_pr"]
    means = {}
    for (dataset, method), by_entity in values.items():
        scores = list(by_entity.values())
        means.setdefault(dataset, {})[method] = (float(np.mean(scores)), len(scores))
    return means


def main(argv=None):
    parser = _common.parser(__doc__, threads=None)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--exclude-tuning", action="store_true")
    args = parser.parse_args(argv)
    rows = [r for f in args.files for r in json.loads(f.read_text())["rows"]]
    means = dataset_means(rows, frozenset(TUNING_SET) if args.exclude_tuning else ())
    methods = sorted({m for by_method in means.values() for m in by_method})
    print("| dataset | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for dataset, by_method in means.items():
        n = max(count for _, count in by_method.values())
        cells = [f"{by_method[m][0]:.3f}" if m in by_method else "" for m in methods]
        print(f"| {dataset} ({n}) | " + " | ".join(cells) + " |")
    per_method = {
        m: np.mean([b[m][0] for b in means.values() if m in b]) for m in methods
    }
    print(
        "| mean of datasets | "
        + " | ".join(f"{per_method[m]:.3f}" for m in methods)
        + " |"
    )


if __name__ == "__main__":
    sys.exit(main())
