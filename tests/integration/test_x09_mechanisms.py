"""X9 through every mechanism: after its key changes, an account keeps working (a test per
mechanism), and an account recovered through its guardians keeps its balances, trust, credits and
votes. Each account signs with its new key only; its first key is refused."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import identity as ident
from civicledger.kernel import ledger as led
from civicledger.kernel.errors import AuthorityError
from civicledger.kernel.identity import AccountId, AccountKind, Role
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.time import DAY, YEAR
from civicledger.mechanisms.circles import handlers as sc
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import state as cs
from civicledger.mechanisms.creditism import commands as cr
from civicledger.mechanisms.creditism.state import APPLICATIONS
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import state as credit_state
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears import state as gs
from tests.integration.test_circles_accounts import held, join, supply_matches, verified
from tests.integration.test_creditism_flow import bike_world
from tests.integration.test_credits_lifecycle import KEY
from tests.integration.test_gears_flow import company, pass_test, setup_gears

XI = CurrencyId("xi")


def first_key_refused(e: ScriptedEconomy, name: str, command: object) -> None:
    error = e.refused(command, e.first_key(name))  # type: ignore[arg-type]
    assert isinstance(error, AuthorityError) and "does not match" in error.message


def test_x09_circles_income_trust_and_a_routed_payment_after_a_rotation(economy: ScriptedEconomy) -> None:
    e = economy
    a, b, c = join(e, "a", "b", "c")
    e.rotate("a")
    e.advance(7 * DAY)
    first_key_refused(e, "a", cm.ClaimIncome(a))
    claimed = e.run(cm.ClaimIncome(a), "a")
    assert claimed.result["claimed"] > 0
    e.run(cm.Trust(a, b), "a", "b")
    e.rotate("b")
    e.run(cm.Trust(b, c), "b", "c")
    with e.store.read() as uow:
        assert cs.trust_edge(uow, a, b) is not None and cs.trust_edge(uow, b, c) is not None
    payment = sc.router_for(e.store).pay_command(a, c, 600_000)
    assert len(payment.legs) >= 2
    first_key_refused(e, "a", payment)
    before = held(e, c, b) + held(e, c, a) + held(e, c, c)
    e.run(payment, "a")
    assert held(e, c, b) + held(e, c, a) + held(e, c, c) == before + 600_000
    supply_matches(e)
    verified(e)


def test_x09_credits_enrol_participate_and_appeal_after_a_rotation(economy: ScriptedEconomy) -> None:
    e = economy
    erin, tess = e.person("erin"), e.person("tess")
    e.council_decision(ident.GrantRole(tess, Role.TECHNOCRAT))
    e.rotate("erin")
    e.rotate("tess")
    e.run(cc.EnrollPerson(erin, e.clock.now() - 20 * YEAR, e.account("registrar")), "registrar")
    e.run(cc.OpenBallot("budget", "Fund the library?", KEY, tess), "tess")
    first_key_refused(e, "erin", cc.TakePart("budget", erin, 300, KEY))
    e.run(cc.TakePart("budget", erin, 300, KEY), "erin", "tess")
    with e.store.read() as uow:
        assert credit_state.standing_of(uow, erin, e.clock.now()).by_grade() == {2: 18_000, 3: 2_000}
    adjusted = e.run(cc.AdjustGrade(erin, 2, 0, YEAR, "mural", "photo", technocrat=tess), "tess")
    appeal = cc.FileAppeal(adjusted.result["adjustment"], erin, "the mural was mine")
    first_key_refused(e, "erin", appeal)
    filed = e.run(appeal, "erin")
    assert filed.result["appeal"]
    verified(e)


def test_x09_a_gears_vote_after_a_rotation(economy: ScriptedEconomy) -> None:
    e = economy
    setup_gears(e)
    firm = company(e, "acme")
    vic = e.person("vic")
    e.rotate("vic")
    pass_test(e, "vic", firm)
    first_key_refused(e, "vic", g.CastVote(vic, firm, 1))
    e.run(g.CastVote(vic, firm, 1), "vic")
    with e.store.read() as uow:
        vote = gs.VOTES.get(uow, gs.vote_key(firm, vic))
        assert vote is not None and vote.value == 1
    verified(e)


def test_x09_creditism_a_coop_and_a_backer_after_their_rotations(economy: ScriptedEconomy) -> None:
    e = economy
    council = bike_world(e)
    e.open("new-coop", AccountKind.ORGANIZATION)
    e.rotate("new-coop")
    coop = e.account("new-coop")
    apply = cr.ApplyCoop(coop, "new-bike", "bicycle", labour=5_000, process="bamboo frames")
    first_key_refused(e, "new-coop", apply)
    e.run(apply, "new-coop")
    e.rotate("green-wheels")  # an approved coop: its backers' units reach it under its new key
    e.open("fund", AccountKind.FUND)
    ada = e.person("ada")
    e.run(led.CreateCurrency("xi", e.account("fund"), "xi"), "fund")
    e.run(led.Issue(XI, ada, 10_000), "fund")
    e.rotate("ada")
    e.run(cr.Crowdfund(ada, "green-bike", XI, 2_500), "ada")
    with e.store.read() as uow:
        assert APPLICATIONS.get(uow, "new-bike") is not None
        application = APPLICATIONS.get(uow, "green-bike")
        assert application is not None and application.crowdfunded == {"xi": 2_500}
        assert uow.ledger.balance(e.account("green-wheels"), XI) == 2_500
    assert council == e.engine.economy().council  # type: ignore[union-attr]
    verified(e)


def test_x09_a_recovered_account_keeps_its_balances_trust_credits_and_votes(economy: ScriptedEconomy) -> None:
    e = economy
    setup_gears(e)
    firm = company(e, "acme")
    alice, bob = e.person("alice"), e.person("bob")
    guardians = [f"guardian-{i}" for i in range(1, 6)]
    for name in guardians:
        e.person(name)
    e.run(ident.NameGuardians(alice, tuple(e.account(n) for n in guardians)), "alice")
    e.run(cm.CreateCirclesAccount(alice), "alice")
    e.run(cm.CreateCirclesAccount(bob), "bob")
    e.run(cm.Trust(alice, bob), "alice", "bob")
    e.run(led.Issue(XI, alice, 700), "fund")
    e.run(cc.EnrollPerson(alice, e.clock.now() - 30 * YEAR, e.account("registrar")), "registrar")
    pass_test(e, "alice", firm)
    e.run(g.CastVote(alice, firm, 1), "alice")

    def snapshot() -> tuple[dict[CurrencyId, int], bool, int, int | None]:
        with e.store.read() as uow:
            vote = gs.VOTES.get(uow, gs.vote_key(firm, alice))
            return (
                uow.ledger.holdings(alice),
                cs.trust_edge(uow, alice, bob) is not None,
                credit_state.standing_of(uow, alice, e.clock.now()).available,
                vote.value if vote is not None else None,
            )

    before = snapshot()
    assert before[0][XI] >= 700 and before[1] and before[2] > 0 and before[3] == 1
    # alice loses her phone: three guardians and her new key start the recovery; a week later anyone completes it.
    new = e.new_key("alice", 2)
    e.run(ident.StartRecovery(alice, new.public_hex), *guardians[:3], new)
    e.advance(7 * DAY)
    e.run(ident.CompleteRecovery(alice), "bob")
    e.bind("alice", new)
    after = snapshot()
    assert after[0] == before[0] and after[1] and after[3] == 1
    assert after[2] >= before[2]  # credits keep accruing with age, never lost
    assert e.account("alice") == AccountId(alice)
    e.run(led.Transfer((led.Leg(XI, alice, bob, 200),)), "alice")
    e.run(cm.ClaimIncome(alice), "alice")
    first_key_refused(e, "alice", led.Transfer((led.Leg(XI, alice, bob, 1),)))
    with e.store.read() as uow:
        assert uow.ledger.balance(bob, XI) == 200
    verified(e)
