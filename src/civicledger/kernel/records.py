"""Typed mechanism state: one ``Namespace`` per kind of record, each with its codec.

A mechanism keeps its state as records under ``(namespace, key)`` in the unit of work
(``RecordRepository``: JSON values, keys sorted by code point on every backend). A ``Namespace``
binds a namespace name to one record type (a frozen dataclass, or a plain ``int``/``str``) and is the
only place that record is encoded or decoded, so handlers, projectors and queries exchange typed
values, never ``dict[str, Any]``.

The stored JSON is part of the state digest that ``verify`` and ``rebuild`` compare, and of every
existing database: a record type must encode exactly as its records were always stored. Fields that
older code wrote only when set are declared with ``omitted_when_default()``: they are left out of the
JSON while they hold their default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from civicledger.kernel.messages import from_wire, to_wire
from civicledger.kernel.ports import UnitOfWork

R = TypeVar("R")

_OMIT = "omitted_when_default"


def omitted_when_default(default: Any = None) -> Any:
    """A record field stored only when it differs from ``default`` (as older records were written)."""
    return dataclasses.field(default=default, metadata={_OMIT: True})


def encode_record(value: object) -> Any:
    """The JSON form of a record: its wire form, without the omitted fields that hold their default."""
    data = to_wire(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            if f.metadata.get(_OMIT) and getattr(value, f.name) == f.default:
                data.pop(f.name, None)
    return data


class Namespace(Generic[R]):
    """The records of one namespace, all of type ``record_type``."""

    def __init__(self, name: str, record_type: type[R]) -> None:
        self.name = name
        self.record_type = record_type

    def decode(self, data: Any, key: str = "") -> R:
        return from_wire(self.record_type, data, f"{self.name}/{key}")

    def get(self, uow: UnitOfWork, key: str) -> R | None:
        data = uow.records.get(self.name, key)
        return None if data is None else self.decode(data, key)

    def put(self, uow: UnitOfWork, key: str, value: R) -> None:
        uow.records.put(self.name, key, encode_record(value))

    def delete(self, uow: UnitOfWork, key: str) -> None:
        uow.records.delete(self.name, key)

    def scan(self, uow: UnitOfWork, prefix: str = "") -> Iterator[tuple[str, R]]:
        for key, data in uow.records.scan(self.name, prefix):
            yield key, self.decode(data, key)

    def __repr__(self) -> str:
        return f"Namespace({self.name!r}, {self.record_type.__name__})"
