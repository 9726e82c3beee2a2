"""``MapInputs``: what ``.map``/``.starmap`` hand an invoker, as pairs and as batches."""

from __future__ import annotations

from pcompile.providers.invoker import MapInputs


def test_iterating_gives_each_input_its_own_pair_and_kwargs_copy():
    kwargs = {"scale": 2}
    pairs = list(MapInputs(([1, 2], "ab"), kwargs))
    assert pairs == [((1, "a"), {"scale": 2}), ((2, "b"), {"scale": 2})]
    assert pairs[0][1] is not kwargs and pairs[0][1] is not pairs[1][1]
    assert list(MapInputs(([[1, 2], (3,)],), {}, star=True)) == [((1, 2), {}), ((3,), {})]


def test_batches_take_the_smallest_form_and_stop_at_the_shortest_column():
    assert list(MapInputs((range(5),), {}).batches(2)) == [("one", [0, 1]), ("one", [2, 3]), ("one", [4])]
    assert list(MapInputs((range(3), "abcdef"), {}).batches(10)) == [("args", [(0, "a"), (1, "b"), (2, "c")])]
    assert list(MapInputs(([[1], (2, 3)],), {}, star=True).batches(10)) == [("args", [(1,), (2, 3)])]
    kw = {"k": 1}
    ((form, batch),) = MapInputs((iter([5, 6]),), kw).batches(10)
    assert (form, batch) == ("kw", [((5,), {"k": 1}), ((6,), {"k": 1})])
    assert batch[0][1] is kw  # one dict for the batch: ``**`` gives each call its own
    assert list(MapInputs(([],), {}).batches(4)) == []


def test_size_is_known_only_when_every_column_has_a_length():
    assert MapInputs((range(7), "abc"), {}).size() == 3
    assert MapInputs((range(7), iter("abc")), {}).size() is None
