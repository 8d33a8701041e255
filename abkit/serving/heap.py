"""The garbage collector of a long-running serving process.

Once torch, transformers and a model are loaded, the interpreter tracks about half a million
container objects that live as long as the process. CPython's collector rescans them all in
every full (generation 2) collection: about 250 ms with the GIL held on a 2-core machine,
every few seconds under load, a stall every in-flight request pays. Young collections
(generation 0, every 700 net allocations by default, so every few requests here) add about
0.05 ms per request.

:func:`settle_heap` is run once after the models are loaded: one full collection, then
``gc.freeze()`` moves every surviving object into the permanent generation, which no later
collection scans (the technique Instagram described for its Django fleet, and what the
CPython docs advise for servers: https://docs.python.org/3/library/gc.html#gc.freeze). The
young threshold is then raised so that collections run per thousands of requests instead of
per few; reference cycles made while serving are still collected, later.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

YOUNG_THRESHOLD = 50_000  # net allocations between generation-0 collections (CPython default: 700)


@dataclass(frozen=True)
class HeapState:
    """What :func:`settle_heap` did."""

    frozen_objects: int  # objects moved to the permanent generation
    thresholds: tuple[int, int, int]  # the collector's thresholds afterwards


def settle_heap(young_threshold: int = YOUNG_THRESHOLD) -> HeapState:
    """Collect once, freeze what survives, and make young collections rarer.

    Call it when the process has loaded everything it keeps (models, tokenizers, routes) and
    before it takes traffic: the collection itself takes a few hundred milliseconds.

    Args:
        young_threshold: generation-0 threshold to set; a higher current one is kept.
    """
    if young_threshold < 1:
        raise ValueError(f"young_threshold must be at least 1, got {young_threshold}")
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, young_threshold), middle, old)
    return HeapState(frozen_objects=gc.get_freeze_count(), thresholds=gc.get_threshold())
