"""Typed mechanism state: one ``Namespace`` per kind of record, each with its codec.

A mechanism keeps its state as records under ``(namespace, key)`` in the unit of work
(``RecordRepository``: JSON values, keys sorted by code point on every backend). A ``Namespace``
binds a namespace name to one record type (a frozen dataclass, or a plain ``int``/``str``) and is the
only place that record is encoded or decoded, so handlers, projectors and queries exchange typed
values, never loose JSON objects.

The stored JSON is part of the state digest that ``verify`` and ``rebuild`` compare, and of every
existing database: a record type must encode exactly as its records were always stored. Fields that
older code wrote only when set are declared with ``omitted_when_default()``: they are left out of the
JSON while they hold their default.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any, Generic, TypeVar, get_args, get_origin, get_type_hints, overload

from civicledger.kernel.canonical import JSONObject, JSONValue, canonical_bytes
from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.messages import DataclassInstance, from_wire, to_wire
from civicledger.kernel.ports import UnitOfWork

R = TypeVar("R")
T = TypeVar("T")

_OMIT = "omitted_when_default"
_KEY = "stored_as"


@overload
def omitted_when_default() -> None: ...


@overload
def omitted_when_default(default: T) -> T: ...


def omitted_when_default(default: object = None) -> object:
    """A record field stored only when it differs from ``default`` (as older records were written)."""
    return dataclasses.field(default=default, metadata={_OMIT: True})


def stored_as(key: str, **field_options: Any) -> Any:
    """A record field stored under another key than its name (a key that is a Python keyword: "from")."""
    return dataclasses.field(metadata={_KEY: key}, **field_options)


@overload
def encode_record(value: DataclassInstance) -> JSONObject: ...


@overload
def encode_record(value: object) -> JSONValue: ...


def encode_record(value: object) -> JSONValue:
    """The JSON form of a record: its wire form, without the omitted fields that hold their default,
    each field under the key it is stored as."""
    data = to_wire(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and isinstance(data, dict):
        for f in dataclasses.fields(value):
            if f.metadata.get(_OMIT) and getattr(value, f.name) == f.default:
                data.pop(f.name, None)
            elif _KEY in f.metadata:
                data[f.metadata[_KEY]] = data.pop(f.name)
    return data


def stored_json(record: object) -> JSONObject:
    """A record's JSON exactly as a read of the store returns it (keys in code-point order at every
    level), for read models and the CLI that show records as they are stored."""
    data: JSONObject = json.loads(canonical_bytes(encode_record(record)))
    return data


Encoder = Callable[[Any], JSONValue]


def _compile_encoder(tp: object, top: bool = False) -> Encoder:
    """``encode_record`` for one type, built once (projectors write a record for every event). As in
    ``encode_record``, renamed and omitted fields apply to the record's own fields only; a record
    nested in it is in its plain wire form."""
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None:
        return _compile_encoder(supertype, top)
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1 and not _needs_encoding(options[0]):
            return _same
        if len(options) == 1:
            inner = _compile_encoder(options[0])
            return lambda value: None if value is None else inner(value)
        return to_wire
    if origin in (tuple, list):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        if args and not any(_needs_encoding(a) for a in args):
            return list
        if len(set(args)) != 1:
            return to_wire
        item = _compile_encoder(args[0])
        return lambda value: [item(v) for v in value]
    if origin is dict:
        value_type = get_args(tp)[1]
        if not _needs_encoding(value_type):
            return lambda value: {str(k): v for k, v in value.items()}
        inner_value = _compile_encoder(value_type)
        return lambda value: {str(k): inner_value(v) for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = get_type_hints(tp)
        plan = [
            (
                f.name,
                _stored_key(f) if top else f.name,
                _compile_encoder(hints[f.name]),
                top and bool(f.metadata.get(_OMIT)),
                f.default,
            )
            for f in dataclasses.fields(tp)
        ]

        def record(value: object) -> JSONValue:
            data: JSONObject = {}
            for name, key, encode, omit, default in plan:
                field_value = getattr(value, name)
                if omit and field_value == default:
                    continue
                data[key] = encode(field_value)
            return data

        return record
    if isinstance(tp, type) and issubclass(tp, Enum):
        return lambda value: value.value
    if tp in (int, str, bool) or tp is type(None):
        return _same
    return to_wire


def _same(value: JSONValue) -> JSONValue:
    return value


def _needs_encoding(tp: object) -> bool:
    """Whether values of ``tp`` differ from their JSON form (a plain int, str or None needs nothing)."""
    tp = getattr(tp, "__supertype__", tp)
    if get_origin(tp) in (typing.Union, types.UnionType):
        return any(_needs_encoding(a) for a in get_args(tp))
    return tp not in (int, str, bool, type(None))


def _renamed_back(record_type: type, data: object) -> object:
    """Stored keys back to field names, so ``from_wire`` can name a bad field."""
    if not (isinstance(data, dict) and dataclasses.is_dataclass(record_type)):
        return data
    names = {_stored_key(f): f.name for f in dataclasses.fields(record_type)}
    return {names.get(k, k): v for k, v in data.items()}


Decoder = Callable[[object], object]


class _Mismatch(Exception):
    """A stored value of another shape than its record type: ``Namespace.decode`` names it."""


def _compile(tp: object) -> Decoder:
    """A decoder for one type, built once: the checks ``messages.from_wire`` makes, without working
    out the type again for every value (a scan decodes thousands of records)."""
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None:  # NewType
        return _compile(supertype)
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [_compile(a) for a in get_args(tp) if a is not type(None)]
        optional = type(None) in get_args(tp)

        def union(data: object) -> object:
            if data is None and optional:
                return None
            for option in options:
                try:
                    return option(data)
                except _Mismatch:
                    continue
            raise _Mismatch(data)

        return union
    if origin is typing.Literal:
        allowed = frozenset(get_args(tp))

        def literal(data: object) -> object:
            if isinstance(data, bool) or data not in allowed:
                raise _Mismatch(data)
            return data

        return literal
    if origin is tuple and len(get_args(tp)) > 1 and Ellipsis not in get_args(tp):  # a row: tuple[str, int]
        positions = [_compile(a) for a in get_args(tp)]

        def row(data: object) -> object:
            if not isinstance(data, list) or len(data) != len(positions):
                raise _Mismatch(data)
            return tuple(decode(v) for decode, v in zip(positions, data, strict=True))

        return row
    if origin in (tuple, list, frozenset):
        args = get_args(tp)
        item = _compile(args[0]) if args else (lambda v: v)
        build: Callable[[Iterator[object]], object] = {tuple: tuple, list: list, frozenset: frozenset}[origin]

        def sequence(data: object) -> object:
            if not isinstance(data, list):
                raise _Mismatch(data)
            return build(item(v) for v in data)

        return sequence
    if origin is dict:
        value = _compile(get_args(tp)[1])

        def mapping(data: object) -> object:
            if not isinstance(data, dict):
                raise _Mismatch(data)
            return {str(k): value(v) for k, v in data.items()}

        return mapping
    if tp is Any or tp is object:
        return lambda data: data
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _compile_record(tp)
    if isinstance(tp, type) and issubclass(tp, Enum):
        enum_type = tp

        def enum(data: object) -> object:
            try:
                return enum_type(data)
            except ValueError:
                raise _Mismatch(data) from None

        return enum
    if tp is bool:
        return _exactly(bool)
    if tp is int:

        def whole(data: object) -> object:
            if isinstance(data, bool) or not isinstance(data, int):
                raise _Mismatch(data)
            return data

        return whole
    if tp is str:
        return _exactly(str)
    raise TypeError(f"a record field cannot be of type {tp}")


def _exactly(kind: type) -> Decoder:
    def check(data: object) -> object:
        if not isinstance(data, kind):
            raise _Mismatch(data)
        return data

    return check


def _compile_record(cls: type) -> Decoder:
    hints = get_type_hints(cls)
    fields = [(f.name, _stored_key(f), _compile(hints[f.name]), _required(f)) for f in dataclasses.fields(cls)]
    known = {key for _, key, _, _ in fields}

    def record(data: object) -> object:
        if not isinstance(data, dict) or not known.issuperset(data):
            raise _Mismatch(data)
        values = {}
        for name, key, decode, required in fields:
            if key in data:
                values[name] = decode(data[key])
            elif required:
                raise _Mismatch(data)
        return cls(**values)

    return record


def _stored_key(f: dataclasses.Field[object]) -> str:
    return str(f.metadata.get(_KEY, f.name))


def _required(f: dataclasses.Field[object]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


class Namespace(Generic[R]):
    """The records of one namespace, all of type ``record_type``."""

    def __init__(self, name: str, record_type: type[R]) -> None:
        self.name = name
        self.record_type = record_type
        self._decode = _compile(record_type)
        self._encode = _compile_encoder(record_type, top=True)

    def encode(self, value: R) -> JSONValue:
        """The JSON a record is stored as (``encode_record``, compiled for its type)."""
        return self._encode(value)

    def decode(self, data: object, key: str = "") -> R:
        try:
            return typing.cast(R, self._decode(data))
        except _Mismatch:
            # name the first bad field the way every other decoding error is named
            from_wire(self.record_type, _renamed_back(self.record_type, data), f"{self.name}/{key}")
            raise InvalidInputError(f"{self.name}/{key}: a record of another shape", rule="X2") from None

    def get(self, uow: UnitOfWork, key: str) -> R | None:
        data = uow.records.get(self.name, key)
        return None if data is None else self.decode(data, key)

    def put(self, uow: UnitOfWork, key: str, value: R) -> None:
        uow.records.put(self.name, key, self.encode(value))

    def delete(self, uow: UnitOfWork, key: str) -> None:
        uow.records.delete(self.name, key)

    def scan(self, uow: UnitOfWork, prefix: str = "") -> Iterator[tuple[str, R]]:
        for key, data in uow.records.scan(self.name, prefix):
            yield key, self.decode(data, key)

    def __repr__(self) -> str:
        return f"Namespace({self.name!r}, {self.record_type.__name__})"
