"""The quality suite's command line: candidates measured beside the defaults."""

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS / "quality"))
sys.path.insert(0, str(BENCHMARKS))
import adopt  # noqa: E402
import run as quality_run  # noqa: E402

from maat_detector.presets import paper_size  # noqa: E402


def test_set_changes_the_defaults_methods_and_never_the_reference():
    args = quality_run.build_parser().parse_args(
        ["--methods", "maat", "--set", "e_layers=2", "--set", "attention=full"]
    )
    overrides = dict(args.overrides)
    assert overrides == {"e_layers": 2, "attention": "full"}
    maat = quality_run.maat_params("maat", 3, overrides)
    assert maat == {"e_layers": 2, "attention": "full", "random_state": 3}
    no_mamba = quality_run.maat_params("maat_no_mamba", 3, overrides)
    assert no_mamba["use_mamba"] is False and no_mamba["e_layers"] == 2
    assert quality_run.maat_params("maat_paper", 3, overrides) == paper_size(
        random_state=3
    )


def test_a_candidate_may_not_write_into_the_defaults_table(monkeypatch):
    monkeypatch.setenv("MAAT_DATA", "/nonexistent")  # refused before any data is read
    with pytest.raises(SystemExit, match="its own --out"):
        quality_run.main(["--methods", "maat", "--set", "e_layers=2"])


def test_a_malformed_set_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        quality_run.build_parser().parse_args(["--set", "e_layers"])
    assert "KEY=VALUE" in capsys.readouterr().err


def test_parts_share_the_run_order_between_processes():
    parse = quality_run.build_parser().parse_args
    assert parse([]).part == (0, 1)
    assert parse(["--part", "1/2"]).part == (1, 2)
    for bad in ("2/2", "-1/2", "1", "a/b"):
        with pytest.raises(SystemExit):
            parse(["--part", bad])


def test_the_written_command_sets_what_differs_from_the_defaults():
    from maat_detector import MAATDetector

    defaults = {
        k: v for k, v in MAATDetector().get_params().items() if k != "random_state"
    }
    assert quality_run.set_options(defaults) == ""
    candidate = {**defaults, "e_layers": defaults["e_layers"] + 1, "attention": "full"}
    options = quality_run.set_options(candidate)
    assert options == f" --set attention='full' --set e_layers={candidate['e_layers']}"
    # The options parse back into the candidate's parameters.
    args = quality_run.build_parser().parse_args(options.split())
    assert dict(args.overrides) == {
        "attention": "full",
        "e_layers": candidate["e_layers"],
    }
    assert quality_run.set_options([defaults, candidate]) == ""


def _record(entity, method, **changes):
    from maat_detector import MAATDetector

    params = MAATDetector(random_state=0).get_params()
    params.pop("verbose")
    if method == "maat_no_mamba":
        params["use_mamba"] = False
    params.update(changes)
    return {
        "dataset": "SMD",
        "entity": entity,
        "method": method,
        "seed": 0,
        "vus_pr": 0.5,
        "params": params,
    }


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _tables(tmp_path, candidate_changes, candidate_entities=("a", "b")):
    table = [
        _record(e, m, e_layers=7) for e in ("a", "b") for m in adopt.DEFAULT_METHODS
    ]
    table.append({"dataset": "SMD", "entity": "a", "method": "pca", "seed": 0})
    candidate = [
        _record(e, m, **candidate_changes)
        for e in candidate_entities
        for m in adopt.DEFAULT_METHODS
    ]
    return (
        _write(tmp_path / "table.jsonl", table),
        _write(tmp_path / "candidate.jsonl", candidate),
        tmp_path / "archive.jsonl",
    )


def test_adopting_swaps_the_defaults_records_and_keeps_the_baselines(tmp_path):
    table, candidate, archive = _tables(tmp_path, {})
    assert adopt.adopt(table, candidate, archive) == (4, 4)
    now = [json.loads(line) for line in table.read_text().splitlines()]
    assert [r["method"] for r in now].count("pca") == 1
    assert all(r["params"]["e_layers"] != 7 for r in now if "params" in r)
    moved = [json.loads(line) for line in archive.read_text().splitlines()]
    assert {r["params"]["e_layers"] for r in moved} == {7}


def test_a_candidate_that_is_not_the_default_yet_is_refused(tmp_path):
    table, candidate, archive = _tables(tmp_path, {"e_layers": 7})
    before = table.read_text()
    with pytest.raises(SystemExit, match="--set e_layers=7 .*change the defaults"):
        adopt.adopt(table, candidate, archive)
    assert table.read_text() == before and not archive.exists()


def test_an_unfinished_candidate_is_refused(tmp_path):
    table, candidate, archive = _tables(tmp_path, {}, candidate_entities=("a",))
    with pytest.raises(SystemExit, match="1 of the table's 2 records"):
        adopt.adopt(table, candidate, archive)
    assert not archive.exists()
