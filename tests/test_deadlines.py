"""DeadlineHeap: one deadline per item, removal that lets go at once, a heap that stays
within about twice its live items, checked against a plain dict."""

from __future__ import annotations

import gc
import weakref

from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.deadlines import DeadlineHeap


class Item:
    """An identity-hashed object, like a transaction or a branch."""


def test_set_peek_pop_due_in_deadline_order() -> None:
    heap: DeadlineHeap[str] = DeadlineHeap()
    assert heap.peek() is None and heap.pop_due(1e9) == [] and len(heap) == 0
    heap.set("b", 2.0)
    heap.set("a", 1.0)
    heap.set("c", 2.0)
    assert heap.peek() == 1.0 and "a" in heap and heap.deadline("c") == 2.0
    assert heap.pop_due(1.5) == ["a"]
    assert heap.pop_due(2.0) == ["b", "c"]  # equal deadlines: in the order they were set
    assert len(heap) == 0 and heap.peek() is None


def test_setting_again_moves_the_deadline_and_discard_removes_it() -> None:
    heap: DeadlineHeap[str] = DeadlineHeap()
    heap.set("x", 5.0)
    heap.set("y", 3.0)
    heap.set("x", 1.0)
    heap.set("x", 1.0)  # unchanged: nothing added
    assert heap.size == 3 and heap.peek() == 1.0
    heap.set("x", 9.0)
    assert heap.peek() == 3.0
    heap.discard("y")
    heap.discard("y")
    heap.discard("never")
    assert heap.peek() == 9.0 and heap.pop_due(8.0) == [] and heap.pop_due(9.0) == ["x"]


def test_a_removed_item_is_let_go_at_once_even_behind_an_earlier_deadline() -> None:
    heap: DeadlineHeap[Item] = DeadlineHeap()
    first = Item()
    heap.set(first, 1.0)  # stays at the top throughout
    refs = []
    for i in range(100):
        item = Item()
        heap.set(item, 100.0 + i)
        heap.set(item, 200.0 + i)
        heap.discard(item)
        refs.append(weakref.ref(item))
    del item
    gc.collect()
    assert all(r() is None for r in refs)
    assert len(heap) == 1 and heap.size <= 2 * len(heap) + 65
    assert list(heap) == [first]


def test_compaction_keeps_the_heap_within_twice_the_live_items() -> None:
    heap: DeadlineHeap[int] = DeadlineHeap()
    for i in range(10_000):
        heap.set(i, float(i))
        heap.set(i, float(i) + 0.5)
        if i % 10:
            heap.discard(i)
        assert heap.size <= 2 * len(heap) + 65
    assert len(heap) == 1000
    assert heap.pop_due(1e9) == list(range(0, 10_000, 10))
    heap.clear()
    assert heap.size == 0 and heap.peek() is None


OPS = st.lists(st.tuples(st.sampled_from(["set", "discard", "pop"]),
                         st.integers(0, 20), st.integers(0, 50)), max_size=200)


@settings(max_examples=200, deadline=None)
@given(OPS)
def test_behaves_like_a_dict_of_deadlines(ops: list[tuple[str, int, int]]) -> None:
    heap: DeadlineHeap[int] = DeadlineHeap()
    model: dict[int, float] = {}
    for op, item, when in ops:
        if op == "set":
            heap.set(item, float(when))
            model[item] = float(when)
        elif op == "discard":
            heap.discard(item)
            model.pop(item, None)
        else:
            due = heap.pop_due(float(when))
            assert sorted(due) == sorted(i for i, d in model.items() if d <= when)
            assert [model[i] for i in due] == sorted(model[i] for i in due)  # earliest first
            for i in due:
                del model[i]
        assert len(heap) == len(model)
        assert heap.peek() == (min(model.values()) if model else None)
        assert heap.size <= 2 * len(model) + 65


def test_items_sharing_a_deadline_keep_the_order_they_were_set_in() -> None:
    heap: DeadlineHeap[str] = DeadlineHeap()
    for name in "abc":
        heap.set(name, 5.0)
    heap.discard("b")
    heap.set("b", 5.0)  # back at the end of its deadline's items
    heap.set("a", 6.0)
    heap.set("a", 5.0)
    assert heap.peek() == 5.0 and heap.pop_due(5.0) == ["c", "b", "a"]
    heap.set("x", 7.0)
    heap.discard("x")  # 7.0's entry goes stale ...
    heap.set("y", 7.0)  # ... and comes again: handled once, not twice
    assert heap.peek() == 7.0 and heap.pop_due(7.0) == ["y"] and heap.pop_due(9.0) == []
    assert heap.peek() is None and heap.size == 0


def test_an_int_deadline_and_an_equal_float_are_one_deadline() -> None:
    heap: DeadlineHeap[str] = DeadlineHeap()
    heap.set("a", 2)
    heap.set("b", 2.0)
    heap.set("a", 2.0)  # unchanged
    assert heap.deadline("a") == 2.0 and heap.pop_due(2) == ["a", "b"]
