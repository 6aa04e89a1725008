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
import json
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from typing import Any, TypeVar, get_type_hints

from civicledger.kernel.ratio import Ratio
from civicledger.kernel.time import MINUTE

Problem = tuple[tuple[str, ...], str]


@dataclass(frozen=True, slots=True)
class EconomyPolicy:
    name: str = "civicledger economy"
    currency_decimals: int = 2


@dataclass(frozen=True, slots=True)
class JournalPolicy:
    signature_max_age: int = 5 * MINUTE  # X6: older signatures are stale
    max_clock_skew: int = 1 * MINUTE  # X6: signatures from further in the future are refused
    max_command_bytes: int = 64 * 1024  # X5: larger commands are refused unread


S = TypeVar("S")

_ADDED = "added_later"


ADDED_LATER: dict[str, Any] = {_ADDED: True}
"""Field metadata of a policy value that a later rule version added (IN8):
``field(default=..., metadata=ADDED_LATER)``. A genesis under an earlier rule version leaves it out
of the stored mapping while it holds its default (``policy_to_mapping(..., pinned=False)``), so
such a genesis stays byte for byte what the earlier release wrote; a later genesis pins it like
every other value."""


def _is_default(f: dataclasses.Field[Any], value: Any) -> bool:
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
    sections: tuple[object, ...] = field(default_factory=_default_sections)
    """One value per installed mechanism's section type, in installation order."""

    def section(self, section_type: type[S]) -> S:
        """The mechanism section of that type (its defaults if this policy has none)."""
        for value in self.sections:
            if type(value) is section_type:
                return value
        return section_type()


__all__ = ["Policy", "Problem", "Ratio", "policy_from_mapping", "policy_to_mapping", "with_change"]

# Decoding and encoding ----------------------------------------------------------------------


def _section_types(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _decode_value(tp: Any, value: Any, path: tuple[str, ...], problems: list[Problem]) -> Any:
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


def _decode_section(cls: Any, data: dict[str, Any], path: tuple[str, ...], problems: list[Problem]) -> Any:
    types = _section_types(cls)
    known = {f.name for f in dataclasses.fields(cls)}
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


def policy_from_mapping(data: dict[str, Any]) -> tuple[Policy, list[Problem]]:
    """Build a Policy from a mapping, returning it with every problem found (empty if valid)."""
    from civicledger.kernel.registry import installed

    problems: list[Problem] = []
    kernel = {"economy": EconomyPolicy, "journal": JournalPolicy}
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
        sections=tuple(decoded[name] for name in mechanisms),
    )
    for mechanism in installed():
        for check in mechanism.policy_checks:
            if mechanism.policy is not None:
                problems.extend(check(policy.section(mechanism.policy)))
    return policy, problems


def policy_to_mapping(policy: Any, *, pinned: bool = True) -> Any:
    """The canonical (JSON-safe) form of a policy, as stored in the journal: one table per section.

    ``pinned=False`` leaves out the values a later rule version added (``added_later``) while they
    hold their default: the form a genesis under an earlier rule version stores (IN8).
    """
    if isinstance(policy, Policy):
        names = {cls: name for name, cls in mechanism_sections().items()}
        mapping = {
            "economy": policy_to_mapping(policy.economy, pinned=pinned),
            "journal": policy_to_mapping(policy.journal, pinned=pinned),
        }
        for section in policy.sections:
            mapping[names[type(section)]] = policy_to_mapping(section, pinned=pinned)
        return mapping
    if dataclasses.is_dataclass(policy) and not isinstance(policy, type):
        return {
            f.name: policy_to_mapping(getattr(policy, f.name), pinned=pinned)
            for f in dataclasses.fields(policy)
            if pinned or not (f.metadata.get(_ADDED) and _is_default(f, getattr(policy, f.name)))
        }
    if isinstance(policy, Fraction):
        return Ratio(policy).encode()
    if isinstance(policy, tuple):
        return [policy_to_mapping(v, pinned=pinned) for v in policy]
    if isinstance(policy, dict):
        return {k: policy_to_mapping(v, pinned=pinned) for k, v in policy.items()}
    if hasattr(policy, "value") and hasattr(type(policy), "__members__"):
        return policy.value
    return policy


def with_change(mapping: dict[str, Any], path: tuple[str, ...], value: Any) -> tuple[dict[str, Any], list[Problem]]:
    """A copy of a stored policy mapping with one value replaced, checked like a whole file.

    Works on the stored mapping, not on a re-encoded Policy, so that a change recorded by older
    code re-executes to the same mapping under newer code. A section the mapping lacks (one newer
    code added) is filled from its defaults before the change.
    """
    changed = json.loads(json.dumps(mapping))
    defaults = policy_to_mapping(Policy())
    node, default_node = changed, defaults
    for key in path[:-1]:
        if not isinstance(default_node, dict) or key not in default_node:
            return mapping, [(path, "no such policy section")]
        default_node = default_node[key]
        if key not in node:
            node[key] = json.loads(json.dumps(default_node))
        node = node[key]
    if not isinstance(default_node, dict) or path[-1] not in default_node:
        return mapping, [(path, "no such policy value")]
    node[path[-1]] = value
    _, problems = policy_from_mapping(changed)
    return changed, problems
