"""Creditism's typed records store exactly the JSON its namespaces always held (the state digest of
every existing database depends on it), and a record of the wrong shape is named, not guessed."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.records import encode_record
from civicledger.mechanisms.creditism.events import FactorScore
from civicledger.mechanisms.creditism.state import (
    APPLICATIONS,
    ASSETS,
    CREDITS,
    PREORDERS,
    ApplicationRecord,
    AssetRecord,
    CreditsRecord,
    PreOrderRecord,
)
from civicledger.mechanisms.creditism.values import AssetKind

COUNCIL = AccountId("ac-council")
COOP = AccountId("ac-green")

NEW_ASSET: dict[str, Any] = {
    "asset": "bicycle",
    "council": "ac-council",
    "kind": "good",
    "unit": "piece",
    "name": "city bicycle",
    "rejuvenation": "0",
    "mortality": "0",
    "extraction": "0",
    "total_supply": "0",
    "age": "0",
    "labour": 12_000,
    "external": 0,
    "council_markup": "1/20",
    "inputs": {"plastic": "1", "steel": "5"},
    "score": "0",
    "factors": [],
    "demand": "0",
    "allotted": None,
    "sustainable": None,
    "capability": None,
    "limiting": None,
    "shares": {},
    "preordered": 0,
    "defined_at": 1_000,
}

NEW_APPLICATION: dict[str, Any] = {
    "application": "green-bike",
    "coop": "ac-green",
    "good": "bicycle",
    "labour": 10_000,
    "external": 500,
    "markup": "1/20",
    "inputs": {},
    "process": "hand-built",
    "status": "applied",
    "allotted": None,
    "preordered": 0,
    "preorder_value": 0,
    "crowdfunded": {},
    "produced": 0,
    "sold": 0,
    "revenue": 0,
    "coop_credits": 0,
    "worker_credits": 0,
    "applied_at": 2_000,
}


def new_asset() -> AssetRecord:
    return AssetRecord(
        asset="bicycle",
        council=COUNCIL,
        kind=AssetKind.GOOD,
        unit="piece",
        name="city bicycle",
        rejuvenation="0",
        mortality="0",
        extraction="0",
        total_supply="0",
        age="0",
        labour=12_000,
        external=0,
        council_markup="1/20",
        inputs={"plastic": "1", "steel": "5"},
        score="0",
        factors=(),
        demand="0",
        allotted=None,
        sustainable=None,
        capability=None,
        limiting=None,
        shares={},
        preordered=0,
        defined_at=1_000,
    )


def new_application() -> ApplicationRecord:
    return ApplicationRecord(
        application="green-bike",
        coop=COOP,
        good="bicycle",
        labour=10_000,
        external=500,
        markup="1/20",
        inputs={},
        process="hand-built",
        status="applied",
        allotted=None,
        preordered=0,
        preorder_value=0,
        crowdfunded={},
        produced=0,
        sold=0,
        revenue=0,
        coop_credits=0,
        worker_credits=0,
        applied_at=2_000,
    )


def test_x2_a_new_asset_is_stored_with_nulls_and_without_survey_or_allotment_times() -> None:
    assert encode_record(new_asset()) == NEW_ASSET
    assert ASSETS.decode(NEW_ASSET) == new_asset()


def test_x2_an_asset_gains_its_survey_and_allotment_times_once_set() -> None:
    asset = replace(
        new_asset(),
        score="1/1000",
        factors=(FactorScore("co2", "1", "1/1000", "1/1000"),),
        demand="800",
        surveyed_at=3_000,
        allotted="999",
        sustainable="999",
        capability="1000",
        limiting="plastic",
        shares={"plastic": "1000"},
        allotted_at=4_000,
    )
    stored = {
        **NEW_ASSET,
        "score": "1/1000",
        "factors": [{"name": "co2", "weight": "1", "score": "1/1000", "raw": "1/1000"}],
        "demand": "800",
        "surveyed_at": 3_000,
        "allotted": "999",
        "sustainable": "999",
        "capability": "1000",
        "limiting": "plastic",
        "shares": {"plastic": "1000"},
        "allotted_at": 4_000,
    }
    assert encode_record(asset) == stored
    assert ASSETS.decode(stored) == asset


def test_x2_an_application_gains_its_approval_time_and_base_price_once_set() -> None:
    assert encode_record(new_application()) == NEW_APPLICATION
    assert APPLICATIONS.decode(NEW_APPLICATION) == new_application()
    approved = replace(
        new_application(),
        status="approved",
        allotted="600",
        approved_at=5_000,
        crowdfunded={CurrencyId("xi"): 7},
        produced=3,
        sold=3,
        base_price=0,
    )
    stored = {
        **NEW_APPLICATION,
        "status": "approved",
        "allotted": "600",
        "approved_at": 5_000,
        "crowdfunded": {"xi": 7},
        "produced": 3,
        "sold": 3,
        "base_price": 0,  # a BasePrice of 0 is stored, not taken for unset
    }
    assert encode_record(approved) == stored
    assert APPLICATIONS.decode(stored) == approved


def test_x2_pre_orders_and_credits_are_stored_flat() -> None:
    order = PreOrderRecord("green-bike", "bicycle", AccountId("ac-ada"), 60, "1/10", 1_050, 63_000, 6_000, 42)
    stored_order = {
        "application": "green-bike",
        "good": "bicycle",
        "buyer": "ac-ada",
        "quantity": 60,
        "ratio": "1/10",
        "unit_price": 1_050,
        "total": 63_000,
        "at": 6_000,
        "seq": 42,
    }
    assert encode_record(order) == stored_order and PREORDERS.decode(stored_order) == order
    credits = CreditsRecord(COOP, 500, 500)
    stored_credits = {"coop": "ac-green", "coop_credits": 500, "worker_credits": 500}
    assert encode_record(credits) == stored_credits and CREDITS.decode(stored_credits) == credits


@pytest.mark.parametrize("missing", ["score", "defined_at", "allotted"])
def test_x2_an_asset_record_missing_a_field_it_always_had_is_refused_by_name(missing: str) -> None:
    broken = {k: v for k, v in NEW_ASSET.items() if k != missing}
    with pytest.raises(InvalidInputError, match=re.escape(f"creditism.asset/bicycle: missing field {missing}")):
        ASSETS.decode(broken, "bicycle")


def test_x2_an_application_of_an_unknown_status_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=re.escape("creditism.coop/green-bike.status")):
        APPLICATIONS.decode({**NEW_APPLICATION, "status": "paused"}, "green-bike")
