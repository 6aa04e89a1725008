"""Creditism reads: the assets, a price with its components (CR10-CR12), the council's report.

Read models for the HTTP API and the pages: plain JSON-ready values, one read unit of work each.
"""

from __future__ import annotations

from typing import Any

from civicledger.kernel import state
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.ports import Store
from civicledger.mechanisms.creditism import handlers as scm
from civicledger.mechanisms.creditism.state import ASSETS


def assets(store: Store) -> list[JSONObject]:

    with store.read() as uow:
        # An asset record has no description (its longer name is ``name``): the field stays empty.
        return [{"asset": k, "kind": v.kind.value, "unit": v.unit, "description": ""} for k, v in ASSETS.scan(uow)]


def price(store: Store, asset: str) -> dict[str, Any]:  # read field by field by the goods page

    with store.read() as uow:
        return scm.price_view(uow, state.current_policy(uow), asset)


def report(store: Store) -> JSONObject:

    with store.read() as uow:
        return scm.report_view(uow, state.current_policy(uow))
