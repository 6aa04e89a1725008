"""Gears reads: every company's coefficient now and the fund's position (GR5, GR6), one company's record.

Read models for the HTTP API and the pages: plain JSON-ready values, one read unit of work each.
Stored records appear as they are stored (``kernel.records.stored_json``).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from civicledger.kernel import state
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import NotFoundError
from civicledger.kernel.identity import AccountId, parse_account_id
from civicledger.kernel.money import CurrencyId, format_units
from civicledger.kernel.ports import Store
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
