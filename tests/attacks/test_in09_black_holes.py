"""IN9 No black holes: units cannot be sent where nobody can ever spend them.

The only accounts that can never spend what they hold are Circles groups: a group's coins never move
(CI11). Under rules 1 a plain transfer of a group's own money to the group's account is accepted (the
issuer accepts its own currency without limit, CI5) and the units are frozen for good; so is another
group's money sent to a group that trusts it. Under rules 2 the kernel's ``Payments`` book refuses
every such leg, whatever command asks for it; conversion and group exchange, which issue group money
for the collateral they move, still work.
"""

from __future__ import annotations

import httpx
import pytest

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit, payments
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import RuleViolationError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.mechanisms.circles import messages as cm
from tests.conftest import T0
from tests.e2e.serving import SigningClient, live_server, problem_of
from tests.integration.test_circles_accounts import head, held, join, supply_matches, verified
from tests.integration.test_circles_groups import group


def _economy(store: Store, rules: int) -> ScriptedEconomy:
    return ScriptedEconomy(store, start=T0, label="civicledger test key", rules=rules)


def _bob_holds_berlin_money(e: ScriptedEconomy) -> tuple[AccountId, AccountId]:
    """alice owns group berlin; bob, a member, converts 5,000 of his own currency into berlin money."""
    _alice, bob = join(e, "alice", "bob")
    berlin = group(e, "berlin", "alice")
    e.run(cm.AddMember(berlin, bob), "alice")
    e.run(cm.ClaimIncome(bob), "bob")
    e.run(cm.Convert(bob, berlin, 5_000), "bob")
    return bob, berlin


def _to_group(e: ScriptedEconomy, bob: AccountId, currency: AccountId, target: AccountId, units: int) -> led.Transfer:
    return led.Transfer((led.Leg(CurrencyId(currency), bob, target, units),))


def test_in09_under_rules_1_group_money_sent_to_its_own_group_was_frozen_for_good(store: Store) -> None:
    """The attack as it worked: the transfer is accepted, and nobody can ever move the units again."""
    e = _economy(store, rules=1)
    bob, berlin = _bob_holds_berlin_money(e)
    e.run(_to_group(e, bob, berlin, berlin, 1_000), "bob")
    assert held(e, berlin, berlin) == 1_000 and held(e, bob, berlin) == 4_000
    # Not even the group's own key (or its owner) can send them anywhere: they are gone (CI11).
    back = led.Transfer((led.Leg(CurrencyId(berlin), berlin, bob, 1_000),))
    assert e.refused(back, "berlin").rule == "CI11"
    assert e.refused(back, "berlin", "alice").rule == "CI11"
    verified(e)


def test_in09_group_money_to_its_own_group_is_refused(store: Store) -> None:
    e = _economy(store, rules=2)
    bob, berlin = _bob_holds_berlin_money(e)
    before = head(e)
    error = e.refused(_to_group(e, bob, berlin, berlin, 1_000), "bob")
    assert isinstance(error, RuleViolationError) and error.rule == "IN9"
    assert "own money" in error.message and "never" in error.message
    assert head(e) == before  # nothing written
    assert held(e, berlin, berlin) == 0 and held(e, bob, berlin) == 5_000  # bob keeps what he can spend
    supply_matches(e)
    verified(e)


def test_in09_another_groups_money_to_a_group_that_trusts_it_is_refused_but_exchange_works(store: Store) -> None:
    """sf trusts berlin, so a plain transfer of berlin money to sf passes acceptance (CI5, CI12); it would
    freeze in sf. Under rules 2 it is refused; the group exchange, which pays sf money back, still runs."""
    e = _economy(store, rules=2)
    bob, berlin = _bob_holds_berlin_money(e)
    join(e, "carol")
    sf = group(e, "sf", "carol")
    e.run(cm.Trust(sf, berlin), "carol", "alice")
    before = head(e)
    error = e.refused(_to_group(e, bob, berlin, sf, 1_000), "bob")
    assert error.rule == "IN9" and "convert or exchange" in error.message
    assert head(e) == before and held(e, sf, berlin) == 0
    e.run(cm.GroupExchange(bob, berlin, sf, 1_000), "bob")  # collateral by rule, with sf money in return
    assert held(e, sf, berlin) == 1_000 and held(e, bob, sf) == 1_000 and held(e, bob, berlin) == 4_000
    supply_matches(e)
    verified(e)


def test_in09_the_same_transfer_under_rules_1_still_re_executes(store: Store) -> None:
    """IN8: the refusal is a rule-2 branch; an economy at rules 1 keeps accepting (and its journal verifies)."""
    e = _economy(store, rules=1)
    bob, berlin = _bob_holds_berlin_money(e)
    join(e, "carol")
    sf = group(e, "sf", "carol")
    e.run(cm.Trust(sf, berlin), "carol", "alice")
    e.run(_to_group(e, bob, berlin, sf, 1_000), "bob")
    assert held(e, sf, berlin) == 1_000
    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason


def test_in09_every_money_path_is_guarded_not_only_ledger_transfer(store: Store) -> None:
    """A mechanism that builds a book without naming the rule version (``rules=None``) still gets IN9:
    the book reads the version from the economy. A multi-leg transfer hiding the leg is refused too."""
    e = _economy(store, rules=2)
    bob, berlin = _bob_holds_berlin_money(e)
    (dave,) = join(e, "dave")
    e.run(cm.Trust(dave, berlin), "dave")
    hole = led.Leg(CurrencyId(berlin), bob, berlin, 10)
    with e.store.read() as uow, pytest.raises(RuleViolationError) as caught:
        payments.transfer(uow, [hole], e.clock.now())
    assert caught.value.rule == "IN9"
    fine = led.Leg(CurrencyId(berlin), bob, dave, 10)
    error = e.refused(led.Transfer((fine, hole)), "bob")
    assert error.rule == "IN9" and held(e, dave, berlin) == 0
    e.run(led.Transfer((fine,)), "bob")
    assert held(e, dave, berlin) == 10


def test_in09_over_http_the_black_hole_is_a_409_naming_in9(store: Store) -> None:
    e = _economy(store, rules=2)
    bob, berlin = _bob_holds_berlin_money(e)
    before = head(e)
    with live_server(e.store, e.key("journal")) as url, httpx.Client(base_url=url, timeout=30) as http:
        client = SigningClient(http, e)
        response = client.run(_to_group(e, bob, berlin, berlin, 1_000), "bob")
        problem = problem_of(response)
        assert response.status_code == 409 and problem["rule"] == "IN9", problem
    assert head(e) == before and held(e, bob, berlin) == 5_000
