"""abkit.serving.heap: run in a child interpreter, since freezing changes the whole process."""

import json
import subprocess
import sys
import textwrap

import pytest

from abkit.serving.heap import YOUNG_THRESHOLD, settle_heap


def _in_child(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_settle_heap_freezes_survivors_and_raises_the_young_threshold():
    state = _in_child(
        """
        import gc, json, weakref
        from abkit.serving.heap import settle_heap
        kept = [[i] for i in range(20_000)]  # 20,001 tracked containers alive at the call
        before = gc.get_freeze_count()
        settle_heap()
        frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()

        class Node:
            pass

        # A reference cycle made after the freeze is still garbage the collector finds.
        node = Node()
        node.self = node
        probe = weakref.ref(node)
        del node
        gc.collect()
        print(json.dumps({"before": before, "frozen": frozen, "thresholds": thresholds,
                          "cycle_collected": probe() is None, "kept": len(kept)}))
        """
    )
    assert state["before"] == 0
    assert state["frozen"] >= 20_001
    assert state["thresholds"][0] == YOUNG_THRESHOLD
    assert state["thresholds"][1:] == [10, 10]  # CPython's defaults for the older generations, untouched
    assert state["cycle_collected"]


def test_a_higher_young_threshold_is_kept():
    state = _in_child(
        """
        import gc, json
        from abkit.serving.heap import settle_heap
        gc.set_threshold(200_000, 10, 10)
        settle_heap(young_threshold=1_000)
        print(json.dumps({"thresholds": gc.get_threshold()}))
        """
    )
    assert state["thresholds"] == [200_000, 10, 10]


def test_a_threshold_below_one_is_refused():
    with pytest.raises(ValueError, match="young_threshold must be at least 1, got 0"):
        settle_heap(young_threshold=0)
