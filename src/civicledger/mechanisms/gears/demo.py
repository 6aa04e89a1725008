"""Demo chapter: Gears. The seed's Widget Co (delta 20: a buyer pays ξ100, Widget Co receives ξ120,
the fund pays ξ20) and a whistleblowing case, on the foundation chapter's fund and xi currency."""

from __future__ import annotations

from civicledger.adapters.scripted import ScriptedEconomy
from civicledger.demo import chapter
from civicledger.kernel import ledger as led
from civicledger.kernel.identity import AccountId, AccountKind
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.time import DAY, WEEK
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears import state as gs
from civicledger.mechanisms.gears.rules import answer_digest
from civicledger.mechanisms.gears.values import Claim, Verdict, decode_ratio, ratio_text

XI = CurrencyId("xi")
FUND = "common-good-fund"  # opened, with the xi currency it issues, by the foundation chapter

STATEMENTS = {
    "widget-co": [
        "We sell widgets to hardware shops in the region.",
        "All widgets are assembled in our workshop in Demo Town.",
        "Twelve people work here; the lowest hourly pay is 1.4 times the legal minimum.",
    ],
    "other-co": [
        "We sell gadgets online, worldwide.",
        "Our gadgets are made from 100% recycled plastic.",
        "Forty people work for us; we do not publish pay.",
    ],
}
QUESTIONS = [
    ("Where is the company's main activity?", ("farming", "making things", "banking")),
    ("Who buys from the company?", ("shops or people", "governments only", "nobody")),
    ("How many statements must answer the common questions first?", ("none", "three", "twenty")),
]
ANSWER = 1  # the right choice of each demo question


def _company(demo: ScriptedEconomy, name: str) -> AccountId:
    account = demo.open(name, AccountKind.ORGANIZATION, cid=f"gears-open-{name}")
    demo.run(g.RegisterCompany(account), name, cid=f"gears-register-{name}")
    for i, text in enumerate(STATEMENTS[name], start=1):
        demo.run(g.PublishStatement(account, i, text), name, cid=f"gears-statement-{name}-{i}")
    info = demo.engine.economy()
    reviewed = info is not None and info.rules_at(demo.clock.now()) >= 2
    for i, (text, choices) in enumerate(QUESTIONS):
        salt = f"demo-{name}-{i}"
        cmd = g.AddQuestion(account, text, choices, answer_digest(salt, ANSWER), salt)
        number = demo.run(cmd, name, cid=f"gears-question-{name}-{i}").result["question"]
        if reviewed:  # IN3 (rule version 2): only questions the council approved are drawn
            review = g.ReviewQuestion(account, number, True)
            demo.run(review, *demo.governors, cid=f"gears-approve-{name}-{i}")
    return account


def _vote(demo: ScriptedEconomy, voter: str, firm: AccountId, name: str, value: int) -> None:
    who = demo.account(voter)
    asked = demo.run(g.StartTest(who, firm), voter, cid=f"gears-test-{voter}-{name}").result
    if "questions" in asked:  # rule version 1: drawn at once from the journal's root
        drawn = asked["questions"]
    else:  # rule version 2: drawn from a signed tree head after the delay, by a later command (IN6)
        demo.advance(asked["draw_at"] - demo.clock.now())
        for attempt in range(2):  # the first makes a signed head after the draw time if none exists yet
            result = demo.run(g.DrawTest(who, firm, who), voter, cid=f"gears-draw-{voter}-{name}-{attempt}").result
            if result.get("questions"):
                break
        drawn = result["questions"]
    answers = tuple(ANSWER for _ in drawn)
    demo.run(g.AnswerTest(who, firm, answers), voter, cid=f"gears-answer-{voter}-{name}")
    demo.run(g.CastVote(who, firm, value), voter, cid=f"gears-vote-{voter}-{name}")


def _snapshot(demo: ScriptedEconomy, version: int) -> gs.Snapshot:
    with demo.store.read() as uow:
        snapshot = gs.snapshot(uow, version)
    assert snapshot is not None
    return snapshot


def _sell(demo: ScriptedEconomy, buyer: str, seller: str, price: int, cid: str) -> dict[str, object]:
    cmd = g.SettleSale(demo.account(buyer), demo.account(seller), price, XI)
    return demo.run(cmd, buyer, seller, cid=cid).result


@chapter("Gears: the Common Good Coefficient, Widget Co and a whistleblower")
def gears(demo: ScriptedEconomy) -> list[str]:
    def xi(units: int) -> str:
        return demo.money(XI, units)

    fund = AccountId(demo.account(FUND))
    demo.run(g.SetupGears(fund, XI), *demo.governors, FUND, cid="gears-setup")
    demo.run(led.Issue(XI, fund, 1_000_000_00), FUND, cid="gears-fund-reserve")
    demo.run(led.Issue(XI, AccountId(demo.account("dave")), 500_000_00), FUND, cid="gears-issue-dave")
    widget = _company(demo, "widget-co")
    other = _company(demo, "other-co")

    # First month: sales annualised x12 -> G(Widget) = 12,000.00, G(Other) = 24,000.00.
    _sell(demo, "dave", "widget-co", 1_000_00, "gears-sale-widget-1")
    _sell(demo, "dave", "other-co", 2_000_00, "gears-sale-other-1")
    for voter in ("alice", "bob"):
        _vote(demo, voter, widget, "widget-co", 1)
        _vote(demo, voter, other, "other-co", 0)
    first = demo.run(g.PublishCoefficients(fund), FUND, cid="gears-publish-1").result
    snap = _snapshot(demo, first["version"])
    rows = snap.companies
    delta_w, delta_o = decode_ratio(rows[widget].delta), decode_ratio(rows[other].delta)

    sale = demo.run(
        g.SettleSale(demo.account("dave"), widget, 100_00, XI), "dave", "widget-co", cid="gears-widget-sale"
    )
    other_sale = _sell(demo, "dave", "other-co", 100_00, "gears-other-sale")
    lines = [
        f"Common Good Fund = the foundation's {FUND}, ethicap = xi; set up by the council's quorum and the fund",
        f"G: Widget Co {xi(rows[widget].sales)}, Other Co {xi(rows[other].sales)} (first month, annualised)",
        f"votes: Widget Co V = 1, Other Co V = 0; S = {ratio_text(decode_ratio(snap.average))}; "
        f"delta: Widget Co {ratio_text(delta_w, 2)}, Other Co {ratio_text(delta_o, 2)} "
        f"(sum G_i delta_i = {rows[widget].sales * delta_w + rows[other].sales * delta_o})",
        f"Widget Co sells for {xi(sale.result['buyer_pays'])}: receives {xi(sale.result['seller_receives'])}, "
        f"the fund pays {xi(sale.result['fund_pays'])} (entry #{sale.seq}, every leg in one entry)",
        f"Other Co sells for {xi(int(str(other_sale['buyer_pays'])))}: receives "
        f"{xi(int(str(other_sale['seller_receives'])))}, the fund receives {xi(int(str(other_sale['fund_receives'])))}",
    ]

    # Whistleblowing: Carol says Other Co's recycled-plastic claim is false; voters agree.
    challenge = demo.run(
        g.ChallengeStatement(demo.account("carol"), other, 2, Claim.FALSE, "the plastic is new, invoices show"),
        "carol",
        cid="gears-challenge-other",
    ).result["challenge"]
    for voter, verdict in (("alice", Verdict.FALSE), ("bob", Verdict.FALSE), ("dave", Verdict.MISLEADING)):
        demo.run(g.JudgeChallenge(demo.account(voter), challenge, verdict), voter, cid=f"gears-judge-{voter}")
    failed = demo.run(
        g.ChallengeStatement(demo.account("dave"), widget, 2, Claim.MISLEADING, "the workshop is a garage"),
        "dave",
        cid="gears-challenge-widget",
    ).result["challenge"]
    for voter in ("alice", "bob", "carol"):
        demo.run(g.JudgeChallenge(demo.account(voter), failed, Verdict.ACCURATE), voter, cid=f"gears-judge2-{voter}")
    demo.advance(2 * WEEK)
    upheld = demo.run(g.CloseChallenge(challenge, fund), FUND, cid="gears-close-other").result
    rejected = demo.run(g.CloseChallenge(failed, fund), FUND, cid="gears-close-widget").result
    withheld = _sell(demo, "dave", "other-co", 500_00, "gears-other-sale-2")

    # Opinions move: Bob now sees Widget Co as neutral; the next snapshot shows it.
    demo.advance(DAY)
    demo.run(g.CastVote(demo.account("bob"), widget, 0), "bob", cid="gears-vote-change-bob")
    second = demo.run(g.PublishCoefficients(fund), FUND, cid="gears-publish-2").result
    snap2 = _snapshot(demo, second["version"])
    with demo.store.read() as uow:
        fund_xi = uow.ledger.balance(fund, XI)
        carol_xi = uow.ledger.balance(AccountId(demo.account("carol")), XI)
        owed = sum(d.units for _, d in gs.debts_of(uow, other))
    lines += [
        f"Carol's challenge {challenge} (false): verdict {upheld['outcome']}; penalty = one year of Other Co's "
        f"sales {xi(int(upheld['penalty']))}: {xi(int(upheld['paid']))} paid to Carol at once, "
        f"{xi(int(upheld['owed']))} owed",
        f"Other Co's next sale of {xi(500_00)}: {xi(int(str(withheld['withheld'])))} withheld for Carol "
        f"(Carol holds {xi(carol_xi)}; still owed {xi(owed)})",
        f"Dave's challenge {failed} (misleading): verdict {rejected['outcome']}: no penalty, one of his two "
        "challenge slots is used for a year (GR8)",
        f"Bob changed his Widget Co vote to 0 (no new reward, same term); snapshot v{second['version']}: "
        f"Widget Co delta {ratio_text(decode_ratio(snap2.companies[widget].delta), 2)}; fund holds {xi(fund_xi)}",
    ]
    return lines
