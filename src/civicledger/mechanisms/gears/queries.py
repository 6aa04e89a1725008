"""Gears reads: every company's coefficient now and the fund's position (GR5, GR6), one company's record.

Read models for the HTTP API and the pages: plain JSON-ready values, one read unit of work each.
Stored records appear as they are stored (``kernel.records.stored_json``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import NotRequired, TypedDict

from civicledger.kernel import state
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import NotFoundError
from civicledger.kernel.explain import N_, Explanation, Figure
from civicledger.kernel.identity import AccountId, parse_account_id
from civicledger.kernel.money import CurrencyId, format_units
from civicledger.kernel.ports import Store, UnitOfWork
from civicledger.kernel.records import stored_json
from civicledger.mechanisms.gears import state as gs
from civicledger.mechanisms.gears.policy import GearsPolicy
from civicledger.mechanisms.gears.values import decode_ratio, encode_ratio, ratio_text


class CurrencyPositionView(TypedDict):
    balance: int
    waiting_payouts: int
    waiting_units: int


class FundView(TypedDict):
    fund: str
    ethicap: str
    currencies: dict[str, CurrencyPositionView]
    debts_owed_to_fund: int


class CoefficientRow(TypedDict):
    company: str
    name: str
    sales: int
    sales_text: NotRequired[str]  # in major units with the ethicap's symbol (X3), for the pages
    votes: int
    mean: str | None
    delta: str
    delta_decimal: str


class SnapshotRef(TypedDict):
    version: int
    at: int


class CoefficientsView(TypedDict):
    """Every company's coefficient now (GR5) and the fund's position (GR6)."""

    at: int
    average: str | None
    companies: list[CoefficientRow]
    fund: FundView | None
    snapshots: list[SnapshotRef]


class DeltaPoint(TypedDict):
    at: int
    delta: str
    delta_decimal: str


class CompanyView(TypedDict):
    """One company: its record, statements, votes, debts, challenges and delta over time."""

    company: str
    name: str
    record: JSONObject
    statements: list[JSONObject]
    votes: list[JSONObject]
    debts: list[JSONObject]
    challenges: list[JSONObject]
    delta_history: list[DeltaPoint]


class TreasuryCurrency(TypedDict):
    currency: str
    balance: int
    balance_text: str
    waiting_payouts: int
    waiting_units: int
    waiting_text: str


class PayoutRow(TypedDict):
    currency: str
    position: int
    to: str
    to_name: str
    units: int
    amount: str
    reason: str
    at: int


class TreasuryView(TypedDict):
    """The Common Good Fund for its treasurer (GR6): balance and waiting payouts per currency, in
    exact minor units and in major units with the currency's symbol, and the queue in payment order."""

    fund: str
    fund_name: str
    ethicap: str
    currencies: list[TreasuryCurrency]
    debts_owed_to_fund: int
    debts_text: str
    payouts: list[PayoutRow]


def treasury(store: Store) -> TreasuryView:
    with store.read() as uow:
        policy = state.current_policy(uow).section(GearsPolicy)
        position = gs.fund_position(uow, policy)  # NotFoundError (GR6) before Gears is set up

        def text(currency: str, units: int) -> str:
            found = uow.ledger.currency(CurrencyId(currency))
            return found.format(units) if found is not None else format_units(units, 2, f"{currency} ")

        currencies = [
            TreasuryCurrency(
                currency=c,
                balance=p.balance,
                balance_text=text(c, p.balance),
                waiting_payouts=p.waiting_payouts,
                waiting_units=p.waiting_units,
                waiting_text=text(c, p.waiting_units),
            )
            for c, p in position.currencies.items()
        ]
        payouts: list[PayoutRow] = []
        for c in position.currencies:
            for n, (_, payout) in enumerate(gs.pending_payouts(uow, c), start=1):
                who = uow.accounts.get(payout.to)
                payouts.append(
                    PayoutRow(
                        currency=c,
                        position=n,
                        to=payout.to,
                        to_name=who.name if who else "",
                        units=payout.units,
                        amount=text(c, payout.units),
                        reason=payout.reason,
                        at=payout.at,
                    )
                )
        fund = uow.accounts.get(position.fund)
        return TreasuryView(
            fund=position.fund,
            fund_name=fund.name if fund else "",
            ethicap=position.ethicap,
            currencies=currencies,
            debts_owed_to_fund=position.debts_owed_to_fund,
            debts_text=text(position.ethicap, position.debts_owed_to_fund),
            payouts=payouts,
        )


def company_text(row: CoefficientRow) -> str:
    """What a search of companies looks in: the name and the id."""
    return f"{row['name']} {row['company']}"


def fund_view(position: gs.FundPosition) -> FundView:
    currencies = {
        c: CurrencyPositionView(balance=p.balance, waiting_payouts=p.waiting_payouts, waiting_units=p.waiting_units)
        for c, p in position.currencies.items()
    }
    return FundView(
        fund=position.fund,
        ethicap=position.ethicap,
        currencies=currencies,
        debts_owed_to_fund=position.debts_owed_to_fund,
    )


def coefficients(store: Store, now: int) -> CoefficientsView:

    with store.read() as uow:
        policy = state.current_policy(uow).section(GearsPolicy)
        at = max(now, uow.journal.head().time)
        try:
            result = gs.coefficients_at(uow, policy, at)
            fund: FundView | None = fund_view(gs.fund_position(uow, policy))
        except NotFoundError:
            return {"at": at, "average": None, "companies": [], "fund": None, "snapshots": []}
        names = {c: (a.name if (a := uow.accounts.get(AccountId(c))) else "") for c in result.companies}
        ethicap = uow.ledger.currency(CurrencyId(gs.config(uow).ethicap))

        def money(units: int) -> str:
            return ethicap.format(units) if ethicap is not None else format_units(units, 2)

        history = [SnapshotRef(version=h.version, at=h.at) for h in gs.snapshots(uow)]
    return {
        "at": at,
        "average": encode_ratio(result.average),
        "companies": [
            {
                "company": c,
                "name": names[c],
                "sales": r.sales,
                "sales_text": money(r.sales),
                "votes": r.votes,
                "mean": encode_ratio(r.mean) if r.mean is not None else None,
                "delta": encode_ratio(r.delta),
                "delta_decimal": ratio_text(r.delta),
            }
            for c, r in sorted(result.companies.items())
        ],
        "fund": fund,
        "snapshots": history,
    }


def company(store: Store, company: str) -> CompanyView:

    firm = parse_account_id(company)
    with store.read() as uow:
        record = gs.require_company(uow, firm)
        account = uow.accounts.get(firm)
        statements = [{"index": i, **stored_json(s)} for i, s in gs.statements_of(uow, firm)]
        votes = [{"voter": voter, **stored_json(v)} for voter, v in gs.votes_on(uow, firm)]
        debts = [{"key": k, **stored_json(d)} for k, d in gs.debts_of(uow, firm)]
        challenges = [{"challenge": k, **stored_json(c)} for k, c in gs.challenges_of(uow, firm)]
        history: list[DeltaPoint] = []
        for snap in gs.snapshots(uow):
            row = snap.companies.get(firm)
            if row is not None:
                delta = decode_ratio(row.delta)
                history.append(DeltaPoint(at=snap.at, delta=row.delta, delta_decimal=ratio_text(delta)))
    return {
        "company": firm,
        "name": account.name if account else "",
        "record": stored_json(record),
        "statements": statements,
        "votes": votes,
        "debts": debts,
        "challenges": challenges,
        "delta_history": history,
    }


def explain_delta(uow: UnitOfWork, company: AccountId, at: int) -> Explanation:
    """Why a company's delta is what it is at ``at`` (GR5): its sales G, its votes and mean V, the
    sales-weighted average S over the companies with current votes, k and the optional clamp."""
    policy = state.current_policy(uow).section(GearsPolicy)
    gs.require_company(uow, company)
    result = gs.coefficients_at(uow, policy, at)
    row = result.companies.get(company)
    if row is None:  # joined after ``at``
        raise NotFoundError(f"{company} had not joined Gears at {at}", rule="GR1")
    money = state.money_in(uow, gs.config(uow, "GR5").ethicap)
    voted = [c for c in result.companies.values() if c.votes]
    weighted = sum((c.sales * c.mean for c in voted if c.mean is not None), Fraction(0))
    weight = sum(c.sales for c in voted)
    inputs = (
        Figure("k", policy.k, N_("how strongly votes move delta (policy gears.k)"), rule="GR5"),
        Figure("G", row.sales, N_("this company's sales in the trailing year"), money=money, rule="GR1"),
        Figure("n", row.votes, N_("current votes on this company (each counts one year)"), rule="GR4"),
        Figure(N_("votes"), row.total, N_("sum of the current votes (+1, 0 or -1 each)"), rule="GR4"),
        Figure(N_("companies"), len(voted), N_("companies with current votes (they make up S)"), rule="GR5"),
        Figure(
            "ΣG·V",
            weighted / 10**money.decimals,
            N_("sales in major units of G's currency times mean vote, summed over them"),
            rule="GR5",
        ),
        Figure("ΣG", weight, N_("their sales, summed"), money=money, rule="GR5"),
        Figure(N_("clamp"), policy.clamp, N_("the bound on |delta| (0: no clamp, policy gears.clamp)"), rule="GR5"),
    )
    steps: list[Figure] = []
    if row.mean is None:
        steps.append(Figure("V", 0, N_("no current votes: delta is 0 and the company is left out of S"), rule="GR5"))
    else:
        steps.append(Figure("V", row.mean, N_("the mean of the current votes"), N_("votes / n"), rule="GR5"))
    steps.append(Figure("S", result.average, N_("the sales-weighted average vote"), "ΣG·V / ΣG", rule="GR5"))
    if row.mean is not None:
        steps.append(
            Figure("k (V - S)", policy.k * (row.mean - result.average), N_("delta before any clamp"), "k × (V - S)")
        )
        if result.scale != 1:
            steps.append(
                Figure(
                    N_("scale"), result.scale, N_("clamp / the largest |delta|: every delta shrinks alike"), rule="GR5"
                )
            )
    notes = (
        N_(
            "A seller receives the price times (1 + delta/100); the Common Good Fund pays or receives the "
            "difference (GR6)."
        ),
    )
    return Explanation(
        rule="GR5",
        question=N_("Why is this company's delta what it is?"),
        subject=company,
        at=at,
        inputs=inputs,
        steps=tuple(steps),
        result=Figure(
            N_("delta"), row.delta, N_("percent added to (or taken from) each sale's price"), N_("k (V - S) × scale")
        ),
        notes=notes,
    )


def delta_explanation(store: Store, company: str, now: int) -> Explanation:
    """``explain_delta`` at the journal's time (never before its newest entry), as the pages show it."""
    firm = parse_account_id(company)
    with store.read() as uow:
        return explain_delta(uow, firm, max(now, uow.journal.head().time))
