"""The documentation builds without a warning, gallery included (opt-in: -m slow)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
NEEDED = (
    "sphinx",
    "numpydoc",
    "sphinx_gallery",
    "pydata_sphinx_theme",
    "myst_parser",
    "matplotlib",
)


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"docs dependencies missing: {missing}; pip install -e '.[docs]'")
    if not (DOCS / "conf.py").is_file():
        pytest.skip(f"no docs/conf.py beside the tests ({DOCS})")
    html = tmp_path / "html"
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "-d",
        str(tmp_path / "doctrees"),
        # Execute every example, even if an earlier build left its output.
        "-D",
        "sphinx_gallery_conf.run_stale_examples=True",
        str(DOCS),
        str(html),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (
        f"sphinx exited with {result.returncode}:\n{result.stdout[-4000:]}\n"
        f"{result.stderr[-6000:]}"
    )
    for page in (
        "index.html",
        "api.html",
        "model.html",
        "changelog.html",
        "auto_examples/plot_quickstart.html",
        "generated/maat_detector.MAATDetector.html",
        "generated/maat_detector.plotting.plot_scores.html",
    ):
        assert (html / page).is_file(), page
    # The gallery ran: the quick start produced its figure.
    assert list((html / "_images").glob("sphx_glr_plot_quickstart_001*.png"))
