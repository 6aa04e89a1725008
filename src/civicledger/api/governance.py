"""Reads for a council and a treasurer: the policy in force and its history (X7).

The policy in force is the last ``economy.policy_set`` event's mapping, completed with every default
(``policy_to_mapping(every_value=True)``), shown as one row per dotted path. Its history is every
``economy.policy_set`` on the journal: when it took effect, which entry and signers made it, and the
values it changed (a diff of the flattened mappings). The history is read from the journal itself,
so it cannot disagree with it; each row and change names its value's unit (``kernel.policy.Unit``:
seconds, minor units, ratio, percent, yes/no; ``None`` for a count or text) so pages can show it
for people. It costs one pass over the journal (the demo's few hundred entries
take milliseconds), and a projection of policy versions is the next step if journals grow large.
"""

from __future__ import annotations

from typing import TypedDict

from civicledger.kernel import state
from civicledger.kernel.canonical import JSONObject, JSONValue
from civicledger.kernel.errors import NotFoundError
from civicledger.kernel.policy import Unit, policy_from_mapping, policy_to_mapping, policy_units, unit_of
from civicledger.kernel.ports import Store

POLICY_SET = "economy.policy_set"


class PolicyRow(TypedDict):
    section: str
    path: str
    value: JSONValue
    unit: str | None


class PolicyChangeRow(TypedDict):
    path: str
    before: JSONValue
    after: JSONValue
    unit: str | None


class PolicyVersion(TypedDict):
    version: int
    seq: int
    effective_at: int
    command_type: str
    signers: list[str]
    changes: list[PolicyChangeRow]


class PolicyView(TypedDict):
    version: int
    effective_at: int | None
    rows: list[PolicyRow]
    history: list[PolicyVersion]


def flatten(mapping: JSONValue, prefix: str = "") -> dict[str, JSONValue]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``: one row per value a policy change can name."""
    if not isinstance(mapping, dict) or not mapping:
        return {prefix: mapping} if prefix else {}
    out: dict[str, JSONValue] = {}
    for key, value in sorted(mapping.items()):
        out.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return out


def _complete(mapping: JSONObject) -> dict[str, JSONValue]:
    """Every value of a stored policy mapping, defaults included (what was in force)."""
    policy, _ = policy_from_mapping(mapping)
    return flatten(policy_to_mapping(policy, every_value=True))


def _unit(path: str, units: dict[str, Unit]) -> str | None:
    found = unit_of(path, units)
    return found.value if found is not None else None


def policy(store: Store) -> PolicyView:
    """The policy in force and every change of it, newest first."""
    history: list[PolicyVersion] = []
    units = policy_units()
    before: dict[str, JSONValue] = {}
    with store.read() as uow:
        if uow.records.get("economy", "info") is None:
            raise NotFoundError("this store holds no economy yet; create one with `civic init`", rule="X1")
        record = state.policy_record(uow)
        for stored in uow.journal.scan():
            entry = stored.entry
            for event in entry.events:
                if event.get("type") != POLICY_SET:
                    continue
                mapping = event.get("policy")
                after = _complete(mapping if isinstance(mapping, dict) else {})
                changes = [
                    PolicyChangeRow(path=path, before=before.get(path), after=after.get(path), unit=_unit(path, units))
                    for path in sorted(set(before) | set(after))
                    if before.get(path) != after.get(path)
                ]
                version = event.get("version")
                history.append(
                    PolicyVersion(
                        version=version if isinstance(version, int) else 0,
                        seq=entry.seq,
                        effective_at=entry.time,
                        command_type=entry.command.type,
                        signers=sorted(entry.command.signers()),
                        changes=changes if before else [],  # the genesis sets, it does not change
                    )
                )
                before = after
    rows = [
        PolicyRow(section=path.split(".")[0], path=path, value=value, unit=_unit(path, units))
        for path, value in sorted(before.items())
    ]
    return PolicyView(
        version=int(record["version"]) if record else 0,
        effective_at=history[-1]["effective_at"] if history else None,
        rows=rows,
        history=list(reversed(history)),
    )


__all__ = ["PolicyView", "flatten", "policy"]
