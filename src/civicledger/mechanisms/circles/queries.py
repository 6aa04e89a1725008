"""Circles reads: an account's income, reserve and trusts, the trust edges, a routed payment's plan (CI9).

Read models for the HTTP API and the pages: plain JSON-ready values, one read unit of work each.
"""

from __future__ import annotations

from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.identity import parse_account_id
from civicledger.kernel.messages import to_wire
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.paging import Page, page
from civicledger.kernel.ports import Store
from civicledger.mechanisms.circles import handlers as sc
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import state as cs


def account_summary(store: Store, account_id: str, now: int) -> sc.SummaryView:
    """An account's claimable income, trustee reserve, trusts both ways and holdings (CI1-CI8), the
    amounts also in major units (``claimable_text``, ``reserve_text``, X3)."""
    who = parse_account_id(account_id)
    with store.read() as uow:
        found = sc.summary(uow, who, max(now, uow.journal.head().time))
        own = uow.ledger.currency(CurrencyId(who))
    out = found.to_wire()
    if own is not None:
        out["claimable_text"] = own.format(found.claimable)
        out["reserve_text"] = own.format(found.reserve)
    return out


def trust_edges(store: Store, after: str | None, limit: int, account: str | None = None) -> Page[JSONObject]:
    """Trust edges ``truster/trustee`` (who accepts whose currency, CI5), optionally those of one account."""
    with store.read() as uow:
        edges: list[tuple[str, JSONObject]] = [
            (
                cs.trust_key(truster, trustee),
                {
                    "truster": truster,
                    "trustee": trustee,
                    "expires_at": record.expires_at,  # the record's fields in stored (sorted) order
                    "limit_percent": record.limit_percent,
                    "since": record.since,
                },
            )
            for truster, trustee, record in cs.trust_records(uow)
            if account is None or account in (truster, trustee)
        ]
    return page(edges, after, limit)


def route(store: Store, sender: str, receiver: str, units: int | None, now: int, memo: str = "") -> JSONObject:
    """The router's plan (CI9) and, when ``units`` can flow, the ``circles.pay`` payload to sign."""
    frm, to = parse_account_id(sender), parse_account_id(receiver)
    router = sc.router_for(store)
    plan = router.route(frm, to, units, now)
    out: JSONObject = {"sender": frm, "receiver": to, **plan.to_wire()}
    with store.read() as uow:  # amounts in major units (X3): every Circles currency has its decimals
        own = uow.ledger.currency(CurrencyId(frm))
    if own is not None:
        out["units_text"] = own.format(plan.units)
        out["max_flow_text"] = own.format(plan.max_flow)
        if units is not None:
            out["asked_text"] = own.format(units)
    if units is not None and plan.units >= units:
        out["command"] = {"type": cm.Pay.TYPE, "payload": to_wire(cm.Pay(frm, to, units, plan.legs, memo))}
    return out
