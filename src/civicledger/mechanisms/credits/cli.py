"""`civic credits ...`: social credits from the command line (SC1-SC11).

Accounts are given as account ids or as key names (the key's account); signers are key names.
A council decision names the council account with ``--council`` and its members' keys with ``-k``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, TypedDict, cast

import typer
from rich.console import Console
from rich.table import Table

from civicledger.cli.app import IdOption, KeyOption, Session, Submission, session, submit
from civicledger.cli.output import emit, explanation_printer, fail, journal_time
from civicledger.kernel.errors import CivicLedgerError, InvalidInputError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.ports import UnitOfWork
from civicledger.kernel.time import DAY, format_instant, parse_instant
from civicledger.mechanisms.credits import commands as cc
from civicledger.mechanisms.credits import queries, rules

credits_app = typer.Typer(
    help="Social credits: accrual, grades, appeals, lottery, services (SC1-SC11).", no_args_is_help=True
)

CouncilOption = Annotated[
    str | None, typer.Option("--council", help="Council account deciding (its quorum signs with -k).")
]
TechnocratOption = Annotated[
    str | None, typer.Option("--technocrat", help="Key of the technocrat deciding (who signs).")
]
AtOption = Annotated[
    str | None,
    typer.Option("--at", help="ISO 8601 time to evaluate at (default: now, never before the journal's newest entry)."),
]
OptKeys = Annotated[list[str] | None, typer.Option("--key", "-k", help="Signing key(s) (repeat for several).")]


def _deciders(
    s: Session, technocrat: str | None, council: str | None, keys: list[str] | None
) -> tuple[AccountId | None, AccountId | None, list[str]]:
    if technocrat is not None:
        return s.key(technocrat).account, None, [technocrat, *(keys or [])]
    if council is None:
        raise InvalidInputError("name a decider: --technocrat KEY or --council ACCOUNT -k MEMBER...", rule="SC6")
    return None, s.account(council), list(keys or [])


@credits_app.command("enroll")
def enroll(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(help="The verified person (account id or key name).")],
    born: Annotated[str, typer.Option(help="Date of birth, ISO 8601.")],
    registrar: Annotated[str, typer.Option("--key", "-k", help="The registrar's key.")] = "registrar-1",
    command_id: IdOption = None,
) -> None:
    """Record a verified person's date of birth; credits accrue from it (SC1, SC2)."""
    submit(
        ctx,
        lambda s: (
            cc.EnrollPerson(s.account(person), parse_instant(born), s.key(registrar).account),
            [registrar],
        ),
        command_id,
    )


@credits_app.command("participate")
def participate(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument()],
    kind: Annotated[str, typer.Argument(help="A participation kind of the policy (e.g. volunteering, infraction).")],
    evidence: Annotated[str, typer.Option(help="Evidence: a digest or URL.")],
    technocrat: TechnocratOption = None,
    council: CouncilOption = None,
    keys: OptKeys = None,
    command_id: IdOption = None,
) -> None:
    """Record participation or an infraction; its effect comes from policy (SC5, SC6)."""

    def build(s: Session) -> Submission:
        t, c, signers = _deciders(s, technocrat, council, keys)
        return cc.RecordParticipation(s.account(person), kind, evidence, t, c), signers

    submit(ctx, build, command_id)


@credits_app.command("adjust")
def adjust(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument()],
    steps: Annotated[int, typer.Option(help="Grade steps, negative to lower.")],
    days: Annotated[int, typer.Option(help="Duration in days.")],
    reason: Annotated[str, typer.Option()],
    evidence: Annotated[str, typer.Option(help="Evidence: a digest or URL.")],
    quantity: Annotated[int, typer.Option(help="Credits covered; 0 = the whole balance.")] = 0,
    technocrat: TechnocratOption = None,
    council: CouncilOption = None,
    keys: OptKeys = None,
    command_id: IdOption = None,
) -> None:
    """An award or reduction within policy limits (SC4, SC6)."""

    def build(s: Session) -> Submission:
        t, c, signers = _deciders(s, technocrat, council, keys)
        cmd = cc.AdjustGrade(s.account(person), steps, quantity, days * DAY, reason, evidence, t, c)
        return cmd, signers

    submit(ctx, build, command_id)


def _digest(answers: str) -> str:
    return hashlib.sha256(answers.encode()).hexdigest()


@credits_app.command("ballot")
def ballot(
    ctx: typer.Context,
    ballot_id: Annotated[str, typer.Argument()],
    question: Annotated[str, typer.Option()],
    answers: Annotated[str, typer.Option(help="The correct comprehension answers; only their SHA-256 is stored.")],
    operator: Annotated[str, typer.Option("--key", "-k", help="The operating technocrat's key.")],
    command_id: IdOption = None,
) -> None:
    """Open a direct-democracy ballot with a comprehension check (SC5)."""
    submit(
        ctx,
        lambda s: (
            cc.OpenBallot(ballot_id, question, _digest(answers), s.key(operator).account),
            [operator],
        ),
        command_id,
    )


@credits_app.command("take-part")
def take_part(
    ctx: typer.Context,
    ballot_id: Annotated[str, typer.Argument()],
    person: Annotated[str, typer.Argument(help="The participant's key.")],
    seconds: Annotated[int, typer.Option(help="Seconds spent on the ballot.")],
    answers: Annotated[str, typer.Option(help="The participant's comprehension answers.")],
    operator: Annotated[str, typer.Option("--operator", help="The ballot operator's key (co-signs).")],
    command_id: IdOption = None,
) -> None:
    """Direct-democracy participation, checked by the anti-automation controls (SC5)."""
    submit(
        ctx,
        lambda s: (
            cc.TakePart(ballot_id, s.key(person).account, seconds, _digest(answers)),
            [person, operator],
        ),
        command_id,
    )


@credits_app.command("appeal")
def appeal(
    ctx: typer.Context,
    adjustment: Annotated[str, typer.Argument(help="The adjustment id (shown by explain).")],
    appellant: Annotated[str, typer.Option("--key", "-k", help="The appellant's key.")],
    grounds: Annotated[str, typer.Option()],
    command_id: IdOption = None,
) -> None:
    """Appeal an award or reduction within the window (SC7). Rule version 1 draws the panel now from
    the tree root; version 2 draws it later with `civic credits draw-panel` (IN6)."""
    submit(ctx, lambda s: (cc.FileAppeal(adjustment, s.key(appellant).account, grounds), [appellant]), command_id)


@credits_app.command("draw-panel")
def draw_panel(
    ctx: typer.Context,
    appeal_id: Annotated[str, typer.Argument()],
    sender: Annotated[str, typer.Option("--key", "-k", help="The key of whoever sends it: anyone may.")],
    command_id: IdOption = None,
) -> None:
    """Draw an appeal's panel from the first signed tree head an hour (policy journal.draw_delay)
    after the appeal (IN6, rule version 2)."""
    submit(ctx, lambda s: (cc.DrawPanel(appeal_id, s.key(sender).account), [sender]), command_id)


@credits_app.command("close-appeal")
def close_appeal(
    ctx: typer.Context,
    appeal_id: Annotated[str, typer.Argument()],
    sender: Annotated[str, typer.Option("--key", "-k", help="The key of whoever sends it: anyone may.")],
    command_id: IdOption = None,
) -> None:
    """Close an appeal its panel did not decide by its deadline: the adjustment stands, not decided,
    and a new appeal may be filed (IN7, rule version 2)."""
    submit(ctx, lambda s: (cc.CloseAppeal(appeal_id, s.key(sender).account), [sender]), command_id)


@credits_app.command("vote")
def vote(
    ctx: typer.Context,
    appeal_id: Annotated[str, typer.Argument()],
    member: Annotated[str, typer.Option("--key", "-k", help="The panel member's key.")],
    overturn: Annotated[bool, typer.Option("--overturn/--uphold", help="The member's vote.")],
    command_id: IdOption = None,
) -> None:
    """A panel member's signed vote; the majority decides (SC7)."""
    submit(ctx, lambda s: (cc.CastPanelVote(appeal_id, s.key(member).account, overturn), [member]), command_id)


@credits_app.command("pledge")
def pledge(
    ctx: typer.Context,
    donor: Annotated[str, typer.Option("--key", "-k", help="The donor's key.")],
    steps: Annotated[int, typer.Option()],
    quantity: Annotated[int, typer.Option()],
    days: Annotated[int, typer.Option()],
    command_id: IdOption = None,
) -> None:
    """Pledge an uplift to the civic lottery (SC9)."""
    submit(ctx, lambda s: (cc.PledgeUplift(s.key(donor).account, steps, quantity, days * DAY), [donor]), command_id)


@credits_app.command("nominate")
def nominate(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option()],
    keys: KeyOption,
    council: CouncilOption = None,
    command_id: IdOption = None,
) -> None:
    """Nominate a lottery candidate: co-signed by -k persons, or a --council decision (SC9)."""

    def build(s: Session) -> Submission:
        if council is not None:
            return cc.NominateCandidate(s.account(candidate), reason, frozenset(), s.account(council)), keys
        cosigners = frozenset(s.key(k).account for k in keys)
        return cc.NominateCandidate(s.account(candidate), reason, cosigners), keys

    submit(ctx, build, command_id)


@credits_app.command("second-chance")
def second_chance(
    ctx: typer.Context,
    person: Annotated[str, typer.Option("--key", "-k", help="The applicant's key.")],
    command_id: IdOption = None,
) -> None:
    """Apply, once in a life, for the lottery's second chance (SC9)."""
    submit(ctx, lambda s: (cc.ApplySecondChance(s.key(person).account), [person]), command_id)


@credits_app.command("draw")
def draw(
    ctx: typer.Context,
    technocrat: TechnocratOption = None,
    council: CouncilOption = None,
    keys: OptKeys = None,
    command_id: IdOption = None,
) -> None:
    """Run the periodic lottery draw (SC9). Rule version 1 draws now from the journal's tree root;
    version 2 schedules it, and `civic credits run-draw` draws it later (IN6)."""

    def build(s: Session) -> Submission:
        t, c, signers = _deciders(s, technocrat, council, keys)
        return cc.DrawLottery(t, c), signers

    submit(ctx, build, command_id)


@credits_app.command("run-draw")
def run_draw(
    ctx: typer.Context,
    draw_id: Annotated[str, typer.Argument(help="The scheduled draw's id (the result of `credits draw`).")],
    sender: Annotated[str, typer.Option("--key", "-k", help="The key of whoever sends it: anyone may.")],
    command_id: IdOption = None,
) -> None:
    """Draw a scheduled lottery draw from the first signed tree head an hour (policy
    journal.draw_delay) after it was scheduled (IN6, rule version 2)."""
    submit(ctx, lambda s: (cc.RunDraw(draw_id, s.key(sender).account), [sender]), command_id)


def _tier(text: str) -> cc.Tier:
    try:
        name, price, grade = text.split(":")
        return cc.Tier(name, int(price), int(grade))
    except ValueError as e:
        raise InvalidInputError(f"a tier is NAME:PRICE:MIN_GRADE, not {text!r}", rule="SC10") from e


@credits_app.command("register-service")
def register_service(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument()],
    provider: Annotated[str, typer.Option("--key", "-k", help="The provider's key.")],
    category: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    tier: Annotated[list[str], typer.Option("--tier", help="NAME:PRICE:MIN_GRADE, from the base tier up.")],
    command_id: IdOption = None,
) -> None:
    """Register a service with its tiers (SC10)."""

    def build(s: Session) -> Submission:
        tiers = tuple(_tier(t) for t in tier)
        return cc.RegisterService(service, s.key(provider).account, category, name, tiers), [provider]

    submit(ctx, build, command_id)


@credits_app.command("spend")
def spend(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument()],
    tier: Annotated[str, typer.Argument()],
    person: Annotated[str, typer.Option("--key", "-k", help="The spender's key.")],
    command_id: IdOption = None,
) -> None:
    """Spend credits on a tier, lowest qualifying grade first; they are burned (SC3, SC10)."""
    submit(ctx, lambda s: (cc.SpendCredits(s.key(person).account, service, tier), [person]), command_id)


def _at(s: Session, uow: UnitOfWork, at: str | None) -> int:
    """``--at``, else the journal's time (``journal_time``: what the pages show)."""
    return parse_instant(at) if at else journal_time(uow, s.clock.now())


class _ShownAppeal(TypedDict):
    appeal: str
    status: str


class _ShownAdjustment(TypedDict):
    """The fields of an adjustment as ``queries.explain`` shows it that the table prints."""

    id: str
    kind: str
    steps: int
    end: int
    deciders: list[str]
    evidence: str
    entry: int
    appeals: list[_ShownAppeal]


@credits_app.command("explain")
def explain(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument()],
    at: AtOption = None,
    grade: Annotated[
        bool, typer.Option("--grade", help="Why the person's grade is what it is, step by step (SC4, SC8).")
    ] = False,
) -> None:
    """Every credit lot with its grade and the entries that made it so, appeals in progress too (SC11)."""
    if grade:
        with session(ctx, need_journal_key=False) as s:
            try:
                with s.store.read() as uow:
                    found = queries.explain_grade(uow, s.account(person), _at(s, uow, at))
            except CivicLedgerError as e:
                fail(ctx, e)
        emit(ctx, found.to_wire(), explanation_printer(found))
        return
    with session(ctx, need_journal_key=False) as s:
        try:
            with s.store.read() as uow:
                data = queries.explain(uow, s.account(person), _at(s, uow, at))
        except CivicLedgerError as e:
            fail(ctx, e)

    def human(console: Console) -> None:
        from civicledger.cli.output import console as out

        out.print(
            f"[bold]{data['person']}[/] at {format_instant(data['at'])}: accrued {data['accrued']} since "
            f"{format_instant(data['born_at'])}, spent {data['spent']}, available [bold]{data['available']}[/]"
        )
        table = Table("grade", "credits", "made so by (adjustment: kind, steps, deciders, evidence, entry)")
        for lot in data["lots"]:
            lines = [
                f"{a['id']}: {a['kind']} {a['steps']:+d} until {format_instant(a['end'])}, "
                f"by {', '.join(a['deciders']) or '-'}, evidence {a['evidence']}, entry {a['entry']}"
                + "".join(f" [appeal {p['appeal']}: {p['status']}]" for p in a["appeals"])
                for a in (cast(_ShownAdjustment, shown) for shown in lot["adjustments"])
            ] or ["base grade"]
            if lot["decayed"]:
                lines.append(f"decayed {lot['decayed']} step(s) since {format_instant(data['decay']['since'])}")
            table.add_row(str(lot["grade"]), str(lot["units"]), "\n".join(lines))
        out.print(table)
        for p in data["appeals_in_progress"]:
            out.print(f"appeal {p['appeal']} in progress on {p['adjustment']}: votes {p['votes']}")

    emit(ctx, data, human)


@credits_app.command("services")
def services(ctx: typer.Context) -> None:
    """Registered services with their tiers (SC10)."""
    with session(ctx, need_journal_key=False) as s:
        found = queries.services(s.store)

    def human(console: Console) -> None:
        from civicledger.cli.output import console as out

        table = Table("service", "category", "essential", "provider", "tiers (name price min-grade)")
        for key, service in found:
            tiers = ", ".join(f"{t.name} {t.price} g{t.min_grade}" for t in service.tiers)
            table.add_row(key, service.category, str(service.essential), service.provider, tiers)
        out.print(table)

    emit(ctx, queries.service_rows(found), human)


@credits_app.command("recompute-draws")
def recompute_draws(ctx: typer.Context, export: Annotated[Path, typer.Argument(help="A `civic export` file.")]) -> None:
    """Recompute every lottery draw's seed and winners from an export, with no database (SC9)."""
    with export.open(encoding="utf-8") as f:
        rows = rules.recompute_draws(json.loads(line) for line in f if line.strip())
    ok = all(r["seed_ok"] and r["winners_ok"] for r in rows)
    emit(
        ctx,
        {"ok": ok, "draws": rows},
        lambda c: c.print(f"{len(rows)} draw(s) recomputed: {'all match' if ok else 'MISMATCH'}"),
    )
    raise typer.Exit(0 if ok else 1)
