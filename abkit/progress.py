"""Progress bars on standard error, drawn only when it is a terminal."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


def progress_bar(*, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar, off unless ``enabled`` and standard error is a terminal.

    tqdm's ``disable=None`` checks ``isatty()`` of its stream, so a service log, a CI job or a
    redirected ``2> file`` gets no carriage-return bar lines. ``kwargs`` go to tqdm.
    """
    return tqdm(disable=None if enabled else True, **kwargs)
