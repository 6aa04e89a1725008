"""`civic gears ...`: companies, statements, tests, votes, coefficients, sales, whistleblowing, report.

Accounts may be given as account ids or as key names (the key's account is used).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, NotRequired, TypedDict

import typer
from rich.table import Table

from civicledger.cli.app import IdOption, KeyOption, Session, Submission, session, submit
from civicledger.cli.output import Amounts, amounts, emit, explanation_printer, fail, journal_time
from civicledger.kernel.canonical import JSONObject, JSONValue
from civicledger.kernel.errors import CivicLedgerError, InvalidInputError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.records import stored_json
from civicledger.kernel.state import current_policy
from civicledger.kernel.time import format_instant, parse_instant
from civicledger.mechanisms.gears import commands as g
from civicledger.mechanisms.gears import state as gs
from civicledger.mechanisms.gears.policy import GearsPolicy
from civicledger.mechanisms.gears.queries import CoefficientRow, FundView, SnapshotRef, explain_delta, fund_view
from civicledger.mechanisms.gears.rules import answer_digest
from civicledger.mechanisms.gears.values import Claim, Verdict, decode_ratio, encode_ratio, ratio_text

gears_app = typer.Typer(help="Gears: the Common Good Coefficient (GR1-GR11).", no_args_is_help=True)
test_app = typer.Typer(help="The multiple-choice test before a vote (GR3).", no_args_is_help=True)
gears_app.add_typer(test_app, name="test")

SignerOption = Annotated[str, typer.Option("--key", "-k", help="The signing key (name or file).")]
CompanyArg = Annotated[str, typer.Argument(help="The company: account id or key name.")]

_VOTE_WORDS = {"beneficial": 1, "+1": 1, "1": 1, "neutral": 0, "0": 0, "detrimental": -1, "-1": -1}


@gears_app.command("setup")
def setup(
    ctx: typer.Context,
    fund: Annotated[str, typer.Option(help="Key name of the Common Good Fund (a fund account); it signs too.")],
    keys: KeyOption,
    currency: Annotated[str, typer.Option(help="The ethicap currency (an existing currency).")] = "xi",
    command_id: IdOption = None,
) -> None:
    """Name the Common Good Fund and the ethicap currency; the council's quorum and the fund sign."""
    submit(ctx, lambda s: (g.SetupGears(s.key(fund).account, CurrencyId(currency)), [*keys, fund]), command_id)


SectorOption = Annotated[str, typer.Option(help='The sector whose council questions its tests draw (IN3); "" none.')]


@gears_app.command("register")
def register(ctx: typer.Context, company: SignerOption, sector: SectorOption = "", command_id: IdOption = None) -> None:
    """Register an organization account as a Gears company (GR1), in a sector (IN3)."""
    submit(ctx, lambda s: (g.RegisterCompany(s.key(company).account, sector), [company]), command_id)


@gears_app.command("sector")
def set_sector(
    ctx: typer.Context,
    company: CompanyArg,
    sector: Annotated[str, typer.Argument(help='The sector, "" for none.')],
    keys: KeyOption,
    command_id: IdOption = None,
) -> None:
    """Set or correct a company's sector (IN3); the council's quorum signs."""
    submit(ctx, lambda s: (g.SetSector(s.account(company), sector), list(keys)), command_id)


@gears_app.command("statement")
def statement(
    ctx: typer.Context,
    index: Annotated[int, typer.Argument(help="Statement number, 1-20; the first answer the common questions.")],
    text: Annotated[str, typer.Argument(help="At most 200 characters.")],
    company: SignerOption,
    command_id: IdOption = None,
) -> None:
    """Publish a statement or a new version of it (GR2)."""
    submit(ctx, lambda s: (g.PublishStatement(s.key(company).account, index, text), [company]), command_id)


@gears_app.command("question")
def question(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument()],
    choices: Annotated[list[str], typer.Option("--choice", help="A choice (repeat, 2-6).")],
    answer: Annotated[int, typer.Option(help="Number of the correct choice, from 0.")],
    company: SignerOption,
    command_id: IdOption = None,
) -> None:
    """Add a question to the company's bank; the answer is stored as a salted digest (GR3). From rule
    version 2 it is drawn only once the council approves it (`civic gears approve`, IN3)."""
    salt = secrets.token_hex(8)

    def build(s: Session) -> Submission:
        cmd = g.AddQuestion(s.key(company).account, text, tuple(choices), answer_digest(salt, answer), salt)
        return cmd, [company]

    submit(ctx, build, command_id)


@gears_app.command("approve")
def approve(
    ctx: typer.Context,
    company: CompanyArg,
    number: Annotated[int, typer.Argument(metavar="QUESTION", help="The company's question number.")],
    keys: KeyOption,
    reject: Annotated[bool, typer.Option("--reject", help="Reject it, or withdraw its approval.")] = False,
    command_id: IdOption = None,
) -> None:
    """Approve a company's question for its tests, or reject it (IN3); the council's quorum signs."""
    submit(ctx, lambda s: (g.ReviewQuestion(s.account(company), number, not reject), list(keys)), command_id)


@gears_app.command("bank-question")
def bank_question(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument()],
    choices: Annotated[list[str], typer.Option("--choice", help="A choice (repeat, 2-6).")],
    answer: Annotated[int, typer.Option(help="Number of the correct choice, from 0.")],
    keys: KeyOption,
    sector: Annotated[str, typer.Option(help='The sector it is for; "" (default) a general question.')] = "",
    command_id: IdOption = None,
) -> None:
    """Add a question to the council's bank, for a sector or general (IN3); the council's quorum signs."""
    salt = secrets.token_hex(8)
    cmd = g.AddBankQuestion(sector, text, tuple(choices), answer_digest(salt, answer), salt)
    submit(ctx, lambda s: (cmd, list(keys)), command_id)


@gears_app.command("retire-question")
def retire_question(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="The number in the council's bank.")],
    keys: KeyOption,
    command_id: IdOption = None,
) -> None:
    """Take a question of the council's bank out of later tests (IN3); the council's quorum signs."""
    submit(ctx, lambda s: (g.RetireBankQuestion(number), list(keys)), command_id)


@gears_app.command("questions")
def questions(
    ctx: typer.Context,
    company: Annotated[str | None, typer.Argument(help="A company: its own questions and its test pool.")] = None,
) -> None:
    """The council's question bank, or a company's own questions with their review and the pool
    its tests draw from (IN3)."""
    with session(ctx, need_journal_key=False) as s, s.store.read() as uow:
        try:
            policy = current_policy(uow).section(GearsPolicy)
            bank: list[JSONValue] = [{"number": int(k), **stored_json(q)} for k, q in gs.BANK.scan(uow)]
            if company is None:
                data: JSONObject = {"bank": bank}
            else:
                firm = s.account(company)
                record = gs.require_company(uow, firm)
                scanned = gs.QUESTIONS.scan(uow, f"{firm}/")
                own: list[JSONValue] = [{"question": int(k.split("/")[1]), **stored_json(q)} for k, q in scanned]
                pool = gs.question_pool_of(uow, firm, policy.test_questions)
                data = {"company": firm, "sector": record.sector, "questions": own, "pool": [n for n in pool]}
        except CivicLedgerError as e:
            fail(ctx, e)
    emit(ctx, data)


@test_app.command("start")
def test_start(ctx: typer.Context, company: CompanyArg, voter: SignerOption, command_id: IdOption = None) -> None:
    """Ask for a test on a company. Rule version 1 draws its questions now (from the journal's
    root); version 2 draws them later, with `civic gears test draw` (IN6)."""
    submit(ctx, lambda s: (g.StartTest(s.key(voter).account, s.account(company)), [voter]), command_id)


@test_app.command("draw")
def test_draw(
    ctx: typer.Context,
    company: CompanyArg,
    voter: Annotated[str, typer.Option("--voter", help="The voter whose test it is: account id or key name.")],
    sender: SignerOption,
    command_id: IdOption = None,
) -> None:
    """Draw a requested test's questions from the first signed tree head an hour (policy
    journal.draw_delay) after the request (IN6, rule version 2); anyone may send it."""
    submit(
        ctx, lambda s: (g.DrawTest(s.account(voter), s.account(company), s.key(sender).account), [sender]), command_id
    )


@test_app.command("answer")
def test_answer(
    ctx: typer.Context,
    company: CompanyArg,
    answers: Annotated[list[int], typer.Argument(help="One choice number per drawn question, in order.")],
    voter: SignerOption,
    command_id: IdOption = None,
) -> None:
    """Answer the drawn questions; a pass allows votes on the company for a while."""
    submit(ctx, lambda s: (g.AnswerTest(s.key(voter).account, s.account(company), tuple(answers)), [voter]), command_id)


@gears_app.command("vote")
def vote(
    ctx: typer.Context,
    company: CompanyArg,
    value: Annotated[str, typer.Argument(help="beneficial | neutral | detrimental (or 1, 0, -1 after --).")],
    voter: SignerOption,
    command_id: IdOption = None,
) -> None:
    """Cast or change a vote (GR4); each cast, not a change, earns the reward."""
    number = _VOTE_WORDS.get(value.strip().lower())
    if number is None:
        try:
            number = int(value)
        except ValueError:
            fail(ctx, InvalidInputError(f"a vote is beneficial, neutral or detrimental, not {value!r}", rule="GR4"))
    submit(ctx, lambda s: (g.CastVote(s.key(voter).account, s.account(company), number), [voter]), command_id)


@gears_app.command("publish")
def publish(ctx: typer.Context, publisher: SignerOption, command_id: IdOption = None) -> None:
    """Compute every delta now and publish it as the next snapshot, the delta in force (GR5)."""
    submit(ctx, lambda s: (g.PublishCoefficients(s.key(publisher).account), [publisher]), command_id)


@gears_app.command("sell")
def sell(
    ctx: typer.Context,
    company: Annotated[str, typer.Option("--seller", help="The company's key; it signs.")],
    buyer: Annotated[str, typer.Option("--buyer", help="The buyer's key; it signs and pays.")],
    price: Annotated[int, typer.Argument(help="Price in minor units.")],
    currency: Annotated[str, typer.Option(help="An allowed currency (GR11).")] = "xi",
    memo: Annotated[str, typer.Option()] = "",
    command_id: IdOption = None,
) -> None:
    """Settle a sale: the buyer pays p, the seller receives p (1 + delta/100) (GR6)."""

    def build(s: Session) -> Submission:
        cmd = g.SettleSale(s.key(buyer).account, s.key(company).account, price, CurrencyId(currency), memo)
        return cmd, [buyer, company]

    submit(ctx, build, command_id)


@gears_app.command("close-period")
def close_period(
    ctx: typer.Context,
    period: Annotated[int, typer.Argument(help="Deferred period number, from 0.")],
    closer: SignerOption,
    currency: Annotated[str, typer.Option()] = "xi",
    command_id: IdOption = None,
) -> None:
    """Settle a finished deferred period, rescaled to net exactly zero (GR6)."""
    submit(ctx, lambda s: (g.ClosePeriod(CurrencyId(currency), period, s.key(closer).account), [closer]), command_id)


@gears_app.command("release")
def release(
    ctx: typer.Context,
    caller: SignerOption,
    currency: Annotated[str, typer.Option()] = "xi",
    command_id: IdOption = None,
) -> None:
    """Pay the fund's waiting payouts in order, as far as its balance allows (GR6)."""
    submit(ctx, lambda s: (g.ReleasePayouts(CurrencyId(currency), s.key(caller).account), [caller]), command_id)


@gears_app.command("challenge")
def challenge(
    ctx: typer.Context,
    company: CompanyArg,
    index: Annotated[int, typer.Argument(help="The statement's number.")],
    claim: Annotated[Claim, typer.Option(help="misleading or false.")],
    whistleblower: SignerOption,
    reason: Annotated[str, typer.Option()] = "",
    command_id: IdOption = None,
) -> None:
    """Blow the whistle on a statement (GR7); it is frozen until decided."""

    def build(s: Session) -> Submission:
        cmd = g.ChallengeStatement(s.key(whistleblower).account, s.account(company), index, claim, reason)
        return cmd, [whistleblower]

    submit(ctx, build, command_id)


@gears_app.command("judge")
def judge(
    ctx: typer.Context,
    challenge_id: Annotated[str, typer.Argument(metavar="CHALLENGE")],
    verdict: Annotated[Verdict, typer.Argument(help="accurate, misleading or false.")],
    voter: SignerOption,
    command_id: IdOption = None,
) -> None:
    """Judge a challenged statement within its window (GR7)."""
    submit(ctx, lambda s: (g.JudgeChallenge(s.key(voter).account, challenge_id, verdict), [voter]), command_id)


@gears_app.command("decide")
def decide(
    ctx: typer.Context,
    challenge_id: Annotated[str, typer.Argument(metavar="CHALLENGE")],
    closer: SignerOption,
    command_id: IdOption = None,
) -> None:
    """Decide a challenge after its window: penalty to the whistleblower, or a failed slot (GR7, GR8)."""
    submit(ctx, lambda s: (g.CloseChallenge(challenge_id, s.key(closer).account), [closer]), command_id)


@gears_app.command("explain")
def explain(
    ctx: typer.Context,
    company: CompanyArg,
    at: Annotated[
        str | None, typer.Option("--at", help="ISO 8601 time (default: now, never before the journal's newest entry).")
    ] = None,
) -> None:
    """Why a company's delta is what it is (GR5): k, its sales G, its votes and mean V, the average S."""
    with session(ctx, need_journal_key=False) as s:
        try:
            with s.store.read() as uow:
                when = parse_instant(at) if at else journal_time(uow, s.clock.now())
                found = explain_delta(uow, s.account(company), when)
        except CivicLedgerError as e:
            fail(ctx, e)
    emit(ctx, found.to_wire(), explanation_printer(found))


@gears_app.command("company")
def company_show(ctx: typer.Context, company: CompanyArg) -> None:
    """A company: statements (with their challenge, if any), question bank size, current votes, debts."""
    with session(ctx, need_journal_key=False) as s, s.store.read() as uow:
        try:
            firm = s.account(company)
            record = gs.require_company(uow, firm)
        except CivicLedgerError as e:
            fail(ctx, e)
        statements = [{"index": i, **stored_json(v)} for i, v in gs.statements_of(uow, firm)]
        votes = [{"voter": voter, **stored_json(v)} for voter, v in gs.votes_on(uow, firm)]
        debts = [{"key": k, **stored_json(v)} for k, v in gs.debts_of(uow, firm)]
        ethicap = gs.fund_position(uow, current_policy(uow).section(GearsPolicy)).ethicap
        money = amounts(uow)
    data = {"company": firm, **stored_json(record), "statement_list": statements, "votes": votes, "debts": debts}

    def human(console: object) -> None:
        from civicledger.cli.output import console as out

        out.print(
            f"[bold]company {firm}[/] registered {format_instant(record.joined_at)}; "
            f"{record.questions} question(s) in its bank; {len(votes)} vote(s) counting"
        )
        table = Table("#", "statement", "question", "challenge", title="statements (GR2, GR7)")
        for s in statements:
            table.add_row(str(s["index"]), str(s["text"]), str(s["question"]), str(s["challenge"] or "-"))
        out.print(table)
        if debts:
            owed = Table("to", "reason", "since", title="debts, withheld from later sales (GR6, GR7)")
            owed.add_column("owed", justify="right")  # at par, in the fund's ethicap currency (GR11)
            for d in debts:
                owed.add_row(
                    str(d["to"]),
                    str(d["reason"]),
                    format_instant(int(str(d["at"]))),
                    money(ethicap, int(str(d["units"]))),
                )
            out.print(owed)

    emit(ctx, data, human)


class ChartRef(TypedDict):
    file: str
    company: str
    points: int


class ReportView(TypedDict):
    """``civic gears report``: every coefficient recomputed exactly, the fund, the snapshots (GR5, GR6)."""

    at: int
    at_iso: str
    average: str
    scale: str
    imbalance: str
    companies: list[CoefficientRow]
    fund: FundView
    snapshots: list[SnapshotRef]
    chart: NotRequired[ChartRef]


def _report_data(s: Session, at: int | None) -> tuple[ReportView, list[gs.Snapshot], Amounts]:
    """The report's JSON, the published snapshots for a chart, and the currencies' formats."""
    with s.store.read() as uow:
        policy = current_policy(uow).section(GearsPolicy)
        when = at if at is not None else max(uow.journal.head().time, 0)  # the journal's time
        money = amounts(uow)
        result = gs.coefficients_at(uow, policy, when)
        fund = gs.fund_position(uow, policy)
        history = list(gs.snapshots(uow))
        names = {c: (a.name if (a := uow.accounts.get(AccountId(c))) else "") for c in result.companies}
    rows = [
        CoefficientRow(
            company=c,
            name=names[c],
            sales=r.sales,
            votes=r.votes,
            mean=encode_ratio(r.mean) if r.mean is not None else None,
            delta=encode_ratio(r.delta),
            delta_decimal=ratio_text(r.delta),
        )
        for c, r in sorted(result.companies.items())
    ]
    data: ReportView = {
        "at": when,
        "at_iso": format_instant(when),
        "average": encode_ratio(result.average),
        "scale": encode_ratio(result.scale),
        "imbalance": encode_ratio(result.imbalance()),
        "companies": rows,
        "fund": fund_view(fund),
        "snapshots": [SnapshotRef(version=h.version, at=h.at) for h in history],
    }
    return data, history, money


def write_chart(history: list[gs.Snapshot], company: str, out: Path, label: str | None = None) -> int:
    """A step chart of a company's published delta over time; returns the number of points."""
    import matplotlib

    matplotlib.use("Agg")
    from datetime import UTC, datetime

    import matplotlib.pyplot as plt

    points = [
        (datetime.fromtimestamp(h.at, tz=UTC), float(decode_ratio(h.companies[company].delta)))
        for h in history
        if company in h.companies
    ]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if points:
        times, deltas = zip(*points, strict=True)
        ax.step(times, deltas, where="post", color="tab:blue", linewidth=2, label="delta (published snapshots)")
        ax.plot(times, deltas, "o", color="tab:blue")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.axhline(30, color="tab:red", linewidth=0.8, linestyle="--", label="the seed's intended bounds, +-30")
    ax.axhline(-30, color="tab:red", linewidth=0.8, linestyle="--")
    ax.set_ylim(-62, 62)
    ax.set_ylabel("Common Good Coefficient delta (%)")
    ax.set_xlabel("snapshot time (UTC)")
    ax.set_title(f"delta over time: {label or company}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return len(points)


@gears_app.command("report")
def report(
    ctx: typer.Context,
    at: Annotated[str | None, typer.Option(help="Recompute at this instant (ISO 8601).")] = None,
    chart: Annotated[Path | None, typer.Option(help="Write a PNG chart of a company's delta over time.")] = None,
    company: Annotated[str | None, typer.Option(help="The company to chart (account id or key name).")] = None,
) -> None:
    """Per company V_i, delta_i and G_i recomputed exactly, the fund's position, and a chart (GR5, GR6)."""
    with session(ctx, need_journal_key=False) as s:
        try:
            when = parse_instant(at) if at else None
            data, history, money = _report_data(s, when)
            if chart is not None:
                if company is None:
                    raise InvalidInputError("--chart needs --company", rule="GR5")
                firm = s.account(company)
                name = next((r["name"] for r in data["companies"] if r["company"] == firm), "")
                label = f"{name} ({firm})" if name else firm
                data["chart"] = ChartRef(file=str(chart), company=firm, points=write_chart(history, firm, chart, label))
        except CivicLedgerError as e:
            fail(ctx, e)

    def human(console: object) -> None:
        from civicledger.cli.output import console as out

        fund = data["fund"]
        ethicap = fund["ethicap"]  # sales are counted at par in the fund's ethicap currency (GR11)
        table = Table("company", "name", title=f"Gears at {data['at_iso']}")
        for column in ("G_i (trailing year)", "votes", "V_i", "delta_i (%)"):
            table.add_column(column, justify="right")
        for r in data["companies"]:
            mean = ratio_text(decode_ratio(r["mean"])) if r["mean"] else "-"
            table.add_row(
                r["company"], r["name"], money(ethicap, r["sales"]), str(r["votes"]), mean, r["delta_decimal"]
            )
        out.print(table)
        out.print(
            f"S = {ratio_text(decode_ratio(data['average']))}; clamp factor {data['scale']}; "
            f"sum G_i delta_i = {data['imbalance']}"
        )
        for c, pos in fund["currencies"].items():
            out.print(
                f"fund {fund['fund']} {c}: balance {money(c, pos['balance'])}, "
                f"{pos['waiting_payouts']} payouts waiting ({money(c, pos['waiting_units'])})"
            )
        out.print(
            f"debts owed to the fund: {money(ethicap, fund['debts_owed_to_fund'])}; snapshots: {len(data['snapshots'])}"
        )
        if "chart" in data:
            out.print(f"chart of {data['chart']['points']} snapshots written to {data['chart']['file']}")

    emit(ctx, data, human)
