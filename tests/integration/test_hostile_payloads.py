"""Bad input is a clear refusal, never a crash (X5): every command type of every mechanism gets
hostile payloads, correctly signed, through the real engine. Values follow each field's declared
type (so the handler runs) but take extreme, empty, unknown or mismatched values; some fields are
dropped, unknown ones added. Each outcome is a receipt or a refusal naming a rule; a refusal
writes nothing."""

from __future__ import annotations

import dataclasses
import enum
import itertools
import types
import typing
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import civicledger.kernel  # noqa: F401  (registers every mechanism's commands)
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel.errors import CivicLedgerError
from civicledger.kernel.journal import SignatureRecord, SignedCommand, signing_bytes
from civicledger.kernel.messages import COMMANDS, _hints
from tests.conftest import T0

COMMAND_TYPES = sorted(name for name in COMMANDS if name != "economy.genesis")
NAMES = ["alice", "bob", "fund"]

_economy: list[ScriptedEconomy] = []
IDS = itertools.count()


def economy() -> ScriptedEconomy:
    if not _economy:
        from civicledger.kernel import ledger as led
        from civicledger.kernel.identity import AccountKind

        e = ScriptedEconomy(MemoryStore(), start=T0, label="hostile")
        e.person("alice")
        e.person("bob")
        e.open("fund", AccountKind.FUND)
        e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
        e.run(led.Issue(led.CurrencyId("xi"), e.account("alice"), 1_000), "fund")
        _economy.append(e)
    return _economy[0]


def accounts() -> list[str]:
    e = economy()
    return [e.account(n) for n in NAMES]


odd_strings = st.sampled_from(["", " ", "xi", "nope", "ac" + "0" * 32, "x" * 300, "1/0", "-5%", "0/0", "🙂", "a.b.c"])
odd_ints = st.sampled_from([0, -1, 1, 2, 7, 100, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), 10**30])
anything = st.recursive(
    st.none() | st.booleans() | odd_ints | odd_strings, lambda inner: st.lists(inner, max_size=3), max_leaves=6
)


def for_type(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None:
        return for_type(supertype, depth) | st.sampled_from(accounts())
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_type(a, depth) for a in typing.get_args(tp)])
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(tp)) | odd_strings
    if origin in (tuple, frozenset, list):
        args = typing.get_args(tp)
        return st.lists(for_type(args[0] if args else Any, depth + 1), max_size=3)
    if origin is dict:
        return st.dictionaries(odd_strings, anything, max_size=3)
    if tp is type(None):
        return st.none()
    if tp is bool:
        return st.booleans()
    if tp is int:
        return odd_ints | st.integers(-(10**6), 10**6)
    if tp is str:
        return odd_strings | st.sampled_from(accounts()) | st.text(max_size=12)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from([m.value for m in tp]) | odd_strings
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and depth < 3:
        hints = _hints(tp)
        return st.fixed_dictionaries({f.name: for_type(hints[f.name], depth + 1) for f in dataclasses.fields(tp)})
    return anything


@st.composite
def hostile(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    type_name = draw(st.sampled_from(COMMAND_TYPES))
    cls = typing.cast(Any, COMMANDS[type_name])
    hints = _hints(cls)
    payload = {}
    for f in dataclasses.fields(cls):
        typed = for_type(hints[f.name])
        payload[f.name] = draw(typed | anything if draw(st.integers(0, 9)) == 0 else typed)
    if payload and draw(st.integers(0, 5)) == 0:
        payload.pop(draw(st.sampled_from(sorted(payload))))
    if draw(st.integers(0, 9)) == 0:
        payload[draw(st.text(min_size=1, max_size=6))] = draw(anything)
    return type_name, payload


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(hostile(), st.sampled_from(NAMES))
def test_x05_hostile_payloads_of_every_command_type_are_refused_cleanly(
    case: tuple[str, dict[str, Any]], signer: str
) -> None:
    type_name, payload = case
    e = economy()
    key = e.key(signer)
    cid = f"hostile-{next(IDS)}"
    message = signing_bytes(e.economy_id, cid, type_name, payload, e.clock.now())
    signature = SignatureRecord(key.account, key.sign(message).hex())
    command = SignedCommand(cid, type_name, payload, e.clock.now(), (signature,))  # type: ignore[arg-type]
    with e.store.read() as uow:
        before = uow.journal.head().size
    try:
        receipt = e.engine.execute(command)
    except CivicLedgerError as error:
        assert error.rule and error.message
        with e.store.read() as uow:
            assert uow.journal.head().size == before
    else:
        assert receipt.seq == before and not receipt.replayed
