"""The garbage collector of a long-running serving process.

Once torch, transformers and a model are loaded, about half a million objects live as long as
the process, and every full collection rescans them (about 250 ms with the GIL held on the
2-core development machine, every few seconds under load). After loading, ``gc.freeze()``
moves them out of later collections (as the CPython docs advise for servers).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # net allocations between generation-0 collections (CPython default: 700)


def settle_heap(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Collect once, freeze what survives, and raise the generation-0 threshold (a higher one is kept).

    Call it once everything the process keeps is loaded, before traffic: it takes a few hundred ms.
    ``gc.get_freeze_count()`` and ``gc.get_threshold()`` tell the outcome.
    """
    if young_threshold < 1:
        raise ValueError(f"young_threshold must be at least 1, got {young_threshold}")
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, young_threshold), middle, old)
