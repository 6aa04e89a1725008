"""The economy's parameters (X7): one versioned configuration, every value with a default.

A policy is a tree of frozen dataclasses: the kernel's own sections (``economy``, ``journal``) and
one section per installed mechanism (``Mechanism.policy``), read with ``policy.section(CirclesPolicy)``.
``policy_from_mapping`` checks a whole mapping (parsed from TOML) and returns *every* problem with its key path, so a
person fixing a file sees them all at once. Ratios (growth rates, percentages) are exact
fractions, written in a file as ``"5%"``, ``"0.05"`` or ``"1/20"``, never stored as floats.

A mechanism adds its section through its ``Mechanism``; a change of policy is a journal entry that
takes effect from its time onward (``economy.change_policy``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from fractions import Fraction
from typing import Any, ClassVar, TypeVar, cast, get_type_hints, overload

from civicledger.kernel.canonical import JSONObject, JSONValue
from civicledger.kernel.messages import OMITTED_AT_DEFAULT
from civicledger.kernel.ratio import Ratio
from civicledger.kernel.time import DAY, MINUTE

Problem = tuple[tuple[str, ...], str]
S = TypeVar("S")


class Unit(StrEnum):
    """What a policy value counts, so pages can show it for people (X7): a whole number of seconds,
    minor units of money, a ratio, a whole percentage, or yes/no. A bool field is ``YES_NO`` and a
    ``Ratio`` field ``RATIO`` by their type; a section names the others in its ``UNITS`` table
    (``UNITS: ClassVar[dict[str, Unit]]``); a value in neither is a plain count or text."""

    SECONDS = "seconds"  # a duration, shown as days and hours (X4)
    MINOR_UNITS = "minor_units"  # money, shown in major units with the currency's symbol (X3)
    RATIO = "ratio"  # an exact fraction, shown as a percentage ("1/20" -> 5%)
    PERCENT = "percent"  # a whole percentage (100 = the whole)
    YES_NO = "yes_no"


def since_rules(version: int, default: S) -> S:
    """A policy value that rule version ``version`` added (IN8): left out of the stored policy while
    it holds its default (``OMITTED_AT_DEFAULT``), so a genesis, and every journal an earlier
    release wrote, stays byte for byte what it was; its default must never change."""
    return field(default=default, metadata={**OMITTED_AT_DEFAULT, "since_rules": version})  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class EconomyPolicy:
    name: str = "civicledger economy"
    currency_decimals: int = 2


@dataclass(frozen=True, slots=True)
class JournalPolicy:
    UNITS: ClassVar[dict[str, Unit]] = {
        "signature_max_age": Unit.SECONDS,
        "max_clock_skew": Unit.SECONDS,
        "draw_delay": Unit.SECONDS,
    }
    signature_max_age: int = 5 * MINUTE  # X6: older signatures are stale
    max_clock_skew: int = 1 * MINUTE  # X6: signatures from further in the future are refused
    max_command_bytes: int = 64 * 1024  # X5: larger commands are refused unread
    draw_delay: int = since_rules(2, 60 * MINUTE)  # IN6: a draw's seed is the first signed head this long after


@dataclass(frozen=True, slots=True)
class IdentityPolicy:
    """Keys and their recovery (X9). Added after journals were written: every value is left out of
    the stored policy at its default, and so is the whole section, so no genesis changes bytes."""

    UNITS: ClassVar[dict[str, Unit]] = {"recovery_wait": Unit.SECONDS}
    recovery_wait: int = field(default=7 * DAY, metadata=OMITTED_AT_DEFAULT)  # X9: the old key may cancel this long
    guardian_threshold: int = field(default=3, metadata=OMITTED_AT_DEFAULT)  # X9: k when the owner names none
    max_guardians: int = field(default=15, metadata=OMITTED_AT_DEFAULT)  # X9: n is at most this

    def __post_init__(self) -> None:
        if self.guardian_threshold < 1 or self.max_guardians < 1:
            raise ValueError("guardian_threshold and max_guardians are at least 1")


ADDED_LATER = OMITTED_AT_DEFAULT
"""Field metadata of a policy value added after journals were written (IN8):
``field(default=..., metadata=ADDED_LATER)`` (``since_rules`` says which version added it). It is
left out of the stored policy while it holds its default, so every genesis and policy change an
earlier release wrote keeps its exact bytes; its default must never change."""


def _is_default(f: dataclasses.Field[object], value: object) -> bool:
    if f.default_factory is not dataclasses.MISSING:
        return bool(value == f.default_factory())
    return bool(value == f.default)


def mechanism_sections() -> dict[str, type]:
    """Each installed mechanism's policy section type, by the mechanism's name."""
    from civicledger.kernel.registry import installed  # loaded on first use, never at import

    mechanisms = installed()
    cached = _SECTIONS.get(mechanisms)
    if cached is None:
        cached = _SECTIONS[mechanisms] = {m.name: m.policy for m in mechanisms if m.policy is not None}
    return cached


_SECTIONS: dict[object, dict[str, type]] = {}


def _default_sections() -> tuple[object, ...]:
    return tuple(cls() for cls in mechanism_sections().values())


@dataclass(frozen=True, slots=True)
class Policy:
    economy: EconomyPolicy = field(default_factory=EconomyPolicy)
    journal: JournalPolicy = field(default_factory=JournalPolicy)
    identity: IdentityPolicy = field(default_factory=IdentityPolicy, metadata=OMITTED_AT_DEFAULT)
    sections: tuple[object, ...] = field(default_factory=_default_sections)
    """One value per installed mechanism's section type, in installation order."""

    def section(self, section_type: type[S]) -> S:
        """The mechanism section of that type (its defaults if this policy has none)."""
        for value in self.sections:
            if type(value) is section_type:
                return value
        return section_type()


def policy_units() -> dict[str, Unit]:
    """The unit of every policy value a unit applies to, by dotted path (``circles.income_period``),
    from the sections' ``UNITS`` tables and field types (see ``Unit``); a table's entries
    (``credits.participation.risky_work.duration``) share their value type's units."""
    out: dict[str, Unit] = {}

    def walk(tp: object, prefix: str) -> None:
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            declared: dict[str, Unit] = getattr(tp, "UNITS", {})
            for name, hint in get_type_hints(tp).items():
                if name == "UNITS":
                    continue
                path = f"{prefix}.{name}"
                if name in declared:
                    out[path] = declared[name]
                else:
                    walk(hint, path)
        elif tp is bool:
            out[prefix] = Unit.YES_NO
        elif tp is Ratio:
            out[prefix] = Unit.RATIO
        elif getattr(tp, "__origin__", None) is dict:
            walk(tp.__args__[1], prefix + ".*")  # type: ignore[attr-defined]

    walk(EconomyPolicy, "economy")
    walk(JournalPolicy, "journal")
    walk(IdentityPolicy, "identity")
    for name, cls in mechanism_sections().items():
        walk(cls, name)
    return out


def unit_of(path: str, units: Mapping[str, Unit]) -> Unit | None:
    """The unit of one dotted path, a table's entry matched by ``*`` (``None``: a count or text)."""
    if path in units:
        return units[path]
    parts = path.split(".")
    for i in range(1, len(parts)):
        pattern = ".".join([*parts[:i], "*", *parts[i + 1 :]])
        if pattern in units:
            return units[pattern]
    return None


__all__ = [
    "Policy",
    "Problem",
    "Ratio",
    "Unit",
    "policy_from_mapping",
    "policy_to_mapping",
    "policy_units",
    "unit_of",
    "with_change",
]

# Decoding and encoding ----------------------------------------------------------------------


@functools.cache
def _section_types(cls: type) -> tuple[dict[str, object], frozenset[str]]:
    """A section's field types and names, worked out once per class: the replay decodes the policy
    again and again (X7), and resolving the type hints was a large share of its time."""
    return get_type_hints(cls), frozenset(f.name for f in dataclasses.fields(cls))


def _decode_value(tp: Any, value: object, path: tuple[str, ...], problems: list[Problem]) -> object:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append((path, "must be a table"))
            return tp()
        return _decode_section(tp, value, path, problems)
    if tp is bool:
        if not isinstance(value, bool):
            problems.append((path, f"must be true or false, not {value!r}"))
            return None
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((path, f"must be a whole number, not {value!r}"))
            return None
        if value < 0:
            problems.append((path, f"must not be negative, not {value}"))
            return None
        return value
    if tp is str:
        if not isinstance(value, str):
            problems.append((path, f"must be a string, not {value!r}"))
            return None
        return value
    if tp is Ratio:
        try:
            ratio = Ratio.parse(value)
        except (ValueError, ZeroDivisionError) as e:
            problems.append((path, f"must be a ratio such as '5%' or '1/20': {e}"))
            return None
        if ratio < 0:
            problems.append((path, f"must not be negative, not {value!r}"))
            return None
        return ratio
    origin = getattr(tp, "__origin__", None)
    if origin is tuple:
        (item_type, *_rest) = tp.__args__
        if not isinstance(value, list):
            problems.append((path, "must be a list"))
            return None
        return tuple(_decode_value(item_type, v, (*path, str(i)), problems) for i, v in enumerate(value))
    if origin is dict:
        _, item_type = tp.__args__
        if not isinstance(value, dict):
            problems.append((path, "must be a table"))
            return None
        return {k: _decode_value(item_type, v, (*path, k), problems) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in tp.__members__.values())
            problems.append((path, f"must be one of {allowed}, not {value!r}"))
            return None
    problems.append((path, f"has an unsupported type {tp}"))
    return None


def _decode_section(cls: type, data: Mapping[str, object], path: tuple[str, ...], problems: list[Problem]) -> object:
    types, known = _section_types(cls)
    for key in data:
        if key not in known:
            problems.append(((*path, key), f"unknown key (known: {', '.join(sorted(known))})"))
    values = {}
    before = len(problems)
    for name in known:
        if name in data:
            values[name] = _decode_value(types[name], data[name], (*path, name), problems)
    if len(problems) > before:
        return cls()
    try:
        return cls(**values)
    except ValueError as e:
        problems.append((path, str(e)))
        return cls()


def policy_from_mapping(data: Mapping[str, object]) -> tuple[Policy, list[Problem]]:
    """Build a Policy from a mapping, returning it with every problem found (empty if valid)."""
    from civicledger.kernel.registry import installed

    problems: list[Problem] = []
    kernel = {"economy": EconomyPolicy, "journal": JournalPolicy, "identity": IdentityPolicy}
    mechanisms = mechanism_sections()
    known = {**kernel, **mechanisms}
    for key in data:
        if key not in known:
            problems.append(((key,), f"unknown key (known: {', '.join(sorted(known))})"))
    decoded: dict[str, Any] = {}
    for name, cls in known.items():
        value = data.get(name, {})
        decoded[name] = _decode_value(cls, value, (name,), problems)
    if problems:
        return Policy(), problems
    policy = Policy(
        economy=decoded["economy"],
        journal=decoded["journal"],
        identity=decoded["identity"],
        sections=tuple(decoded[name] for name in mechanisms),
    )
    for mechanism in installed():
        for check in mechanism.policy_checks:
            if mechanism.policy is not None:
                problems.extend(check(policy.section(mechanism.policy)))
    return policy, problems


@overload
def policy_to_mapping(policy: Policy, *, every_value: bool = False) -> JSONObject: ...


@overload
def policy_to_mapping(policy: object, *, every_value: bool = False) -> JSONValue: ...


def policy_to_mapping(policy: object, *, every_value: bool = False) -> JSONValue:
    """The canonical (JSON-safe) form of a policy, as stored in the journal: one table per section.

    A value added after journals were written (a field whose metadata is ``OMITTED_AT_DEFAULT`` of
    ``kernel.messages``) is left out while it holds its default, so that a genesis or policy change
    written under an earlier rule version keeps its exact bytes (IN8); reading fills it back in
    from the default. ``every_value`` keeps it (the table of every known value).
    """
    if isinstance(policy, Policy):
        names = {cls: name for name, cls in mechanism_sections().items()}
        mapping = {
            "economy": policy_to_mapping(policy.economy, every_value=every_value),
            "journal": policy_to_mapping(policy.journal, every_value=every_value),
        }
        identity = policy_to_mapping(policy.identity, every_value=every_value)
        if identity:  # a section added later (X9): absent while every value holds its default
            mapping["identity"] = identity
        for section in policy.sections:
            mapping[names[type(section)]] = policy_to_mapping(section, every_value=every_value)
        return mapping
    if dataclasses.is_dataclass(policy) and not isinstance(policy, type):
        return {
            f.name: policy_to_mapping(getattr(policy, f.name), every_value=every_value)
            for f in dataclasses.fields(policy)
            if every_value or not (f.metadata.get("omitted_at_default") and _is_default(f, getattr(policy, f.name)))
        }
    if isinstance(policy, Fraction):
        return Ratio(policy).encode()
    if isinstance(policy, tuple):
        return [policy_to_mapping(v, every_value=every_value) for v in policy]
    if isinstance(policy, dict):
        return {k: policy_to_mapping(v, every_value=every_value) for k, v in policy.items()}
    if hasattr(policy, "value") and hasattr(type(policy), "__members__"):
        return cast(JSONValue, policy.value)
    return cast(JSONValue, policy)  # an int, str or bool


def with_change(mapping: JSONObject, path: tuple[str, ...], value: JSONValue) -> tuple[JSONObject, list[Problem]]:
    """A copy of a stored policy mapping with one value replaced, checked like a whole file.

    Works on the stored mapping, not on a re-encoded Policy, so that a change recorded by older
    code re-executes to the same mapping under newer code. A section the mapping lacks (one newer
    code added) is filled from its defaults before the change.
    """
    changed = json.loads(json.dumps(mapping))
    defaults = policy_to_mapping(Policy(), every_value=True)  # every value a change may name
    stored_defaults = policy_to_mapping(Policy())  # what a missing section is filled with, as older code did
    default_node: JSONValue
    stored_node: JSONValue
    node, default_node, stored_node = changed, defaults, stored_defaults
    for key in path[:-1]:
        if not isinstance(default_node, dict) or key not in default_node:
            return mapping, [(path, "no such policy section")]
        default_node = default_node[key]
        stored_node = stored_node.get(key, {}) if isinstance(stored_node, dict) else {}
        if key not in node:
            node[key] = json.loads(json.dumps(stored_node))
        node = node[key]
    if not isinstance(default_node, dict) or path[-1] not in default_node:
        return mapping, [(path, "no such policy value")]
    node[path[-1]] = value
    _, problems = policy_from_mapping(changed)
    return changed, problems
