"""Per-batch collection: cycles made inside a run are collected, the collector is left as found."""

from __future__ import annotations

import gc
import weakref

from nnvalues.memory import batch_collection, release_freed_memory


class Node:
    pass


def test_cycles_made_in_the_block_are_collected_and_the_collector_is_restored():
    before = gc.get_freeze_count()
    with batch_collection():
        assert gc.get_freeze_count() > 0  # what existed before is out of the collector's sight
        a, b = Node(), Node()
        a.other, b.other = b, a
        watch = weakref.ref(a)
        del a, b
        release_freed_memory()
        assert watch() is None
    assert gc.get_freeze_count() == before


def test_a_frozen_caller_is_left_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with batch_collection():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
