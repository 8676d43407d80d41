"""Make a candidate's quality records the defaults', once it is the default.

A candidate default is measured with ``run.py --set ... --out CANDIDATE``
beside the table the README cites. When the estimator's defaults have been
changed to it, this script swaps the records: the table's ``maat`` and
``maat_no_mamba`` records move to ``--archive`` (a table of their own, kept
for the record), and the candidate's take their place. It refuses unless

- the candidate's records ran with the defaults as they are now (``maat``)
  and with them and ``use_mamba=False`` (``maat_no_mamba``), so that the
  table's ``config`` is ``MAATDetector().get_params()`` again;
- the candidate has a record of every (dataset, entity, seed) that the table
  has for each of those methods, so no row mixes two defaults;
- the archive does not exist yet.

Usage::

    python benchmarks/quality/adopt.py benchmarks/results/quality/two_layers \\
        --archive benchmarks/results/quality/three_layers

then ``run.py --summarize-only`` rebuilds both tables' ``.json`` and ``.md``
(the script does so itself unless ``--no-summary``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import _common  # noqa: E402
import run  # noqa: E402

#: The methods whose parameters are the defaults', and so change with them.
DEFAULT_METHODS = ("maat", "maat_no_mamba")


def _differences(method, config):
    """What keeps ``config`` from being ``method``'s parameters today."""
    if not isinstance(config, dict):
        return "its records ran with more than one configuration"
    if method == "maat_no_mamba":
        if config.get("use_mamba") is not False:
            return "use_mamba is not False"
        config = {**config, "use_mamba": True}
    options = run.set_options(config)
    return f"it needs{options} over today's defaults" if options else ""


def _entities(records, method):
    return {
        (r["dataset"], r["entity"], int(r["seed"]))
        for r in records
        if r["method"] == method and "error" not in r
    }


def check(table, candidate):
    """The reasons the candidate's records cannot replace the table's, if any."""
    problems = []
    configs = run.configs_of(candidate)
    for method in DEFAULT_METHODS:
        wanted = _entities(table, method)
        if not wanted:
            continue
        if method not in configs:
            problems.append(f"the candidate has no {method} records")
            continue
        why = _differences(method, configs[method])
        if why:
            problems.append(f"{method}: {why}; change the defaults first")
        missing = wanted - _entities(candidate, method)
        if missing:
            example = "/".join(map(str, sorted(missing)[0]))
            problems.append(
                f"{method}: {len(missing)} of the table's {len(wanted)} records "
                f"have no candidate record (such as {example}); finish its run"
            )
    return problems


def _write_jsonl(path, records):
    """Replace ``path`` by ``records``, whole or not at all."""
    part = Path(str(path) + ".part")
    with open(part, "w") as f:
        for r in records:
            f.write(json.dumps(r, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())
    part.replace(path)


def adopt(table_jsonl, candidate_jsonl, archive_jsonl):
    """Swap the records; returns how many moved each way.

    Raises
    ------
    SystemExit
        Naming every reason, when :func:`check` finds one or the archive
        exists; no file is touched then.
    """
    table = _common.read_jsonl(table_jsonl)
    candidate = _common.read_jsonl(candidate_jsonl)
    problems = check(table, candidate)
    if Path(archive_jsonl).exists():
        problems.append(f"{archive_jsonl} exists; name a new archive")
    if problems:
        raise SystemExit("not adopted:\n- " + "\n- ".join(problems))
    replaced = [r for r in table if r["method"] in DEFAULT_METHODS]
    kept = [r for r in table if r["method"] not in DEFAULT_METHODS]
    adopted = [r for r in candidate if r["method"] in DEFAULT_METHODS]
    _write_jsonl(archive_jsonl, replaced)
    _write_jsonl(table_jsonl, kept + adopted)
    return len(replaced), len(adopted)


def main(argv=None):
    p = _common.parser(__doc__, out=run.DEFAULT_OUT, threads=None, data_dir=True)
    p.add_argument("candidate", help="the candidate's --out (path without suffix)")
    p.add_argument("--archive", required=True, help="new path, without suffix")
    p.add_argument("--no-summary", action="store_true")
    args = p.parse_args(argv)
    table, archive = Path(args.out), Path(args.archive)
    moved, adopted = adopt(
        table.with_suffix(".jsonl"),
        Path(args.candidate).with_suffix(".jsonl"),
        archive.with_suffix(".jsonl"),
    )
    print(f"moved {moved} records to {archive}.jsonl; adopted {adopted}")
    if not args.no_summary:
        data_dir = _common.resolve_data_dir(args.data_dir)
        for out in (table, archive):
            paths = run.write_summary(out.with_suffix(".jsonl"), out, data_dir)
            print("wrote " + " and ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
