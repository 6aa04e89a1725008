"""IN4: demurrage is not optional (circles-v2, CI15, rule version 3).

A holder tries to keep more than 0.93^(days/365.25) of what it holds: by never acting, by moving
coins back and forth between its own accounts to reset the clock, by splitting a holding, and by
sending coins away just before they would be charged. Each attempt is compared with an honest
holder's figure computed here, independently of the implementation.
"""

from __future__ import annotations

import httpx

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.api.app import create_app
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountId
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.kernel.time import DAY
from civicledger.mechanisms.circles import messages as cm
from tests.e2e.serving import serve_app
from tests.integration.test_circles_accounts import supply_matches, verified
from tests.integration.test_circles_demurrage import (
    UNITS_1000,
    join,
    reference,
    rich_pair,
    seen,
    send,
    stored,
)


def trusting(e: ScriptedEconomy, issuer: AccountId, *names: str) -> list[AccountId]:
    """Circles accounts that accept ``issuer``'s currency."""
    out = join(e, *names)
    for name, account in zip(names, out, strict=True):
        e.run(cm.Trust(account, issuer), name)
    return out


def test_in04_a_holder_who_never_acts_still_pays(store: Store) -> None:
    e, alice, bob = rich_pair(store)
    send(e, "alice", "bob", alice, UNITS_1000)
    e.advance(365 * DAY)
    assert seen(e, bob, alice) == reference(UNITS_1000, 365)  # every read shows it
    with (
        serve_app(create_app(e.store, e.clock, e.key("journal"))) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        shown = http.get(f"/api/accounts/{bob}/balances").json()["balances"][alice]
    assert shown == reference(UNITS_1000, 365)  # the HTTP API too
    send(e, "alice", "bob", alice, 1)  # bob does nothing; someone paying him settles his holding
    assert stored(e, bob, alice) == reference(UNITS_1000, 365) + 1
    supply_matches(e)
    verified(e)


def test_in04_moving_coins_between_ones_own_accounts_never_restores_units(store: Store) -> None:
    e, alice, _ = rich_pair(store)
    carol, _bob2 = trusting(e, alice, "carol", "bob2")  # carol holds and waits; bob shuttles to bob2
    send(e, "alice", "bob", alice, UNITS_1000)
    send(e, "alice", "carol", alice, UNITS_1000)
    here, there = "bob", "bob2"
    moves = 0
    for _ in range(6):
        e.advance(61 * DAY)
        send(e, here, there, alice, seen(e, e.account(here), alice))
        here, there = there, here
        moves += 1
    e.advance(DAY)
    shuttled = seen(e, e.account(here), alice)
    honest = seen(e, carol, alice)
    assert honest == reference(UNITS_1000, 367)
    assert shuttled <= honest  # the clock never restarts to the holder's gain
    assert honest - shuttled <= moves  # moving costs no more than rounding each settled day down
    assert seen(e, e.account(there), alice) == 0
    supply_matches(e)
    verified(e)


def test_in04_splitting_a_holding_does_not_pay(store: Store) -> None:
    e, alice, bob = rich_pair(store)
    pieces = trusting(e, alice, *(f"piece-{i}" for i in range(5)))
    send(e, "alice", "bob", alice, UNITS_1000)
    for i in range(5):
        send(e, "alice", f"piece-{i}", alice, UNITS_1000 // 5)
    e.advance(400 * DAY)
    whole = seen(e, bob, alice)
    split = sum(seen(e, p, alice) for p in pieces)
    assert whole == reference(UNITS_1000, 400)
    assert split <= whole  # each piece is rounded down on its own
    assert whole - split < len(pieces)


def test_in04_sending_the_day_before_does_not_escape_and_the_receiver_pays_from_arrival(store: Store) -> None:
    e, alice, bob = rich_pair(store)
    (carol,) = trusting(e, alice, "carol")
    send(e, "alice", "bob", alice, UNITS_1000)
    e.advance(364 * DAY)
    held = seen(e, bob, alice)
    assert held == reference(UNITS_1000, 364)
    send(e, "bob", "carol", alice, held)  # bob sends everything the day before a year is up
    assert stored(e, bob, alice) == 0
    assert stored(e, carol, alice) == held  # bob paid 364 days of demurrage on the way out
    e.advance(DAY)
    assert seen(e, carol, alice) == reference(held, 1)  # carol pays only the one day she held it
    supply_matches(e)
    verified(e)


def test_in04_inviting_ones_own_sybils_does_not_pay(store: Store) -> None:
    e, alice, _ = rich_pair(store)
    sybils = [e.open(f"sybil-{i}") for i in range(3)]
    before = seen(e, alice, alice)
    for i, sybil in enumerate(sybils):
        e.run(cm.Invite(alice, sybil), "alice", f"sybil-{i}")
        e.run(cm.Trust(alice, sybil), "alice")
        # the sybil's welcome bonus comes home to the inviter, 1:1 ...
        e.run(led.Transfer((led.Leg(CurrencyId(sybil), sybil, alice, 4_800),)), f"sybil-{i}")
    after = seen(e, alice, alice) + sum(seen(e, alice, s) for s in sybils)
    assert after == before - 3 * (9_600 - 4_800)  # ... and each invitation still lost 48 units net
    supply_matches(e)
    verified(e)


def test_in04_a_burn_cannot_destroy_units_demurrage_already_took(store: Store) -> None:
    e, alice, bob = rich_pair(store)
    send(e, "alice", "bob", alice, UNITS_1000)
    e.advance(365 * DAY)
    error = e.refused(led.Burn(CurrencyId(alice), bob, UNITS_1000), "bob")
    assert "93004" in error.message  # what bob holds now, not the stored 1,000 units
    e.run(led.Burn(CurrencyId(alice), bob, reference(UNITS_1000, 365)), "bob")
    assert stored(e, bob, alice) == 0
    supply_matches(e)
    verified(e)
