"""Commands and events as frozen dataclasses, and their one wire form.

A command (imperative: ``Transfer``) asks for a change; the events (past tense: ``UnitsTransferred``)
say what changed. Both are registered under a dotted type name (``ledger.transfer``) so the journal
can store them as plain JSON and anyone can decode an export. Only ints, strings, bools, ``None``,
enums, tuples, frozensets, dicts and nested dataclasses are allowed: no floats, ever (X3).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from enum import Enum
from typing import Any, ClassVar, Protocol, TypeVar, Union, get_args, get_origin, get_type_hints, overload

from civicledger.kernel import canonical
from civicledger.kernel.canonical import JSONObject, JSONValue
from civicledger.kernel.errors import InvalidInputError

T = TypeVar("T")


class DataclassInstance(Protocol):
    """An instance of a dataclass: a record, a message, a policy section."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[object]]]


class Message:
    """Base of commands and events; subclasses are frozen dataclasses with a ``TYPE``."""

    TYPE: ClassVar[str] = ""


class Command(Message):
    """A request for a change; accepted or refused as a whole."""


class Event(Message):
    """A fact recorded in the journal; projections are folds over events."""


COMMANDS: dict[str, type[Command]] = {}
EVENTS: dict[str, type[Event]] = {}


def command(type_name: str) -> Callable[[type[T]], type[T]]:
    """Register a frozen dataclass as the command ``type_name``."""
    return _register(type_name, COMMANDS)


def event(type_name: str) -> Callable[[type[T]], type[T]]:
    """Register a frozen dataclass as the event ``type_name``."""
    return _register(type_name, EVENTS)


def _register(type_name: str, registry: dict[str, Any]) -> Callable[[type[T]], type[T]]:
    def wrap(cls: type[T]) -> type[T]:
        if type_name in registry and registry[type_name] is not cls:
            raise RuntimeError(f"message type {type_name} registered twice")
        cls.TYPE = type_name  # type: ignore[attr-defined]
        registry[type_name] = cls
        return cls

    return wrap


_HINTS: dict[type, dict[str, object]] = {}


def _hints(cls: type) -> dict[str, object]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


OMITTED_AT_DEFAULT = {"omitted_at_default": True}
"""Field metadata for a field added to a message after journals were written with it absent: left
out of the wire form while it holds its default, so older entries keep their exact bytes."""


@overload
def to_wire(value: Message | DataclassInstance) -> JSONObject: ...


@overload
def to_wire(value: object) -> JSONValue: ...


def to_wire(value: object) -> JSONValue:
    """Encode a message (or any allowed value) as JSON-compatible data."""
    plan = _WIRE_FIELDS.get(type(value))
    if plan is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        plan = _wire_fields(type(value))
    if plan is not None:
        encoded: JSONObject = {}
        for name, omitted, default in plan:
            item = getattr(value, name)
            if not (omitted and item == default):
                encoded[name] = to_wire(item)
        return encoded
    if isinstance(value, Enum):
        return typing.cast(JSONValue, value.value)
    if isinstance(value, (tuple, list)):
        return [to_wire(v) for v in value]
    if isinstance(value, frozenset):
        members: list[JSONValue] = [to_wire(v) for v in value]
        members.sort()  # members of one comparable kind (str or int)
        return members
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, float):
        raise InvalidInputError("floats are not allowed; use integers of a minor unit", rule="X3")
    return typing.cast(JSONValue, value)  # an int, str, bool or None: JSON as it is


_WIRE_FIELDS: dict[type, tuple[tuple[str, bool, object], ...]] = {}


def _wire_fields(cls: type) -> tuple[tuple[str, bool, object], ...]:
    """A dataclass's fields in order, each with whether it is left out at its default (and that
    default), worked out once per class: every event of every entry is encoded, and a replay
    encodes them all again (X2)."""
    found = _WIRE_FIELDS.get(cls)
    if found is None:
        found = _WIRE_FIELDS[cls] = tuple(
            (f.name, bool(f.metadata.get("omitted_at_default")), f.default) for f in dataclasses.fields(cls)
        )
    return found


def from_wire(cls: type[T], data: object, where: str = "") -> T:
    """Decode ``data`` into ``cls``, raising InvalidInputError that names the bad field."""
    return typing.cast(T, _decode(cls, data, where or getattr(cls, "TYPE", cls.__name__)))


class _JSONHints:
    value: JSONValue
    mapping: JSONObject


_JSON = get_type_hints(_JSONHints, globalns=vars(canonical))
"""How a field annotated ``JSONValue`` or ``JSONObject`` reads once its hints are resolved."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """How a dataclass decodes: its fields in order with their resolved hints, and which must be
    given; worked out once per class (decoding is on every command's path, and on every entry a
    verification replays)."""

    names: frozenset[str]
    fields: tuple[tuple[str, object, bool], ...]  # (name, hint, required)


_PLANS: dict[type, _Plan] = {}
_ORIGINS: dict[object, tuple[object, tuple[object, ...]]] = {}


def _plan(tp: type) -> _Plan:
    plan = _PLANS.get(tp)
    if plan is None:
        hints = _hints(tp)
        fields = tuple(
            (
                f.name,
                hints[f.name],
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(tp)
        )
        plan = _PLANS[tp] = _Plan(frozenset(name for name, _, _ in fields), fields)
    return plan


def _origin_and_args(tp: object) -> tuple[object, tuple[object, ...]]:
    try:
        return _ORIGINS[tp]
    except KeyError:
        found = _ORIGINS[tp] = (get_origin(tp), get_args(tp))
        return found
    except TypeError:  # an unhashable hint: nothing to remember it by
        return get_origin(tp), get_args(tp)


def _decode(tp: object, data: object, where: str) -> object:
    # The commonest hints first; each answers exactly as its branch further down would.
    if tp is str:
        if not isinstance(data, str):
            raise InvalidInputError(f"{where} must be a string", rule="X5")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise InvalidInputError(f"{where} must be a whole number, not {data!r}", rule="X5")
        return data
    if type(tp) is type and tp in _PLANS:  # a dataclass seen before
        return _decode_dataclass(tp, _PLANS[tp], data, where)
    if tp is Any or (type(tp) is types.UnionType and tp == _JSON["value"]):  # JSON as it came
        return data
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None:  # NewType
        return _decode(supertype, data, where)
    origin, args = _origin_and_args(tp)
    if origin in (Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _decode(arg, data, where)
            except InvalidInputError as e:
                errors.append(e)
        raise errors[0] if errors else InvalidInputError(f"{where}: bad value", rule="X5")
    if origin is typing.Literal:
        if data not in args:
            raise InvalidInputError(f"{where} must be one of {list(args)}, not {data!r}", rule="X5")
        return data
    if origin in (tuple, frozenset, list):
        if not isinstance(data, list):
            raise InvalidInputError(f"{where} must be a list", rule="X5")
        item = args[0] if args else Any
        items = [_decode(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
        return frozenset(items) if origin is frozenset else tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(data, dict):
            raise InvalidInputError(f"{where} must be an object", rule="X5")
        if tp == _JSON["mapping"]:  # an object of JSON as it came: the message's own rules check it
            return data
        _, value_type = args
        return {str(k): _decode(value_type, v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, _plan(tp), data, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(data)
        except ValueError as e:
            allowed = [m.value for m in tp]
            raise InvalidInputError(f"{where} must be one of {allowed}, not {data!r}", rule="X5") from e
    if tp is bool:
        if not isinstance(data, bool):
            raise InvalidInputError(f"{where} must be true or false", rule="X5")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise InvalidInputError(f"{where} must be a whole number, not {data!r}", rule="X5")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise InvalidInputError(f"{where} must be a string", rule="X5")
        return data
    if tp is type(None):
        if data is not None:
            raise InvalidInputError(f"{where} must be null", rule="X5")
        return None
    raise InvalidInputError(f"{where}: cannot decode a value of type {tp}", rule="X5")


def _decode_dataclass(tp: type, plan: _Plan, data: object, where: str) -> object:
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where} must be an object", rule="X5")
    if not plan.names.issuperset(data):
        unknown = sorted(set(data) - plan.names)
        raise InvalidInputError(f"{where}: unknown field(s) {', '.join(unknown)}", rule="X5")
    kwargs = {}
    for name, hint, required in plan.fields:
        if name in data:
            kwargs[name] = _decode(hint, data[name], f"{where}.{name}")
        elif required:
            raise InvalidInputError(f"{where}: missing field {name}", rule="X5")
    try:
        return tp(**kwargs)
    except InvalidInputError:
        raise
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"{where}: {e}", rule="X5") from e


def encode_message(message: Message) -> JSONObject:
    """``{"type": ..., **fields}``: the form events take inside a journal entry."""
    return {"type": message.TYPE, **to_wire(message)}


def decode_event(data: JSONObject) -> Event:
    fields = dict(data)
    type_name = fields.pop("type", None)
    cls = EVENTS.get(str(type_name))
    if cls is None:
        raise InvalidInputError(f"unknown event type {type_name!r}", rule="X2")
    return from_wire(cls, fields)


def decode_command(type_name: str, payload: object) -> Command:
    cls = COMMANDS.get(type_name)
    if cls is None:
        raise InvalidInputError(f"unknown command type {type_name!r}", rule="X5")
    return from_wire(cls, payload)
