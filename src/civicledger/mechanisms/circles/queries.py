"""Circles reads: an account's income, reserve and trusts, the trust edges, a routed payment's plan (CI9).

Read models for the HTTP API and the pages: plain JSON-ready values, one read unit of work each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from civicledger.kernel.identity import parse_account_id
from civicledger.kernel.messages import to_wire
from civicledger.kernel.paging import page
from civicledger.kernel.ports import Store
from civicledger.mechanisms.circles import handlers as sc


def account_summary(store: Store, account_id: str, now: int) -> dict[str, Any]:

    who = parse_account_id(account_id)
    with store.read() as uow:
        found = sc.summary(uow, who, max(now, uow.journal.head().time))
    return found.to_wire()


def trust_edges(store: Store, after: str | None, limit: int, account: str | None = None) -> dict[str, Any]:

    with store.read() as uow:
        rows: Iterator[tuple[str, Any]] = uow.records.scan(sc.TRUST)
        edges = []
        for key, value in rows:
            truster, trustee = key.split("/", 1)
            if account is not None and account not in (truster, trustee):
                continue
            row = {"truster": truster, "trustee": trustee}
            if isinstance(value, dict):
                row.update({k: v for k, v in value.items() if k not in row})
            edges.append((key, row))
    return page(edges, after, limit)


def route(store: Store, sender: str, receiver: str, units: int | None, now: int, memo: str = "") -> dict[str, Any]:
    """The router's plan (CI9) and, when ``units`` can flow, the ``circles.pay`` payload to sign."""

    frm, to = parse_account_id(sender), parse_account_id(receiver)
    router = sc.router_for(store)
    plan = router.route(frm, to, units, now)
    out: dict[str, Any] = {"sender": frm, "receiver": to, **plan.to_wire()}
    if units is not None and plan.units >= units:
        from civicledger.mechanisms.circles import messages as cm

        out["command"] = {"type": cm.Pay.TYPE, "payload": to_wire(cm.Pay(frm, to, units, plan.legs, memo))}
    return out
