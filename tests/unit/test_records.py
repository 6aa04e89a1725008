"""Typed records keep the exact JSON their namespace always stored (the state digest depends on it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import pytest

from civicledger.adapters.memory import MemoryStore
from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.records import Namespace, encode_record, omitted_when_default, stored_as


@dataclass(frozen=True, slots=True)
class Holding:
    units: int
    since: int
    note: str | None = omitted_when_default()


HOLDINGS = Namespace("test.holdings", Holding)
COUNTS = Namespace("test.counts", int)


def test_a_record_round_trips_and_omits_unset_optional_fields() -> None:
    assert encode_record(Holding(5, 10)) == {"units": 5, "since": 10}
    assert encode_record(Holding(5, 10, "gift")) == {"units": 5, "since": 10, "note": "gift"}
    store = MemoryStore()
    with store.write() as uow:
        HOLDINGS.put(uow, "a/1", Holding(5, 10))
        HOLDINGS.put(uow, "a/2", Holding(7, 11, "gift"))
        COUNTS.put(uow, "a", 3)
        assert uow.records.get("test.holdings", "a/1") == {"units": 5, "since": 10}
        assert HOLDINGS.get(uow, "a/2") == Holding(7, 11, "gift")
        assert [k for k, _ in HOLDINGS.scan(uow, "a/")] == ["a/1", "a/2"]
        assert COUNTS.get(uow, "a") == 3 and COUNTS.get(uow, "b") is None
        HOLDINGS.delete(uow, "a/1")
        assert HOLDINGS.get(uow, "a/1") is None


def test_a_stored_record_of_the_wrong_shape_is_named_not_guessed() -> None:
    store = MemoryStore()
    with store.write() as uow:
        uow.records.put("test.holdings", "bad", {"units": "five", "since": 1})
        with pytest.raises(InvalidInputError, match=r"test\.holdings/bad"):
            HOLDINGS.get(uow, "bad")


@dataclass(frozen=True, slots=True)
class Span:
    start: int = stored_as("from")
    until: int = stored_as("until")


def test_a_field_stored_under_another_key_round_trips() -> None:
    spans = Namespace("test.spans", Span)
    assert encode_record(Span(1, 2)) == {"from": 1, "until": 2}
    assert spans.decode({"from": 1, "until": 2}) == Span(1, 2)
    with pytest.raises(InvalidInputError, match=r"test\.spans/x"):
        spans.decode({"from": "one", "until": 2}, "x")


class Colour(Enum):
    RED = "red"


@dataclass(frozen=True, slots=True)
class Inner:
    n: int
    note: str | None = omitted_when_default()  # nested: in its plain wire form, not omitted


@dataclass(frozen=True, slots=True)
class Rich:
    colour: Colour
    start: int = stored_as("from")
    rows: tuple[tuple[str, int], ...] = stored_as("rows", default=())
    inner: tuple[Inner, ...] = stored_as("inner", default=())
    by_name: dict[str, Inner] = stored_as("by_name", default_factory=dict)
    maybe: Colour | None = stored_as("maybe", default=None)
    tags: frozenset[str] = stored_as("tags", default=frozenset())
    extra: str | None = omitted_when_default()


def test_x02_the_compiled_encoder_writes_what_encode_record_writes() -> None:
    """The fast encoder of a record type and the reference ``encode_record`` agree, field for field:
    enums, renamed and omitted fields, nested records, tuples of rows, maps and sets."""
    rich = Namespace("test.rich", Rich)
    samples = [
        Rich(Colour.RED, 1),
        Rich(Colour.RED, 2, (("a", 1),), (Inner(1), Inner(2, "x")), {"k": Inner(3)}, Colour.RED, frozenset("ba"), "e"),
    ]
    for sample in samples:
        assert rich.encode(sample) == encode_record(sample)
        assert rich.decode(rich.encode(sample)) == sample
