"""IN6: draws cannot be steered (appeal panels SC7, lottery winners SC9, test questions GR3).

Under rule version 1 every draw took its seed from the journal's tree root just before the
request's own entry: whoever signs the request knows the seed. An appellant who opens throwaway
accounts (each entry moves the root) sees in advance the panel each moment would draw, and files
at the moment that draws the panel they want. Under rule version 2 the request fixes only *what*
is drawn from; the seed is the first tree head the journal key signs at least ``journal.draw_delay``
after the request (``kernel.draws``), drawn by a later command anyone may send.
"""

from __future__ import annotations

import json
from pathlib import Path

from civicledger.adapters.crypto import Ed25519Verifier
from civicledger.adapters.memory import MemoryStore
from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.kernel import audit, draws
from civicledger.kernel import identity as ident
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountId, AccountKind, Role
from civicledger.kernel.journal import TreeHead
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store
from civicledger.kernel.time import DAY, HOUR, YEAR
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import rules as credit_rules
from civicledger.mechanisms.credits import state as credit_state
from civicledger.mechanisms.credits.policy import CreditsPolicy
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears import rules as gear_rules
from civicledger.mechanisms.gears import state as gear_state
from civicledger.mechanisms.gears.rules import answer_digest
from tests.conftest import T0
from tests.e2e.conftest import Civic, civic, db_url  # noqa: F401  (civic and db_url: the CLI fixtures)

PERSONS = tuple(f"p{i}" for i in range(12))
TECHNOCRATS = ("tess", "tom", "tara", "ted", "tia")


def _town(store: Store, rules: int = 2) -> ScriptedEconomy:
    """Persons enrolled in credits, technocrats, and tess's reduction of p0's grades."""
    e = ScriptedEconomy(store, start=T0, label="civicledger test key", rules=rules)
    for name in (*PERSONS, *TECHNOCRATS):
        e.person(name)
    for name in TECHNOCRATS:
        e.council_decision(ident.GrantRole(e.account(name), Role.TECHNOCRAT), cid=f"grant-{name}")
    born = e.clock.now() - 30 * YEAR
    for name in PERSONS:
        e.run(cc.EnrollPerson(e.account(name), born, e.account("registrar")), "registrar", cid=f"enroll-{name}")
    e.run(cc.RecordParticipation(e.account("p0"), "infraction", "hearsay", technocrat=e.account("tess")), "tess")
    return e


def _adjustment(e: ScriptedEconomy) -> str:
    with e.store.read() as uow:
        return next(k for k, v in credit_state.ADJUSTMENTS.scan(uow) if v.source == "participation")


def _v1_predicted_panel(e: ScriptedEconomy, appellant: str) -> tuple[AccountId, ...]:
    """What an appellant computes before signing under rule version 1: the panel the current root draws."""
    with e.store.read() as uow:
        seed = uow.journal.head().frontier.root()
        people = credit_state.enrolled(uow)
        techs = credit_state.technocrats(uow)
    involved = {e.account("tess"), e.account("p0"), e.account(appellant)}
    t, j = credit_rules.appeal_panel(seed, involved, techs, people, CreditsPolicy())
    return (*t, *j)


def _head(e: ScriptedEconomy, size: int) -> TreeHead:
    with e.store.read() as uow:
        stored = uow.journal.get(size - 1)
        assert stored is not None
        return stored.head


def _verified(e: ScriptedEconomy) -> None:
    report = audit.verify_store(e.store, Ed25519Verifier(), MemoryStore)
    assert report.ok, report.reason


def _grind_moment(e: ScriptedEconomy, appellant: str, wanted: AccountId, tries: int = 5) -> int:
    """The attack: open throwaway accounts until the panel the root would draw includes ``wanted``.
    Returns how many accounts it took (-1 if none of ``tries`` moments drew it)."""
    for i in range(tries):
        if wanted in _v1_predicted_panel(e, appellant):
            return i
        e.open(f"throwaway-{appellant}-{i}")
    return -1 if wanted not in _v1_predicted_panel(e, appellant) else tries


def _wanted_juror(e: ScriptedEconomy, appellant: str) -> AccountId:
    """A juror the attacker wants, absent from the panel the current moment would draw."""
    now = set(_v1_predicted_panel(e, appellant))
    return next(e.account(p) for p in PERSONS[2:] if e.account(p) not in now)


# Appeal panels (SC7) -------------------------------------------------------------------------------


def test_in06_under_rules_1_throwaway_accounts_let_the_appellant_choose_the_panel() -> None:
    e = _town(MemoryStore(), rules=1)
    wanted = _wanted_juror(e, "p1")
    opened = _grind_moment(e, "p1", wanted, tries=12)
    assert opened >= 1, "the attack found a moment that draws the wanted juror"
    predicted = _v1_predicted_panel(e, "p1")
    receipt = e.run(cc.FileAppeal(_adjustment(e), e.account("p1"), "undeserved"), "p1")
    assert tuple(receipt.result["panel"]) == predicted and wanted in predicted  # the attack works under v1


def test_in06_the_appeal_names_no_panel_and_the_draw_waits_for_a_head_after_the_delay() -> None:
    e = _town(MemoryStore())
    filed = e.run(cc.FileAppeal(_adjustment(e), e.account("p1"), "undeserved"), "p1")
    appeal = filed.result["appeal"]
    assert "panel" not in filed.result and filed.result["draw_at"] == filed.time + HOUR
    with e.store.read() as uow:
        record = credit_state.require(credit_state.APPEALS, uow, appeal)
    assert (record.status, record.panel, record.seed) == ("drawing", (), "")
    e.advance(HOUR - 1)
    early = e.refused(cc.DrawPanel(appeal, e.account("p5")), "p5")
    assert early.rule == "IN6" and "at or after" in early.message
    assert e.refused(cc.CastPanelVote(appeal, e.account("tom"), True), "tom").rule == "IN6"
    e.advance(1)
    first = e.run(cc.DrawPanel(appeal, e.account("p5")), "p5")  # no head since the draw time yet: this makes one
    assert first.result["drawn"] is False and first.events == ()
    drawn = e.run(cc.DrawPanel(appeal, e.account("p6")), "p6")
    head = _head(e, first.seq + 1)  # the head right after the first draw command, signed by the journal key
    assert head.signature and head.time >= filed.time + HOUR and head.size > filed.seq + 1
    seed = draws.seed_of(head, "credits.panel", appeal)
    assert drawn.result["seed"] == seed.hex()
    with e.store.read() as uow:
        people = credit_state.enrolled_by(uow, filed.time)
        techs = credit_state.technocrats(uow)
    involved = {e.account("tess"), e.account("p0"), e.account("p1")}
    t, j = credit_rules.appeal_panel(seed, involved, techs, people, CreditsPolicy())
    assert drawn.result["panel"] == [*t, *j]
    assert e.refused(cc.DrawPanel(appeal, e.account("p7")), "p7").rule == "IN6"  # drawn once, for good
    _verified(e)


def _draw_after(e: ScriptedEconomy, appeal: str, sender: str, wait: int) -> list[str]:
    e.advance(wait)
    receipt = e.run(cc.DrawPanel(appeal, e.account(sender)), sender)
    if not receipt.result["drawn"]:
        receipt = e.run(cc.DrawPanel(appeal, e.account(sender)), sender)
    return list(receipt.result["panel"])


def test_in06_who_sends_the_draw_and_when_does_not_change_the_panel() -> None:
    panels = []
    for sender, wait, extra in (("p1", HOUR, 0), ("p9", 5 * DAY, 4), ("tom", 2 * HOUR, 2)):
        e = _town(MemoryStore())
        appeal = e.run(cc.FileAppeal(_adjustment(e), e.account("p1"), "undeserved"), "p1").result["appeal"]
        e.advance(HOUR)
        e.open("bystander")  # an entry after the draw time: its signed head seeds the draw
        for i in range(extra):  # throwaway accounts opened after the seed's head change nothing
            e.open(f"late-{i}")
        panels.append(_draw_after(e, appeal, sender, wait))
    assert panels[0] == panels[1] == panels[2]


def test_in06_grinding_the_moment_of_the_appeal_no_longer_chooses_the_panel() -> None:
    """The rules-1 attack, played under rules 2 on five appeals: the juror the attacker ground for
    comes out only as often as chance gives it, and every panel is the head's."""
    hits = 0
    for k in range(5):
        e = _town(MemoryStore())
        for i in range(k):
            e.open(f"noise-{i}")  # five different journals
        wanted = _wanted_juror(e, "p1")
        if _grind_moment(e, "p1", wanted, tries=12) < 0:
            continue
        filed = e.run(cc.FileAppeal(_adjustment(e), e.account("p1"), "undeserved"), "p1")
        for i in range(5):  # more throwaway accounts while waiting: the root moves, nobody knows where
            e.open(f"wait-{i}")
        e.advance(HOUR)
        e.open("bystander")
        panel = _draw_after(e, filed.result["appeal"], "p1", 0)
        hits += e.account("p1") not in panel and wanted in panel
        with e.store.read() as uow:
            record = credit_state.require(credit_state.APPEALS, uow, filed.result["appeal"])
        head = next(s.head for s in _scan(e) if s.head.signature and s.head.time >= filed.time + HOUR)
        assert record.seed == draws.seed_of(head, "credits.panel", filed.result["appeal"]).hex()
    assert hits < 5, "under rules 2 grinding the filing moment must not reliably draw the wanted juror"


def _scan(e: ScriptedEconomy) -> list[object]:
    with e.store.read() as uow:
        return list(uow.journal.scan())


def test_in06_the_seed_needs_the_journal_keys_signature_not_only_the_root() -> None:
    """Whoever sends the last entry before the head could try entries until the *root* suits them;
    the seed also hashes the head's signature, which only the journal key can make."""
    head = TreeHead(10, "ab" * 32, T0, "cd" * 64)
    other = TreeHead(10, "ab" * 32, T0, "ef" * 64)
    assert draws.seed_of(head, "credits.panel", "0000000042") != draws.seed_of(other, "credits.panel", "0000000042")
    assert draws.seed_of(head, "credits.panel", "0000000042") != draws.seed_of(head, "credits.lottery", "0000000042")


# Lottery (SC9) -------------------------------------------------------------------------------------


def _lottery(e: ScriptedEconomy) -> None:
    e.run(
        cc.AdjustGrade(e.account("p2"), 2, 0, 2 * YEAR, "clinic founder", "record", technocrat=e.account("tom")), "tom"
    )
    e.run(cc.AdjustGrade(e.account("p3"), 2, 0, 2 * YEAR, "bridge", "plans", technocrat=e.account("tom")), "tom")
    e.run(cc.PledgeUplift(e.account("p2"), 1, 100, 30 * DAY), "p2")
    e.run(cc.PledgeUplift(e.account("p3"), 1, 100, 30 * DAY), "p3")
    for n in ("p4", "p5", "p6", "p7"):
        cosigners = ("p8", "p9", "p10")
        nominate = cc.NominateCandidate(e.account(n), "community", frozenset(e.account(s) for s in cosigners))
        e.run(nominate, *cosigners)


def test_in06_lottery_winners_come_from_a_head_after_the_scheduling_and_late_candidates_cannot_join() -> None:
    results = []
    for late in (False, True):
        e = _town(MemoryStore())
        _lottery(e)
        scheduled = e.run(cc.DrawLottery(technocrat=e.account("tara")), "tara")
        draw = scheduled.result["draw"]
        assert "winners" not in scheduled.result and scheduled.events[0]["type"] == "credits.lottery_scheduled"
        assert e.refused(cc.RunDraw(draw, e.account("p11")), "p11").rule == "IN6"  # before the delay
        assert e.refused(cc.DrawLottery(technocrat=e.account("tara")), "tara").rule == "IN6"  # one at a time
        e.advance(HOUR)
        e.open("bystander")
        if late:  # the head is public now: a candidate who ranks first under its seed is nominated
            e.run(cc.ApplySecondChance(e.account("p0")), "p0")
        ran = e.run(cc.RunDraw(draw, e.account("p11")), "p11")
        assert ran.result["drawn"] is True
        head = _head(e, ran.seq - (1 if late else 0))
        seed = draws.seed_of(head, "credits.lottery", draw)
        assert ran.result["seed"] == seed.hex() and head.time >= scheduled.time + HOUR
        with e.store.read() as uow:
            fixed = credit_state.SCHEDULED_DRAWS.get(uow, draw)
        assert fixed is not None and e.account("p0") not in fixed.candidates
        expected = credit_rules.draw_winners(
            seed, list(zip(fixed.pledges, fixed.donors, strict=True)), fixed.candidates
        )
        assert ran.result["winners"] == [c for _, _, c in expected]
        assert e.refused(cc.RunDraw(draw, e.account("p11")), "p11").rule == "IN6"  # retrying draws nothing new
        results.append(ran.result["winners"])
        _verified(e)
    assert results[0] == results[1]


def test_in06_anyone_recomputes_a_scheduled_draw_from_an_export(tmp_path: Path) -> None:
    e = _town(MemoryStore())
    _lottery(e)
    draw = e.run(cc.DrawLottery(technocrat=e.account("tara")), "tara").result["draw"]
    e.advance(HOUR)
    e.run(cc.RunDraw(draw, e.account("p11")), "p11")
    ran = e.run(cc.RunDraw(draw, e.account("p11")), "p11")
    path = tmp_path / "export.jsonl"
    with path.open("w") as out:
        audit.export_journal(e.store, out)
    rows = credit_rules.recompute_draws(json.loads(line) for line in path.read_text().splitlines())
    assert rows == [
        {"draw": draw, "entry": ran.seq, "seed_ok": True, "winners_ok": True, "winners": ran.result["winners"]}
    ]


# GR3 test questions ----------------------------------------------------------------------------------


def _firm(e: ScriptedEconomy) -> AccountId:
    fund = e.open("fund", AccountKind.FUND)
    e.run(led.CreateCurrency("xi", fund, "ethicap"), "fund")
    e.run(g.SetupGears(fund, CurrencyId("xi")), *e.governors, "fund")
    firm = e.open("firm", AccountKind.ORGANIZATION)
    e.run(g.RegisterCompany(firm), "firm")
    info = e.engine.economy()
    curated = info is not None and info.rules_at(e.clock.now()) >= 2
    for i in range(8):
        added = e.run(g.AddQuestion(firm, f"question {i}?", ("yes", "no"), answer_digest(f"s{i}", 0), f"s{i}"), "firm")
        if curated:
            e.council_decision(g.ReviewQuestion(firm, added.result["question"], True))  # IN3: the council approves
    return firm


def test_in06_test_questions_are_known_only_after_the_delay_and_do_not_depend_on_the_moment() -> None:
    drawn_sets = []
    for noise in (0, 3):
        e = _town(MemoryStore())
        firm = _firm(e)
        voter = e.account("p3")
        for i in range(noise):  # the voter picks another moment to ask, after opening accounts
            e.open(f"noise-{i}")
        asked = e.run(g.StartTest(voter, firm), "p3")
        assert "questions" not in asked.result and asked.result["draw_at"] == asked.time + HOUR
        assert e.refused(g.AnswerTest(voter, firm, (0, 0, 0)), "p3").rule == "GR3"
        assert e.refused(g.StartTest(voter, firm), "p3").rule == "GR3"  # no second request while one waits
        assert e.refused(g.DrawTest(voter, firm, e.account("p3")), "p3").rule == "IN6"
        e.advance(HOUR)
        e.open("bystander")
        drawn = e.run(g.DrawTest(voter, firm, e.account("p9")), "p9")  # anyone may draw it
        numbers = [q["question"] for q in drawn.result["questions"]]
        head = _head(e, drawn.seq)
        with e.store.read() as uow:
            test = gear_state.test_of(uow, voter, firm)
            bank = list(gear_state.question_pool_of(uow, firm, 3))  # IN3: the curated pool
        seed = draws.seed_of(head, "gears.test", gear_rules.test_request(voter, firm, asked.seq))
        assert test is not None and list(test.open or ()) == numbers
        assert tuple(numbers) == gear_rules.draw_questions(seed, bank, 3)
        assert e.refused(g.DrawTest(voter, firm, e.account("p3")), "p3").rule == "GR3"  # drawn once
        e.run(g.AnswerTest(voter, firm, (0, 0, 0)), "p3")
        drawn_sets.append(numbers)
        _verified(e)
    assert all(len(s) == 3 for s in drawn_sets)


def test_in06_under_rules_1_the_voter_knew_the_questions_before_asking() -> None:
    e = _town(MemoryStore(), rules=1)
    firm = _firm(e)
    voter = e.account("p3")
    with e.store.read() as uow:
        root = uow.journal.head().frontier.root()
        bank = gear_state.question_bank(uow, firm)
    predicted = gear_rules.draw_questions(gear_rules.draw_seed(root, voter, firm), bank, 3)
    drawn = e.run(g.StartTest(voter, firm), "p3")
    assert tuple(q["question"] for q in drawn.result["questions"]) == predicted


# Through the CLI ---------------------------------------------------------------------------------


def test_in06_a_citizen_draws_a_panel_with_the_cli(civic: Civic, tmp_path: Path) -> None:  # noqa: F811
    """Through `civic`: the appeal names no panel; any citizen's `credits draw-panel` draws it (with
    ``journal.draw_delay = 0`` here, so the test need not wait an hour); a second draw is refused."""
    (tmp_path / "economy.toml").write_text('[economy]\nname = "Drawville"\n\n[journal]\ndraw_delay = 0\n')
    civic.json("init", "economy.toml")
    people = ("alice", "bob", "carol", "dave", "tess", "tom")
    ids = {n: civic.json("keys", "new", n)["account"] for n in people}
    for n in people:
        civic("account", "open", "--key", n)
        civic("account", "attest", ids[n], "--human", f"passport-digest-{n}")
    for n in ("tess", "tom"):
        civic("account", "grant", ids[n], "technocrat", "-k", "governor-1")
    for n in ("alice", "carol", "dave"):
        civic.json("credits", "enroll", n, "--born", "2000-01-01")
    award = civic.json(
        "credits", "adjust", "alice", "--steps", "1", "--days", "365", "--reason", "r", "--evidence", "e",
        "--technocrat", "tess",
    )  # fmt: skip
    filed = civic.json("credits", "appeal", award["result"]["adjustment"], "-k", "bob", "--grounds", "no evidence")
    appeal = filed["result"]["appeal"]
    assert "panel" not in filed["result"]
    first = civic.json("credits", "draw-panel", appeal, "-k", "carol")
    if not first["result"]["drawn"]:
        first = civic.json("credits", "draw-panel", appeal, "-k", "carol")
    assert first["result"]["drawn"] is True
    assert sorted(first["result"]["panel"]) == sorted([ids["tom"], ids["carol"], ids["dave"]])
    again = civic.json("credits", "draw-panel", appeal, "-k", "dave", check=4)
    assert again["rule"] == "IN6"


# The simulator -------------------------------------------------------------------------------------


def test_in06_the_simulators_draw_grinders_gain_only_while_the_seed_is_known_at_filing() -> None:
    from types import SimpleNamespace

    import numpy as np

    from civicledger.sim.behaviours import PARAMETERS, lookup
    from civicledger.sim.draws import KeyedDraws

    grind = lookup("appeals", "draw_grinder")
    penalised = np.arange(40_000, dtype=np.int64)
    rates = {}
    for version in (1, 2):
        p = {**PARAMETERS, "grind_rules": float(version)}
        m = SimpleNamespace(draws=KeyedDraws.of(seed=7), step_now=0, first=0)  # the keyed draws it reads
        rates[version] = grind(m, np.random.default_rng(7), p, penalised).mean()
    honest = PARAMETERS["appeal_rate"] * PARAMETERS["appeal_success"]
    assert abs(rates[2] - honest) < 0.01  # rule version 2: grinding changes nothing
    assert rates[1] > honest + 0.05  # rule version 1: choosing the moment buys overturns
