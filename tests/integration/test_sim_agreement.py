"""Agreement with the engine (issue 8, point 3): the simulator and the services, same story.

A small scenario runs in the simulator with a trace of every action it applied; the same actions
then go through the real engine on the suite's store (ScriptedEconomy), at the same instants.
Both must end with the same balances (Circles: own coins, others' coins, group money; Gears: the
seller's and the fund's xi), the same coefficients (GR5) at every step, and the same social credit
balances and grades (SC2, SC4, SC8) at every step.

Covered: Circles income (CI2-CI4), mutual trust with trustee rewards (CI5, CI7), direct payments
between persons who trust each other (CI8), two-hop routed payments (CI9), groups and conversion
(CI10, CI11); social credit accrual, participation (whole-balance and on a portion: quantity
adjustments), infractions and decay (SC2, SC4, SC5, SC8), appeals overturned by a panel (SC7),
spending on a service's tiers, lowest qualifying grade first, consuming quantity raises (SC3,
SC10), the civic lottery's pledges, second-chance candidates and draws (SC9); Gears votes with
their rewards and expiry, coefficients and immediate settlement (GR1, GR4-GR6), whistleblowing
challenges judged and closed with their penalties (GR7). Creditism: ``test_sim_creditism_agreement``.

What the engine decides from the journal's tree root (the lottery's ranking) the simulator cannot
know: the test's draw hook runs the engine's draw and hands its winners to the simulator, which
records them as an action. What people decide (a panel overturning, judges' verdicts), the
simulator's behaviours decide and the engine's members vote accordingly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import identity as ident
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountKind, Role
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.kernel.time import DAY, WEEK, YEAR, format_instant
from civicledger.mechanisms.circles import handlers as circles_svc
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import handlers as credit_svc
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears import handlers as gear_svc
from civicledger.mechanisms.gears.policy import GearsPolicy
from civicledger.mechanisms.gears.values import Claim, Verdict
from civicledger.sim import Model, parse_scenario
from civicledger.sim.behaviours import REGISTRY, behaviour
from civicledger.sim.scenario import policy_mapping
from tests.conftest import T0
from tests.integration.test_gears_flow import XI, company, pass_test, setup_gears

STEP = 30 * 86_400
FUND = 50_000_000


@behaviour("sales", "first_company_only_test")
def first_company_only(m: Any, rng: np.random.Generator, p: dict[str, float]) -> Any:
    """Only company 0 sells (so the order of sales within a step cannot matter)."""
    out = np.zeros(m.companies, np.int64)
    out[0] = int(rng.integers(1_000, 100_000))
    return out


@behaviour("participation", "all_but_two_test")
def all_but_two_participate(m: Any, rng: np.random.Generator, p: dict[str, float]) -> Any:
    """The default participation, but persons 0 and 1 never take part (so they may need a second chance)."""
    who = REGISTRY["participation"]["bernoulli"](m, rng, p)
    return who[who >= 2]


@behaviour("votes", "all_but_two_test")
def all_but_two_vote(m: Any, rng: np.random.Generator, p: dict[str, float]) -> Any:
    voters, firms, values = REGISTRY["votes"]["noisy_opinions"](m, rng, p)
    keep = voters >= 2
    return voters[keep], firms[keep], values[keep]


PARTICIPATION = {
    "citizens_council": {"steps": 1, "portion_percent": 100, "duration": YEAR},
    "infraction": {"steps": 1, "penalty": True, "qualifying": False, "portion_percent": 100, "duration": 180 * DAY},
    "gears_vote": {"steps": 1, "portion_percent": 100, "duration": 90 * DAY},
}
"""Whole-balance effects (the simulator's credit model), a Gears vote included (X8)."""


PARTICIPATION_PORTIONS = {
    "citizens_council": {"steps": 1, "portion_percent": 40, "duration": YEAR},
    "infraction": {"steps": 1, "penalty": True, "qualifying": False, "portion_percent": 100, "duration": 180 * DAY},
    "gears_vote": {"steps": 1, "portion_percent": 10, "duration": 90 * DAY},
}
"""Participation on part of the balance (quantity adjustments, SC4) as well as whole-balance ones."""

EVERYTHING = {
    "participation": "all_but_two_test",
    "votes": "all_but_two_test",
    "appeals": "bernoulli",
    "spending": "best_tier",
    "pledges": "bernoulli",
    "candidates": "second_chance",
    "whistleblowing": "bernoulli",
}
EVERYTHING_PARAMETERS = {
    "appeal_rate": 1.0,
    "appeal_success": 0.6,
    "spend_rate": 0.3,
    "tier_price": 40.0,
    "pledge_rate": 0.3,
    "pledge_quantity": 60.0,
    "second_chance_rate": 0.5,
    "challenge_rate": 0.3,
    "infraction_rate": 0.2,
    "participation_rate": 0.3,
    "credit_slots": 16.0,
}


def scenario(
    seed: int, everything: bool = False, rules: int = 1, nominations: float = 0.0, deferred: bool = False, **extra: Any
) -> Any:
    data = _scenario_data(seed)
    if nominations:
        data["parameters"]["nomination_rate"] = nominations
    for table, values in extra.items():
        data[table].update(values)
    if everything:
        data["behaviours"].update(EVERYTHING)
        data["parameters"].update(EVERYTHING_PARAMETERS)
        data["policy"] = {"credits": {"participation": PARTICIPATION_PORTIONS}}
    if rules >= 2:  # IN2 as rule version 2 counts it; the simulator has no null votes: none are null here
        data["parameters"]["participation_caps"] = 1.0
        credits = data.setdefault("policy", {}).setdefault("credits", {})
        credits.update({"vote_min_seconds_after_test": 0, "null_vote_kind": "gears_vote"})
    if deferred:  # GR6: every company sells, the fund settles each period at its end
        data["behaviours"]["sales"] = "lognormal"
        data.setdefault("policy", {})["gears"] = {"mode": "deferred"}
    return parse_scenario(data)


def _scenario_data(seed: int) -> dict[str, Any]:
    return {
        "scenario": {"steps": 18, "step": STEP, "seeds": [seed], "start": format_instant(T0)},
        "population": {
            "persons": 6,
            "companies": 2,
            "groups": 1,
            "group_share": 0.5,
            "resources": 0,
            "age_min": 20,
            "age_max": 60,
        },
        "network": {"mean_degree": 3.0, "formation_weeks": 8.0},
        "behaviours": {
            "appeals": "none",
            "spending": "none",
            "pledges": "none",
            "candidates": "none",
            "whistleblowing": "none",
            "demand": "none",
            "sales": "first_company_only_test",
        },
        "parameters": {
            "pay_share": 0.5,
            "route_share": 0.3,
            "convert_share": 0.3,
            "participation_rate": 0.2,
            "infraction_rate": 0.1,
            "vote_rate": 0.5,
            "fund_reserve": float(FUND),
        },
        "policy": {"credits": {"participation": PARTICIPATION}},
    }


def held(e: ScriptedEconomy, holder: str, currency: str) -> int:
    with e.store.read() as uow:
        return uow.ledger.balance(e.account(holder), CurrencyId(e.account(currency)))


def xi(e: ScriptedEconomy, name: str) -> int:
    with e.store.read() as uow:
        return uow.ledger.balance(e.account(name), XI)


def same_coefficients(e: ScriptedEconomy, model: Model, firms: list[str], s: int) -> bool:
    """GR5: the engine's coefficients before the step's sales equal the simulator's, exactly.

    The simulator publishes coefficients every step before the sales; so does the fund here.
    """
    e.run(g.PublishCoefficients(e.account("fund")), "fund")
    with e.store.read() as uow:
        engine_co = gear_svc.coefficients_at(uow, model.policy.section(GearsPolicy), e.clock.now())
    sim_co = model.coefficients
    assert sim_co is not None
    for i, firm in enumerate(firms):
        assert engine_co.companies[e.account(firm)].delta == sim_co.companies[f"c{i:06d}"].delta, (s, firm)
    return True


class Replay:
    """The engine side: replays the simulator's actions at the same instants."""

    def __init__(self, store: Store, model: Model, everything: bool, rules: int = 1) -> None:
        sc = model.scenario
        self.model = model
        # The simulator grades credits as rule version 1 does by default (every reported participation
        # has its policy effect: no IN2 caps, no null votes), so the engine replays under that version
        # unless a test asks for version 2 (with the simulator's IN2 caps). Draws (IN6) at the
        # simulator's instants: no delay, so a draw command follows its request at once.
        policy = policy_mapping(sc)
        policy["journal"] = {**policy.get("journal", {}), "draw_delay": 0}
        self.e = e = ScriptedEconomy(store, start=T0, label="civicledger test key", policy=policy, rules=rules)
        self.names = [f"p{i}" for i in range(sc.population.persons)]
        self.firms = [f"firm{i}" for i in range(sc.population.companies)]
        # Who exists before the first step: persons (verified, enrolled with the model's birth dates),
        # technocrats, the group with its owner, the fund and the companies, a shopper with xi.
        for tech in ("tess", "tom"):
            e.person(tech)
            e.council_decision(ident.GrantRole(e.account(tech), Role.TECHNOCRAT), cid=f"grant-{tech}")
        for i, name in enumerate(self.names):
            e.person(name)
            born = int(model.born[i])
            e.run(cc.EnrollPerson(e.account(name), born, e.account("registrar")), "registrar", cid=f"enroll-{name}")
        setup_gears(e, fund_units=FUND)
        for firm in self.firms:
            company(e, firm)
            e.run(g.PublishStatement(e.account(firm), 1, "We pay fair wages."), firm)
        e.person("shopper")
        e.run(led.Issue(XI, e.account("shopper"), 10**12), "fund", cid="issue-shopper")
        # Judges and whistleblowers of GR7: verified voters not enrolled in credits (X8 notes nothing).
        self.judges = [f"judge{j}" for j in range(3)]
        for judge in self.judges:
            e.person(judge)
        self.whistleblowers = 0
        e.open("grp-owner")
        e.run(cm.CreateCirclesAccount(e.account("grp-owner")), "grp-owner")
        # The simulator's groups: "grp" first, then "grp1", "grp2"... (CI10)
        self.group_names = ["grp", *(f"grp{j}" for j in range(1, int(model.group_supply.size)))]
        self.groups = [e.open(name, AccountKind.GROUP) for name in self.group_names]
        for name, account in zip(self.group_names, self.groups, strict=True):
            e.run(cm.CreateGroup(account, e.account("grp-owner")), name, "grp-owner")
        self.group = self.groups[0]
        self.members = [i for i in range(sc.population.persons) if model.group[i] >= 0]
        if everything:
            clinic = e.open("clinic", AccountKind.ORGANIZATION)
            tiers = tuple(cc.Tier(name, price, grade) for name, price, grade in model.tiers)
            e.run(cc.RegisterService("clinic", clinic, "healthcare", "Clinic", tiers), "clinic")
        self.by_name = {e.account(n): i for i, n in enumerate(self.names)}
        self.infractions: dict[tuple[int, int], str] = {}  # (person, step) -> adjustment id
        self.overturns: list[tuple[int, int]] = []  # decided at the next step
        self.pledges: list[str] = []  # open pledge ids, in order
        self.challenges: dict[int, str] = {}  # company -> open challenge
        self.penalties: list[tuple[int, int, int]] = []
        self.checked_at = -1  # the step whose coefficients were last compared
        self.same_network = 0  # max-flow routes checked on a network both sides see alike (CI9)
        model.draw_hook = self.draw

    def routed_flow(self, a: int, c: int, units: int, max_flow: int, *, refused: bool) -> None:
        """CI9: the engine's router on the engine's state, asked the payment the simulator routed by
        max flow. The simulator passes on own coins only (it pools others' coins by kind); while
        nobody holds others' coins, both see the same network and find the same flow, capped at the
        units asked; later the engine may also pass on coins held, so it finds at least as much."""
        e, names = self.e, self.names
        with e.store.read() as uow:
            ids = [e.account(n) for n in names]
            foreign = sum(uow.ledger.balance(h, CurrencyId(i)) for h in ids for i in ids if h != i)
        plan = circles_svc.router_for(e.store).route(e.account(names[a]), e.account(names[c]), units, e.clock.now())
        exact = self.model.through_held and self.model.p["convert_share"] == 0  # the same network (CI9)
        if foreign == 0 or exact:
            assert plan.max_flow == max_flow, (a, c, units)
            assert (plan.units < units) == refused, (a, c, units)
            self.same_network += 1
        else:
            assert plan.max_flow >= max_flow, (a, c, units)
            assert refused or plan.units == units, (a, c, units)

    def ends(self, leg: tuple[int, ...]) -> tuple[Any, Any]:
        return self.e.account(self.names[leg[0]]), self.e.account(self.names[leg[1]])

    def terms(self) -> tuple[int, int | None]:
        """A trust's limit and expiry as the simulator gives every trust (CI5): its limit under
        trust limits, else 100; its expiry ``trust_expiry_weeks`` from now, else none."""
        model = self.model
        limit = model.limit_percent if model.held_at is not None else 100
        weeks = model.p["trust_expiry_weeks"]
        expires = self.e.clock.now() + round(weeks * WEEK) if model.lasting else None
        return limit, expires

    def flush_overturns(self) -> None:
        """SC7: the appeals the simulator overturned at the last step, decided by a panel now."""
        e = self.e
        for person, step in self.overturns:
            name = self.names[person]
            adj = self.infractions[(person, step)]
            receipt = e.run(cc.FileAppeal(adj, e.account(name), "the minutes show I was elsewhere"), name)
            appeal = receipt.result["appeal"]
            names = {e.account(n): n for n in (*self.names, "tess", "tom")}
            panel = receipt.result.get("panel") or self.drawn(cc.DrawPanel(appeal, e.account("tom")))["panel"]
            for member in panel:
                decided = e.run(cc.CastPanelVote(appeal, member, True), names[member])
                if any(ev.get("type") == "credits.appeal_decided" for ev in decided.events):
                    break
            with e.store.read() as uow:
                assert (uow.records.get(credit_svc.NS_APPEAL, appeal) or {}).get("status") == "overturned"
        self.overturns = []

    def drawn(self, command: cc.CreditsCommand) -> dict[str, Any]:
        """A draw command (IN6), sent again if the first only made the signed head it needs."""
        result = self.e.run(command, "tom").result
        return result if result["drawn"] else self.e.run(command, "tom").result

    def draw(self, s: int, t: int, valid: list[tuple[str, str]], candidates: list[str]) -> Any:
        """SC9: the engine draws (its seed is the journal's tree root); the simulator takes its winners."""
        e = self.e
        assert e.clock.now() == t
        self.flush_overturns()
        receipt = e.run(cc.DrawLottery(technocrat=e.account("tess")), "tess")
        if "winners" not in receipt.result:  # rule version 2: scheduled, drawn by a later command (IN6)
            self.drawn(cc.RunDraw(receipt.result["draw"], e.account("tom")))
        with e.store.read() as uow:
            drawn: dict[str, Any] = uow.records.get(credit_svc.NS_DRAW, receipt.result["draw"]) or {}
        key = {p: f"{i:09d}" for i, p in enumerate(self.pledges)}
        # The same valid pledges and candidates on both sides, then the engine's winners.
        assert [
            (key[p], f"{self.by_name[d]:09d}") for p, d in zip(drawn["pledges"], drawn["donors"], strict=True)
        ] == valid
        assert sorted(f"{self.by_name[c]:09d}" for c in drawn["candidates"]) == candidates
        won = {p for p, _, _ in drawn["winners"]}
        self.pledges = [p for p in drawn["pledges"] if p not in won]  # valid, unmatched: still open
        return [(key[p], f"{self.by_name[d]:09d}", f"{self.by_name[c]:09d}") for p, d, c in drawn["winners"]]

    def apply(self, s: int, action: tuple[Any, ...]) -> bool:
        """Replay one action; True when it checked the coefficients."""
        e, names, firms = self.e, self.names, self.firms
        kind, _step, *args = action
        if kind == "open":
            for i in range(args[0], args[1]):
                e.run(cm.CreateCirclesAccount(e.account(names[i])), names[i])
            for i in self.members:
                e.run(cm.AddMember(self.groups[self.model.group[i]], e.account(names[i])), "grp-owner")
        elif kind == "claim":
            if args[2]:
                for i in range(args[0], args[1]):
                    e.run(cm.ClaimIncome(e.account(names[i])), names[i])
        elif kind == "trust":
            u, v = names[args[0]], names[args[1]]
            e.run(cm.Trust(e.account(u), e.account(v), *self.terms()), u, v)
        elif kind == "trust_directed":  # CI5: the truster alone signs; a trust back is a second command
            t, r, both, reward, reward_back = names[args[0]], names[args[1]], *args[2:]
            first = e.run(cm.Trust(e.account(t), e.account(r), *self.terms()), t).result["rewards"]
            assert first == ({e.account(t): reward} if reward else {}), (s, t, r)
            if both:
                back = e.run(cm.Trust(e.account(r), e.account(t), *self.terms()), r).result["rewards"]
                assert back == ({e.account(r): reward_back} if reward_back else {}), (s, r, t)
        elif kind == "trust_renew":  # CI5 (v2): an expired trust made again, rewarding nobody (CI7)
            u, v, u_accepts, v_accepts = names[args[0]], names[args[1]], args[2], args[3]
            if not self.model.directed:
                assert e.run(cm.Trust(e.account(u), e.account(v), *self.terms()), u, v).result["rewards"] == {}
            for truster, trustee, accepts in ((u, v, u_accepts), (v, u, v_accepts)):
                if self.model.directed and accepts:
                    cmd = cm.Trust(e.account(truster), e.account(trustee), *self.terms())
                    assert e.run(cmd, truster).result["rewards"] == {}, (s, truster, trustee)
        elif kind == "untrust":  # CI6: one party revokes; the engine ends the trust both ways
            u, v = names[args[0]], names[args[1]]
            assert e.run(cm.Untrust(e.account(u), e.account(v)), u).result["revoked"] >= 1, (s, u, v)
        elif kind == "pay":
            a, b, units = names[args[0]], names[args[1]], args[2]
            leg = led.Leg(CurrencyId(e.account(a)), e.account(a), e.account(b), units)
            e.run(led.Transfer((leg,)), a)
        elif kind == "route":
            a, b, c, units = names[args[0]], names[args[1]], names[args[2]], args[3]
            legs = (
                led.Leg(CurrencyId(e.account(a)), e.account(a), e.account(b), units),
                led.Leg(CurrencyId(e.account(b)), e.account(b), e.account(c), units),
            )
            e.run(cm.Pay(e.account(a), e.account(c), units, legs), a)
        elif kind == "flow":  # CI9 by the engine's max-flow kernel: the engine can pay it, and accepts the plan
            a, c, units, _max_flow, legs = args
            self.routed_flow(a, c, units, _max_flow, refused=False)
            plan = tuple(  # a leg's currency: its source's own, or a fourth number (CI9, coins held)
                led.Leg(CurrencyId(e.account(names[leg[-1] if len(leg) == 4 else leg[0]])), *self.ends(leg), leg[2])
                for leg in legs
            )
            e.run(cm.Pay(e.account(names[a]), e.account(names[c]), units, plan), names[a])
        elif kind == "flow_refused":
            a, c, units, max_flow = args
            self.routed_flow(a, c, units, max_flow, refused=True)
        elif kind == "convert":
            a, units = names[args[0]], args[2]
            e.run(cm.Convert(e.account(a), self.groups[args[1]], units), a)
        elif kind == "group_trust":  # CI12: one group trusts another (both ways with mutual trust)
            receipt = e.run(cm.Trust(self.groups[args[0]], self.groups[args[1]]), "grp-owner")
            assert receipt.result["mutual"] == (not self.model.directed)
        elif kind == "group_exchange":  # CI12: a member's group money for a trusting group's, 1:1
            a, source, target, units = names[args[0]], self.groups[args[1]], self.groups[args[2]], args[3]
            assert e.run(cm.GroupExchange(e.account(a), source, target, units), a).result["exchanged"] == units
        elif kind == "group_member_trust":  # CI13: a member trusts its group; it alone signs, nobody is rewarded
            a = names[args[0]]
            assert e.run(cm.Trust(e.account(a), self.groups[args[1]]), a).result["rewards"] == {}
        elif kind == "group_pay":  # CI13: group money to someone who trusts the group, by a plain transfer
            a, b, money, units = names[args[0]], names[args[1]], CurrencyId(self.groups[args[2]]), args[3]
            e.run(led.Transfer((led.Leg(money, e.account(a), e.account(b), units),)), a)
        elif kind in ("participate", "infraction"):
            what = "citizens_council" if kind == "participate" else "infraction"
            cmd = cc.RecordParticipation(e.account(names[args[0]]), what, "minutes", technocrat=e.account("tess"))
            receipt = e.run(cmd, "tess")
            if kind == "infraction":
                self.infractions[(args[0], s)] = receipt.result["adjustment"]
        elif kind == "participate_uncounted":  # IN2: beyond the caps, refused and nothing written
            person, tess = e.account(names[args[0]]), e.account("tess")
            cmd = cc.RecordParticipation(person, "citizens_council", "minutes", technocrat=tess)
            assert e.refused(cmd, "tess").rule == "IN2", (s, args)
        elif kind == "overturn":
            self.overturns.append((args[0], s))
        elif kind == "spend":
            person, tier = names[args[0]], self.model.tiers[args[1]][0]
            receipt = e.run(cc.SpendCredits(e.account(person), "clinic", tier), person)
            assert sum(receipt.result["by_grade"].values()) == self.model.tiers[args[1]][1]
        elif kind == "pledge":
            donor, steps, quantity, duration = names[args[0]], args[1], args[2], args[3]
            receipt = e.run(cc.PledgeUplift(e.account(donor), steps, quantity, duration), donor)
            self.pledges.append(receipt.result["pledge"])
        elif kind == "second_chance":
            e.run(cc.ApplySecondChance(e.account(names[args[0]])), names[args[0]])
        elif kind in ("nominate", "nominate_refused"):  # SC9: by co-signers, accepted or refused alike
            signers = sorted({names[c] for c in args[1]})
            nomination = cc.NominateCandidate(
                e.account(names[args[0]]), "a neighbour's nomination", frozenset(e.account(n) for n in signers)
            )
            if kind == "nominate":
                e.run(nomination, *signers)
            else:
                assert e.refused(nomination, *signers).rule == "SC9", (s, args)
        elif kind in ("council_nominate", "council_nominate_refused"):  # SC9: by the council's decision
            nomination = cc.NominateCandidate(
                e.account(names[args[0]]), "the council's minutes", council=e.account("council")
            )
            if kind == "council_nominate":
                e.council_decision(nomination)
            else:
                assert e.refused(nomination, *e.governors).rule == "SC9", (s, args)
        elif kind == "draw":
            pass  # run by the draw hook, before the simulator applied the winners
        elif kind == "vote":
            voter, firm, value = names[args[0]], e.account(firms[args[1]]), args[2]
            pass_test(e, voter, firm)
            e.run(g.CastVote(e.account(voter), firm, value), voter)
        elif kind == "sale":
            checked = self.checked_at != s and same_coefficients(e, self.model, firms, s)  # before the step's sales
            self.checked_at = s
            firm, price = firms[args[0]], args[1]
            receipt = e.run(g.SettleSale(e.account("shopper"), e.account(firm), price, XI), "shopper", firm)
            assert receipt.result["seller_receives"] == price + args[2] - args[3]  # GR7: debts withheld
            assert receipt.result["withheld"] == args[3]
            return checked
        elif kind == "close_period":  # GR6 deferred: the same payouts and charges, netting zero
            period, payouts, charges = args
            receipt = e.run(g.ClosePeriod(XI, period, e.account("shopper")), "shopper")
            by_firm = {str(e.account(f)): f"c{i:06d}" for i, f in enumerate(firms)}
            assert {by_firm[c]: u for c, u in receipt.result["payouts"].items()} == payouts, (s, period)
            assert {by_firm[c]: u for c, u in receipt.result["charges"].items()} == charges, (s, period)
        elif kind == "challenge":
            firm, verdict = e.account(firms[args[0]]), VERDICTS[args[1]]
            self.whistleblowers += 1
            who = f"whistle{self.whistleblowers}"
            e.person(who)
            opened = e.run(g.ChallengeStatement(e.account(who), firm, 1, Claim.FALSE, "records differ"), who)
            challenge = opened.result["challenge"]
            for judge in self.judges:
                e.run(g.JudgeChallenge(e.account(judge), challenge, verdict), judge)
            self.challenges[args[0]] = challenge
        elif kind == "challenge_closed":
            company_index, _verdict, due, paid = args
            challenge = self.challenges.pop(company_index)
            receipt = e.run(g.CloseChallenge(challenge, e.account("shopper")), "shopper")
            assert (receipt.result["penalty"], receipt.result["paid"]) == (due, paid), (s, company_index)
            self.penalties.append((company_index, due, paid))
        else:
            raise AssertionError(f"no replay for {kind}")
        return False


VERDICTS = (Verdict.ACCURATE, Verdict.MISLEADING, Verdict.FALSE)


def agree(
    store: Store,
    seed: int,
    everything: bool,
    rules: int = 1,
    nominations: float = 0.0,
    deferred: bool = False,
    **extra: Any,
) -> tuple[Model, Replay]:
    sc = scenario(seed, everything, rules, nominations, deferred, **extra)
    model = Model(sc, seed=seed, trace=True)
    r = Replay(store, model, everything, rules)
    e, names, firms = r.e, r.names, r.firms
    seen = 0
    for s in range(sc.steps):
        model.step(s)
        assert e.clock.now() == sc.start + s * STEP
        r.flush_overturns()
        actions = model.trace.actions[seen:]  # type: ignore[union-attr]
        seen += len(actions)
        checked = False
        for action in actions:
            checked = r.apply(s, action) or checked
        t = e.clock.now()
        if not checked:
            checked = same_coefficients(e, model, firms, s)
        # SC2, SC4, SC8, SC10: the same credits by grade for every person, lot by lot.
        table = model.by_grade(t)
        low = model.policy.section(CreditsPolicy).grade_min
        with e.store.read() as uow:
            for i, name in enumerate(names):
                standing = credit_svc.standing_of(uow, e.account(name), t)
                expected = {g + low: int(u) for g, u in enumerate(table[i].tolist()) if u}
                assert standing.by_grade() == expected, (s, name)
                assert standing.available == int(model.available(t)[i]), (s, name)
        e.advance(STEP)

    # Circles: each person's own coins, others' coins and group money; Gears: seller and fund.
    for i, name in enumerate(names):
        assert held(e, name, name) == model.own[i], name
        others = sum(held(e, name, other) for other in names if other != name)
        assert others == model.held_honest[i], name
        in_groups = [held(e, name, g) for g in r.group_names]
        assert sum(in_groups) == model.group_held[i], name
        if model.group_swapped is not None:  # CI12: its own group's money, and others' swapped for it
            assert sum(in_groups) - in_groups[model.group[i]] == model.group_swapped[i], name
    for j, group in enumerate(r.group_names):
        assert sum(held(e, group, name) for name in names) == int(model.group_supply[j]), group
        if model.group_swapped is not None:  # CI12: the other groups' money each group keeps for good
            kept = sum(held(e, group, other) for other in r.group_names if other != group)
            assert kept == model.group_kept[j], group
    for i, firm in enumerate(firms):
        assert xi(e, firm) == model.company_balance[i], firm
    assert xi(e, "fund") == model.fund
    return model, r


@pytest.mark.parametrize("seed", [11, 12])
def test_the_simulator_and_the_engine_agree_on_balances_coefficients_and_grades(store: Store, seed: int) -> None:
    assert "first_company_only_test" in REGISTRY["sales"]
    model, _ = agree(store, seed, everything=False)
    kinds = {a[0] for a in model.trace.actions}  # type: ignore[union-attr]
    assert {"trust", "pay", "route", "convert", "participate", "infraction", "vote", "sale"} <= kinds


@pytest.mark.parametrize("seed", [21])
def test_sc07_sc09_sc10_gr07_appeals_lottery_spending_and_whistleblowing_agree_with_the_engine(
    store: Store, seed: int
) -> None:
    model, replay = agree(store, seed, everything=True, rules=2)
    kinds = {a[0] for a in model.trace.actions}  # type: ignore[union-attr]
    assert {"overturn", "spend", "pledge", "second_chance", "draw", "challenge", "challenge_closed"} <= kinds
    assert model.lottery_winners > 0  # the engine's winners were applied
    assert any(due > 0 for _, due, _ in replay.penalties)  # an upheld challenge cost a penalty
    assert any(a[0] == "sale" and a[5] > 0 for a in model.trace.actions)  # type: ignore[union-attr]
    assert (model.adj_qty > 0).any()  # quantity adjustments took part
    assert model.slot_overflows == 0  # every adjustment was remembered, as the engine does


@pytest.mark.parametrize("seed", [22])
def test_sc09_lottery_nominations_agree_with_the_engine(store: Store, seed: int) -> None:
    """Nominations by co-signers (SC9), accepted or refused as the engine does, join the draw's
    candidates: the engine's draws see the same candidates and the winners include nominees."""
    model, _ = agree(store, seed, everything=True, rules=2, nominations=0.1)
    acts: list[Any] = model.trace.actions  # type: ignore[union-attr]
    nominees = {a[2] for a in acts if a[0] == "nominate"}
    assert nominees and any(a[0] == "nominate_refused" for a in acts)
    assert any(int(c) in nominees for a in acts if a[0] == "draw" for _, _, c in a[2])


@pytest.mark.parametrize("seed", [24])
def test_sc09_lottery_nominations_by_council_decision_agree_with_the_engine(store: Store, seed: int) -> None:
    """Nominations by the council's decision (SC9) beside those by co-signers: the council's quorum
    nominates, a candidate already waiting is refused as the engine refuses it, and the engine's
    draws see the same candidates; a council's nominee wins."""
    params = {"council_nomination_rate": 0.15}
    model, _ = agree(store, seed, everything=True, rules=2, nominations=0.05, parameters=params)
    acts: list[Any] = model.trace.actions  # type: ignore[union-attr]
    nominees = {a[2] for a in acts if a[0] == "council_nominate"}
    assert sum(a[0] == "council_nominate" for a in acts) == model.council_nominations > len(nominees) > 0
    assert any(a[0] == "council_nominate_refused" for a in acts)
    assert any(int(c) in nominees for a in acts if a[0] == "draw" for _, _, c in a[2])


@pytest.mark.parametrize("seed", [23])
def test_gr06_deferred_settlement_agrees_with_the_engine(store: Store, seed: int) -> None:
    """GR6 deferred: sales pay the seller its price only, each ended period closes with the engine's
    payouts and charges (netting zero), charges unpaid are withheld from later sales with the
    penalties, oldest first; every company's and the fund's xi agree at the end."""
    model, _ = agree(store, seed, everything=True, rules=2, deferred=True)
    acts: list[Any] = model.trace.actions  # type: ignore[union-attr]
    closed = [a for a in acts if a[0] == "close_period"]
    assert len(closed) == model.periods_closed >= 3
    assert any(payouts for _, _, _, payouts, _ in closed)  # a period moved money
    for _, _, _, payouts, charges in closed:
        assert sum(payouts.values()) == sum(charges.values())  # nets exactly zero
    assert all(a[4] == 0 for a in acts if a[0] == "sale")  # nothing settled at the sale


@pytest.mark.parametrize("seed", [1])
def test_ci09_routes_sampled_for_the_max_flow_router_agree_with_the_engine(store: Store, seed: int) -> None:
    """A sample of routed payments by the engine's max-flow kernel, the rest by two hops: the engine
    pays each sampled plan as given, and every balance ends the same; some payments split over two
    paths, which no two-hop route could carry."""
    params = {"routed_sample": 1.0, "route_share": 0.6, "pay_fraction": 0.5}
    model, _ = agree(store, seed, everything=False, parameters=params)
    kinds = {a[0] for a in model.trace.actions}  # type: ignore[union-attr]
    assert {"flow", "route"} <= kinds
    assert model.flow_routed > 0 and model.routed > model.flow_routed
    assert any(len(a[6]) > 2 for a in model.trace.actions if a[0] == "flow")  # type: ignore[union-attr]


def test_ci09_the_max_flow_router_finds_the_engines_flow_on_the_same_network(store: Store) -> None:
    """Without trustee rewards (a reserve of 0), direct payments or conversions nobody holds another's
    coins until the first route: the simulator's network is the engine's, and each payment asked on
    it finds the same maximum flow and is paid or refused alike (CI9)."""
    no_rewards = {"policy": {"circles": {"reserve_start": 0}}}
    params = {"routed_sample": 100.0, "route_share": 0.8, "pay_share": 0.0, "convert_share": 0.0}
    model, replay = agree(store, 12, everything=False, parameters=params, **no_rewards)
    assert replay.same_network > 0
    assert model.flow_routed > 0 and model.routed == model.flow_routed  # every route by max flow
    assert model.flow_refused > 0


@pytest.mark.parametrize("reserve_start", [60 * 86_400, 25])
def test_ci05_ci07_directed_trust_agrees_with_the_engine(store: Store, reserve_start: int) -> None:
    """Directed trust (CI5): each acquaintance trusts one way or both; the first truster alone is
    rewarded (CI7), the one trusting back only when the first reward was nothing (a reserve of 25
    seconds of income is spent after two trusts); payments and routes, two-hop and by max flow,
    go only to those who accept the payer's currency (CI8, CI9). Same balances as the engine."""
    directed = {"policy": {"circles": {"trust_mode": "directed", "reserve_start": reserve_start}}}
    params = {"trust_back_share": 0.5, "routed_sample": 1.0, "route_share": 0.6, "pay_share": 0.8}
    model, _ = agree(store, 20, everything=False, parameters=params, **directed)
    trusts = [a for a in model.trace.actions if a[0] == "trust_directed"]  # type: ignore[union-attr]
    assert any(a[4] for a in trusts) and not all(a[4] for a in trusts)  # some both ways, some one way
    assert any(a[6] > 0 for a in trusts) == (reserve_start == 25)  # a trust back rewarded: the first was not
    kinds = {a[0] for a in model.trace.actions}  # type: ignore[union-attr]
    assert {"pay", "route", "flow"} <= kinds


@pytest.mark.parametrize(("seed", "mode"), [(16, "mutual"), (20, "directed")])
def test_ci05_trust_limits_and_expiry_agree_with_the_engine(store: Store, seed: int, mode: str) -> None:
    """Trust limits and expiry (CI5; circles-v1's percent limits, circles-v2's expiry) together:
    every trust accepts at most half its truster's own holding and lasts twelve weeks, made again at
    expiry half the time. Direct payments, two-hop routes and routes by max flow each move only
    what the engine accepts (its cumulative check of every leg against the room left), none over
    an expired trust; renewals reward nobody (CI7); the same balances at the end."""
    policy = {"policy": {"circles": {"trust_mode": mode, "trust_limits": True, "trust_expiry": True}}}
    params = {
        "trust_limit_percent": 50.0,
        "trust_expiry_weeks": 12.0,
        "trust_renew_share": 0.5,
        "trust_back_share": 0.5,
        "routed_sample": 1.0,
        "route_share": 0.6,
        "pay_share": 0.4,
        "pay_fraction": 0.1,
    }
    model, _ = agree(store, seed, everything=False, parameters=params, **policy)
    kinds = {a[0] for a in model.trace.actions}  # type: ignore[union-attr]
    assert {"pay", "route", "flow", "trust_renew"} <= kinds
    assert model.limited_payments > 0  # the limits cut payments the engine would have refused
    last = model.rows[-1]
    assert last["trusts_expired"] > 0 and last["trust_renewals"] > 0


@pytest.mark.parametrize(("seed", "mode", "expiry"), [(21, "mutual", False), (31, "directed", True)])
def test_ci06_trust_revocation_agrees_with_the_engine(store: Store, seed: int, mode: str, expiry: bool) -> None:
    """Trust revocation (CI6): a share of the trusts in force is revoked each step by the engine's
    ``circles.untrust`` (either party, both ways, at once). Direct payments, two-hop routes and
    routes by max flow move nothing over a revoked trust (the engine would refuse the leg); coins
    already held stay held; with expiry and renewal (CI5) a revoked trust is never made again;
    the same balances at the end."""
    circles: dict[str, Any] = {"trust_mode": mode}
    params = {
        "trust_revoke_share": 0.05,
        "trust_back_share": 0.5,
        "routed_sample": 1.0,
        "route_share": 0.6,
        "pay_share": 0.4,
        "pay_fraction": 0.1,
    }
    if expiry:
        circles.update(trust_limits=True, trust_expiry=True)
        params.update(trust_limit_percent=50.0, trust_expiry_weeks=12.0, trust_renew_share=0.5)
    model, _ = agree(store, seed, everything=False, parameters=params, policy={"circles": circles})
    acts: list[Any] = model.trace.actions  # type: ignore[union-attr]
    kinds = {a[0] for a in acts}
    assert {"pay", "route", "flow", "untrust"} <= kinds
    last = model.rows[-1]
    assert last["trusts_revoked"] == sum(a[0] == "untrust" for a in acts) > 0
    assert last["trusts_in_force"] + last["trusts_revoked"] + last.get("trusts_expired", 0) == last["trusts"]
    if expiry:
        assert last["trusts_expired"] > 0 and last["trust_renewals"] > 0


@pytest.mark.parametrize(("seed", "mode", "exchange"), [(18, "mutual", False), (19, "directed", True)])
def test_ci13_paying_with_group_money_agrees_with_the_engine(
    store: Store, seed: int, mode: str, exchange: bool
) -> None:
    """Members pay acquaintances of their group in its money (CI13): each member trusts its group
    (the engine's ``circles.trust`` of a person in a group, rewarding nobody), and a plain transfer
    of the group's currency, which the engine's acceptance check refuses to anyone who does not
    trust the group. With group exchange (CI12) too: only one's own group's money is paid. Every
    person holds the same money of every group at every step."""
    params: dict[str, float] = {"group_pay_share": 0.5, "convert_share": 0.5, "trust_back_share": 0.5}
    if exchange:
        params.update(group_trusts=1.0, group_exchange_share=0.3)
    extra = {
        "population": {"groups": 3 if exchange else 1, "group_share": 1.0},
        "parameters": params,
        "policy": {"circles": {"trust_mode": mode}},
    }
    model, _ = agree(store, seed, everything=False, **extra)
    acts: list[Any] = model.trace.actions  # type: ignore[union-attr]
    pays = [a for a in acts if a[0] == "group_pay"]
    assert len(pays) == model.group_payments > 0 and any(a[0] == "group_member_trust" for a in acts)
    assert model.rows[-1]["group_paid_units"] == sum(a[5] for a in pays) > 0


@pytest.mark.parametrize(("seed", "mode"), [(18, "mutual"), (19, "directed")])
def test_ci12_group_to_group_exchange_agrees_with_the_engine(store: Store, seed: int, mode: str) -> None:
    """Three groups, each trusting another (both ways with mutual trust): members swap their own
    group's money for a trusting group's 1:1 (CI12) as the engine's ``circles.group_exchange``
    does; every person holds the same money of every group, and every group keeps the same
    collateral of members' coins and of other groups' money."""
    extra = {
        "population": {"groups": 3, "group_share": 1.0},
        "parameters": {"group_trusts": 1.0, "group_exchange_share": 0.4, "convert_share": 0.5, "trust_back_share": 0.5},
        "policy": {"circles": {"trust_mode": mode}},
    }
    model, _ = agree(store, seed, everything=False, **extra)
    acts: list[Any] = model.trace.actions  # type: ignore[union-attr]
    assert any(a[0] == "group_trust" for a in acts)
    exchanges = [a for a in acts if a[0] == "group_exchange"]
    assert len(exchanges) == model.group_exchanges > 0
    assert int(model.group_kept.sum()) == model.group_exchanged_units == sum(a[5] for a in exchanges)


@pytest.mark.parametrize(
    ("seed", "mode", "options"), [(12, "mutual", False), (15, "directed", False), (17, "directed", True)]
)
def test_ci09_routes_through_coins_held_find_the_engines_flow_and_agree(
    store: Store, seed: int, mode: str, options: bool
) -> None:
    """With ``routed_through_held`` routes by max flow also pass on coins of other currencies held,
    as the engine's router does: with no group money the two networks are the same at every payment,
    so each finds the same maximum flow and pays or refuses alike, however many coins of others
    are held; the engine accepts every plan, some legs in a third currency; the same balances. Also
    with trust limits and expiry (CI5): the rooms and closed trusts shape both networks alike."""
    params = {
        "routed_through_held": 1.0,
        "routed_sample": 100.0,
        "route_share": 0.8,
        "pay_share": 0.5,
        "convert_share": 0.0,
        "trust_back_share": 0.5,
    }
    circles: dict[str, Any] = {"trust_mode": mode}
    if options:
        circles.update(trust_limits=True, trust_expiry=True)
        params.update(trust_limit_percent=60.0, trust_expiry_weeks=12.0, trust_renew_share=0.5)
    model, replay = agree(store, seed, everything=False, parameters=params, policy={"circles": circles})
    flows = [a for a in model.trace.actions if a[0] == "flow"]  # type: ignore[union-attr]
    assert flows and model.flow_routed == len(flows)
    assert any(leg[3] != leg[0] for a in flows for leg in a[6])  # coins of a third currency passed on
    assert replay.same_network == model.flow_routed + model.flow_refused
    if options:  # the limits cut payments and trusts expired along the way
        assert model.limited_payments > 0 and model.rows[-1]["trusts_expired"] > 0
