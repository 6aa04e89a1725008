"""Tallies' read model."""

from __future__ import annotations

from typing import Any

from civicledger.kernel import state
from civicledger.kernel.identity import parse_account_id
from civicledger.kernel.ports import Store
from tests.fifth_mechanism.handlers import NS


def tallies_of(store: Store, account: str) -> dict[str, Any]:
    who = parse_account_id(account)
    with store.read() as uow:
        state.require_account(uow, who)
        found = {key.split("/", 1)[1]: int(value) for key, value in uow.records.scan(NS, f"{who}/")}
    return {"account": who, "tallies": found}
