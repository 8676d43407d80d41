"""Sphinx configuration of the maat_detector documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build executes the gallery (``examples/plot_*.py``, a few seconds each on
a CPU), draws the architecture figure (``docs/_scripts/architecture.py``) and
works offline: intersphinx falls back to small inventories written here when
the projects' own inventories cannot be fetched.
"""

import os
import re
import sys
import zlib
from pathlib import Path

import maat_detector

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_scripts"))

# The gallery and autodoc run on a CPU whatever the machine: stable output,
# and no accidental use of a GPU that another process holds.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "maat_detector"
author = "maat_detector developers"
copyright = "2025, maat_detector developers"
release = maat_detector.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "_templates", "Thumbs.db", ".DS_Store"]
default_role = "literal"
pygments_style = "sphinx"
# numpydoc gives every docstring's References their own citation labels; a
# module docstring lists references it does not cite in its text.
suppress_warnings = ["ref.citation"]

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Parameter types go through numpydoc's cross-referencer, which also keeps
# shapes such as ``(n_features_in_,)`` from being read as rst link targets.
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "ndarray": "numpy.ndarray",
    "DataFrame": "pandas.DataFrame",
    "Figure": "matplotlib.figure.Figure",
    "Axes": "matplotlib.axes.Axes",
    "Tensor": "torch.Tensor",
    "MAATDetector": "maat_detector.MAATDetector",
    "MAATConfig": "maat_detector.nn.MAATConfig",
}
numpydoc_xref_ignore = "all"
# Tests in docstrings run under pytest (--doctest-modules), not here.
numpydoc_use_plots = False

# -- intersphinx -------------------------------------------------------------
# Each project's inventory is fetched from its site; when that fails (an
# offline build, as on CI) Sphinx falls back to a local inventory of the few
# objects these pages name, so links still resolve and no warning is raised.
_OFFLINE = DOCS / "_generated" / "intersphinx"
_EXTERNAL = {
    "python": (
        "https://docs.python.org/3/",
        {
            "pickle": ("py:module", "library/pickle.html#module-pickle"),
            "logging": ("py:module", "library/logging.html#module-logging"),
            "ValueError": ("py:exception", "library/exceptions.html#ValueError"),
            "TypeError": ("py:exception", "library/exceptions.html#TypeError"),
            "ImportError": ("py:exception", "library/exceptions.html#ImportError"),
            "FileNotFoundError": (
                "py:exception", "library/exceptions.html#FileNotFoundError"
            ),
            "FloatingPointError": (
                "py:exception", "library/exceptions.html#FloatingPointError"
            ),
            "UserWarning": ("py:exception", "library/exceptions.html#UserWarning"),
            "RuntimeWarning": (
                "py:exception", "library/exceptions.html#RuntimeWarning"
            ),
            "KeyboardInterrupt": (
                "py:exception", "library/exceptions.html#KeyboardInterrupt"
            ),
            # Targets of numpydoc's type aliases ("bool", "sequence", ...).
            "float": ("py:class", "library/functions.html#float"),
            "int": ("py:class", "library/functions.html#int"),
            "complex": ("py:class", "library/functions.html#complex"),
            "str": ("py:class", "library/stdtypes.html#str"),
            "list": ("py:class", "library/stdtypes.html#list"),
            "tuple": ("py:class", "library/stdtypes.html#tuple"),
            "dict": ("py:class", "library/stdtypes.html#dict"),
            "object": ("py:class", "library/functions.html#object"),
            "callable": ("py:function", "library/functions.html#callable"),
            "None": ("py:data", "library/constants.html#None"),
            "True": ("py:data", "library/constants.html#True"),
            "False": ("py:data", "library/constants.html#False"),
            "bltin-boolean-values": (
                "std:label", "library/stdtypes.html#bltin-boolean-values",
                "Boolean Values",
            ),
            "iterable": ("std:term", "glossary.html#term-iterable"),
            "sequence": ("std:term", "glossary.html#term-sequence"),
            "generator": ("std:term", "glossary.html#term-generator"),
        },
    ),
    "numpy": (
        "https://numpy.org/doc/stable/",
        {
            "numpy.ndarray": (
                "py:class", "reference/generated/numpy.ndarray.html#numpy.ndarray"
            ),
            "array_like": ("std:term", "glossary.html#term-array_like"),
            "arrays.scalars": (
                "std:label", "reference/arrays.scalars.html#arrays-scalars", "Scalars"
            ),
            "numpy.random.SeedSequence": (
                "py:class",
                "reference/random/bit_generators/generated/"
                "numpy.random.SeedSequence.html",
            ),
            "numpy.random.RandomState": (
                "py:class",
                "reference/random/legacy.html#numpy.random.RandomState",
            ),
        },
    ),
    "sklearn": (
        "https://scikit-learn.org/stable/",
        {
            f"sklearn.{name}": ("py:class", f"modules/generated/sklearn.{name}.html")
            for name in (
                "base.BaseEstimator",
                "base.OutlierMixin",
                "pipeline.Pipeline",
                "preprocessing.StandardScaler",
                "model_selection.GridSearchCV",
                "model_selection.TimeSeriesSplit",
                "ensemble.IsolationForest",
                "neighbors.LocalOutlierFactor",
            )
        }
        | {
            f"sklearn.{name}": ("py:function", f"modules/generated/sklearn.{name}.html")
            for name in (
                "base.clone",
                "pipeline.make_pipeline",
                "model_selection.cross_val_score",
                "model_selection.cross_validate",
            )
        },
    ),
    "torch": (
        "https://docs.pytorch.org/docs/stable/",
        {
            "torch.nn.Module": ("py:class", "generated/torch.nn.Module.html"),
            "torch.device": ("py:class", "tensor_attributes.html#torch.device"),
            "torch.Tensor": ("py:class", "tensors.html#torch.Tensor"),
            "torch.save": ("py:function", "generated/torch.save.html"),
            "torch.load": ("py:function", "generated/torch.load.html"),
            "torch.autograd.Function": (
                "py:class", "autograd.html#torch.autograd.Function"
            ),
            "torch.cuda.is_available": (
                "py:function", "generated/torch.cuda.is_available.html"
            ),
        },
    ),
    "matplotlib": (
        "https://matplotlib.org/stable/",
        {
            "matplotlib.figure.Figure": (
                "py:class", "api/_as_gen/matplotlib.figure.Figure.html"
            ),
            "matplotlib.axes.Axes": (
                "py:class", "api/_as_gen/matplotlib.axes.Axes.html"
            ),
        },
    ),
    "pandas": (
        "https://pandas.pydata.org/docs/",
        {
            "pandas.DataFrame": (
                "py:class", "reference/api/pandas.DataFrame.html"
            ),
        },
    ),
    "joblib": (
        "https://joblib.readthedocs.io/en/stable/",
        {
            "joblib": ("py:module", "index.html#module-joblib"),
            "joblib.dump": ("py:function", "generated/joblib.dump.html"),
            "joblib.load": ("py:function", "generated/joblib.load.html"),
        },
    ),
}


def _write_offline_inventory(name, objects):
    """An objects.inv (format 2) listing ``objects`` for intersphinx."""
    _OFFLINE.mkdir(parents=True, exist_ok=True)
    lines = []
    for obj, (role, uri, *display) in sorted(objects.items()):
        priority = -1 if role.startswith("std:") else 1
        lines.append(f"{obj} {role} {priority} {uri} {display[0] if display else '-'}")
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {name}\n# Version: stable\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    path = _OFFLINE / f"{name}.inv"
    path.write_bytes(header.encode() + zlib.compress("\n".join(lines).encode() + b"\n"))
    return str(path)


intersphinx_mapping = {
    name: (url, (None, _write_offline_inventory(name, objects)))
    for name, (url, objects) in _EXTERNAL.items()
}
intersphinx_timeout = 10

# -- sphinx-gallery ----------------------------------------------------------
# The tiny models of the examples gain nothing from threads, and a shared
# machine makes thread synchronisation slow: one thread each for torch's and
# numpy's pools (set before torch is first imported, by the first example).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "doc_module": ("maat_detector",),
    "backreferences_dir": "generated/backreferences",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "download_all_examples": False,
    "min_reported_time": 1,
    "image_scrapers": ("matplotlib",),
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"maat_detector {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False

# -- MyST (the changelog is Markdown) ----------------------------------------
myst_heading_anchors = 3


# -- docstring fixes ----------------------------------------------------------
# In numpydoc *types* a fitted name such as ``(n_features_in_,)`` would be read
# as an rst link target; quote it. Only "name : type" lines with a shape.
_FITTED_NAME = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?=[,)\]])")


def _quote_fitted_names(app, what, name, obj, options, lines):
    for index, line in enumerate(lines):
        head, sep, tail = line.partition(" : ")
        if sep and "shape" in tail:
            lines[index] = head + sep + _FITTED_NAME.sub(r"``\1``", tail)


def setup(app):
    # Before numpydoc (priority 500) parses the docstring.
    app.connect("autodoc-process-docstring", _quote_fitted_names, priority=400)


# -- build-time files ----------------------------------------------------------
def _benchmark_results():
    """docs/_generated/benchmark_results.md: the quality table, if it was run."""
    out = DOCS / "_generated" / "benchmark_results.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    table = ROOT / "benchmarks" / "results" / "quality" / "quality.md"
    if table.is_file():
        body = table.read_text(encoding="utf-8")
        text = (
            "The results below were produced by ``python "
            "benchmarks/quality/run.py`` and copied from "
            "``benchmarks/results/quality/quality.md`` when these pages were "
            "built.\n\n" + _demote_headings(body)
        )
    else:
        text = (
            "No results file was present when these pages were built: run "
            "``python benchmarks/quality/run.py`` to write "
            "``benchmarks/results/quality/quality.md``, then rebuild the "
            "documentation.\n"
        )
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")


def _demote_headings(markdown):
    """Turn Markdown headings into bold lines, so they nest under the page."""
    lines = []
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("#"):
            line = "**" + line.lstrip("#").strip() + "**"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _architecture_figure():
    import architecture

    architecture.draw(DOCS / "_generated" / "architecture.svg")


_benchmark_results()
_architecture_figure()
