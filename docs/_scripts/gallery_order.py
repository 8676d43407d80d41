"""Order of the examples in the gallery (used by ``docs/conf.py``)."""

ORDER = [
    "plot_quickstart.py",
    "plot_pipeline.py",
    "plot_scores_smd.py",
    "plot_attribution.py",
    "plot_streaming.py",
    "plot_grid_search.py",
    "plot_save_load.py",
    "plot_gpu.py",
]


class ExampleOrder:
    """sphinx-gallery sort key: the examples of :data:`ORDER` first, in order."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        position = ORDER.index(filename) if filename in ORDER else len(ORDER)
        return position, filename

    def __repr__(self):
        return "<ExampleOrder: explicit list in docs/_scripts/gallery_order.py>"
