"""A tqdm progress bar shown only when the estimator is verbose."""

from __future__ import annotations


def progress(total, description, verbose):
    """A tqdm bar over ``total`` steps, disabled when ``verbose`` is 0."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, disable=not verbose, leave=False)
