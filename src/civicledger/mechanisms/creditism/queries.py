"""Creditism reads: the assets, a price with its components (CR10-CR12), the council's report.

Read models for the HTTP API and the pages: plain JSON-ready values, one read unit of work each.
"""

from __future__ import annotations

from typing import Any

from civicledger.kernel import state
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.ports import Store
from civicledger.mechanisms.creditism import handlers as scm
from civicledger.mechanisms.creditism.state import APPLICATIONS, ASSETS


def assets(store: Store) -> list[JSONObject]:

    with store.read() as uow:
        # An asset record has no description (its longer name is ``name``): the field stays empty.
        return [{"asset": k, "kind": v.kind.value, "unit": v.unit, "description": ""} for k, v in ASSETS.scan(uow)]


def coops(store: Store) -> list[JSONObject]:
    """Every coop application (CR13, CR14): the coop, its good, its status and what it made and sold."""
    with store.read() as uow:
        rows: list[JSONObject] = []
        for key, a in APPLICATIONS.scan(uow):
            coop = uow.accounts.get(a.coop)
            rows.append(
                {
                    "application": key,
                    "coop": a.coop,
                    "coop_name": coop.name if coop else "",
                    "good": a.good,
                    "status": str(a.status),
                    "produced": a.produced,
                    "sold": a.sold,
                    "applied_at": a.applied_at,
                }
            )
        return rows


def asset_text(row: JSONObject) -> str:
    """What a search of goods looks in: the id, kind and unit."""
    return f"{row['asset']} {row['kind']} {row['unit']}"


def coop_text(row: JSONObject) -> str:
    """What a search of coops looks in: the coop's name and id, the good, the status."""
    return f"{row['coop_name']} {row['coop']} {row['good']} {row['status']} {row['application']}"


def price(store: Store, asset: str) -> dict[str, Any]:  # read field by field by the goods page

    with store.read() as uow:
        return scm.price_view(uow, state.current_policy(uow), asset)


def report(store: Store) -> JSONObject:

    with store.read() as uow:
        return scm.report_view(uow, state.current_policy(uow))
