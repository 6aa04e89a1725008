"""Read models shared by the HTTP API and the web pages: plain JSON-ready dicts from the store.

Each function opens one read unit of work, calls the mechanism's own service functions where they
exist (``services.circles.summary``, ``services.gears.coefficients_at``, ``services.credits.explain``,
``services.creditism.price_view`` ...) and only reads records directly where no service function
exists (lists for pagination, the grade distribution, a company's challenges).

Lists are paginated by a cursor: ``after`` is the last key of the previous page, ``limit`` its size;
every page says the ``next`` cursor, or ``None`` at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from civicledger.kernel import audit, state
from civicledger.kernel.errors import InvalidInputError, NotFoundError
from civicledger.kernel.identity import AccountId, parse_account_id
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.ports import Store, UnitOfWork
from civicledger.mechanisms.gears.policy import GearsPolicy

MAX_LIMIT = 500


def page(rows: Iterable[tuple[str, dict[str, Any]]], after: str | None, limit: int) -> dict[str, Any]:
    """One page of (cursor, row) pairs sorted by cursor: rows strictly after ``after``."""
    items: list[dict[str, Any]] = []
    last: str | None = None
    more = False
    for key, row in rows:
        if after is not None and key <= after:
            continue
        if len(items) == limit:
            more = True
            break
        items.append(row)
        last = key
    return {"items": items, "next": last if more else None}


def _account_row(uow: UnitOfWork, account: Any) -> dict[str, Any]:
    return {
        "id": account.id,
        "kind": account.kind.value,
        "name": account.name,
        "public_key": account.public_key,
        "created_at": account.created_at,
        "verified": account.verified,
        "roles": sorted(account.roles),
        "parent": account.parent,
    }


# Economy and accounts ---------------------------------------------------------------------------


def economy(store: Store, now: int) -> dict[str, Any]:
    with store.read() as uow:
        info = state.economy_info(uow)
        head = uow.journal.head()
        signed = uow.journal.latest_signed_head()
    if info is None:
        raise NotFoundError("this store holds no economy yet; create one with `civic init`", rule="X1")
    return {
        "id": info.id,
        "name": info.name,
        "journal_key": info.journal_key,
        "now": max(now, head.time),
        "entries": head.size,
        "tree_head": signed.to_wire() if signed else None,
    }


def accounts(store: Store, after: str | None, limit: int) -> dict[str, Any]:
    with store.read() as uow:
        rows = sorted(((a.id, _account_row(uow, a)) for a in uow.accounts.scan()), key=lambda r: r[0])
    return page(rows, after, limit)


def account(store: Store, account_id: str) -> dict[str, Any]:
    who = parse_account_id(account_id)
    with store.read() as uow:
        found = state.require_account(uow, who)
        row = _account_row(uow, found)
        row["balances"] = {str(c): units for c, units in sorted(uow.ledger.holdings(who).items())}
    return row


def balances(store: Store, account_id: str) -> dict[str, Any]:
    who = parse_account_id(account_id)
    with store.read() as uow:
        state.require_account(uow, who)
        held = uow.ledger.holdings(who)
    return {"account": who, "balances": {str(c): units for c, units in sorted(held.items())}}


def currencies(store: Store, after: str | None, limit: int) -> dict[str, Any]:
    with store.read() as uow:
        rows = sorted(
            (
                (
                    str(c.id),
                    {
                        "id": str(c.id),
                        "issuer": c.issuer,
                        "rule": c.rule.value,
                        "kind": c.kind.value,
                        "decimals": c.decimals,
                        "issued": c.issued,
                        "burned": c.burned,
                        "supply": c.supply,
                        "name": c.name,
                    },
                )
                for c in uow.ledger.currencies()
            ),
            key=lambda r: r[0],
        )
    return page(rows, after, limit)


def holders(store: Store, currency: str, after: str | None, limit: int) -> dict[str, Any]:
    with store.read() as uow:
        state.require_currency(uow, CurrencyId(currency))
        rows = sorted((str(a), {"account": a, "units": u}) for a, u in uow.ledger.holders(CurrencyId(currency)).items())
    return page(rows, after, limit)


# Circles ----------------------------------------------------------------------------------------


def circles_account(store: Store, account_id: str, now: int) -> dict[str, Any]:
    from civicledger.mechanisms.circles import handlers as sc

    who = parse_account_id(account_id)
    with store.read() as uow:
        found = sc.summary(uow, who, max(now, uow.journal.head().time))
    return found.to_wire()


def trust_edges(store: Store, after: str | None, limit: int, account: str | None = None) -> dict[str, Any]:
    from civicledger.mechanisms.circles import handlers as sc

    with store.read() as uow:
        rows: Iterator[tuple[str, Any]] = uow.records.scan(sc.TRUST)
        edges = []
        for key, value in rows:
            truster, trustee = key.split("/", 1)
            if account is not None and account not in (truster, trustee):
                continue
            row = {"truster": truster, "trustee": trustee}
            if isinstance(value, dict):
                row.update({k: v for k, v in value.items() if k not in row})
            edges.append((key, row))
    return page(edges, after, limit)


def circles_route(
    store: Store, sender: str, receiver: str, units: int | None, now: int, memo: str = ""
) -> dict[str, Any]:
    """The router's plan (CI9) and, when ``units`` can flow, the ``circles.pay`` payload to sign."""
    from civicledger.kernel.messages import to_wire
    from civicledger.mechanisms.circles import handlers as sc

    frm, to = parse_account_id(sender), parse_account_id(receiver)
    router = sc.router_for(store)
    plan = router.route(frm, to, units, now)
    out: dict[str, Any] = {"sender": frm, "receiver": to, **plan.to_wire()}
    if units is not None and plan.units >= units:
        from civicledger.mechanisms.circles import messages as cm

        out["command"] = {"type": cm.Pay.TYPE, "payload": to_wire(cm.Pay(frm, to, units, plan.legs, memo))}
    return out


# Gears ------------------------------------------------------------------------------------------


def gears_coefficients(store: Store, now: int) -> dict[str, Any]:
    from civicledger.mechanisms.gears import handlers as sg
    from civicledger.mechanisms.gears.values import encode_ratio, ratio_text

    with store.read() as uow:
        policy = state.current_policy(uow).section(GearsPolicy)
        at = max(now, uow.journal.head().time)
        try:
            result = sg.coefficients_at(uow, policy, at)
            fund: dict[str, Any] | None = sg.fund_position(uow, policy)
        except NotFoundError:
            return {"at": at, "average": None, "companies": [], "fund": None, "snapshots": []}
        names = {c: (a.name if (a := uow.accounts.get(AccountId(c))) else "") for c in result.companies}
        history = [{"version": h.get("version"), "at": h.get("at")} for h in sg.snapshots(uow)]
    return {
        "at": at,
        "average": encode_ratio(result.average),
        "companies": [
            {
                "company": c,
                "name": names[c],
                "sales": r.sales,
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


def gears_company(store: Store, company: str) -> dict[str, Any]:
    from civicledger.mechanisms.gears import handlers as sg
    from civicledger.mechanisms.gears.values import decode_ratio, ratio_text

    firm = parse_account_id(company)
    with store.read() as uow:
        record = sg.require_company(uow, firm)
        account = uow.accounts.get(firm)
        statements = [{"index": int(k.split("/")[1]), **v} for k, v in uow.records.scan(sg.NS_STATEMENTS, f"{firm}/")]
        votes = [{"voter": k.split("/")[1], **v} for k, v in uow.records.scan(sg.NS_VOTES, f"{firm}/")]
        debts = [{"key": k, **v} for k, v in sg.debts_of(uow, firm)]
        challenges = [
            {"challenge": k, **v}
            for k, v in uow.records.scan(sg.NS_CHALLENGES)
            if isinstance(v, dict) and v.get("company") == firm
        ]
        history = []
        for snap in sg.snapshots(uow):
            row = snap.get("companies", {}).get(firm)
            if row is not None:
                delta = decode_ratio(row["delta"])
                history.append({"at": snap["at"], "delta": row["delta"], "delta_decimal": ratio_text(delta)})
    return {
        "company": firm,
        "name": account.name if account else "",
        "record": record,
        "statements": statements,
        "votes": votes,
        "debts": debts,
        "challenges": challenges,
        "delta_history": history,
    }


# Social credits ---------------------------------------------------------------------------------


def credits_person(store: Store, person: str, now: int) -> dict[str, Any]:
    from civicledger.mechanisms.credits import handlers as scr

    who = parse_account_id(person)
    with store.read() as uow:
        return scr.explain(uow, who, max(now, uow.journal.head().time))


def grade_distribution(store: Store, now: int) -> dict[str, Any]:
    """Units per grade over every enrolled person (the overview chart), and the number of persons."""
    from civicledger.mechanisms.credits import handlers as scr

    totals: dict[int, int] = {}
    persons = 0
    with store.read() as uow:
        at = max(now, uow.journal.head().time)
        for standing in scr.evaluate_all(uow, at):
            persons += 1
            for grade, units in standing.by_grade().items():
                totals[grade] = totals.get(grade, 0) + units
    return {"at": at, "persons": persons, "units_by_grade": {str(g): u for g, u in sorted(totals.items())}}


# Creditism --------------------------------------------------------------------------------------


def creditism_assets(store: Store) -> list[dict[str, Any]]:
    from civicledger.mechanisms.creditism import handlers as scm

    with store.read() as uow:
        return [
            {"asset": k, "kind": v.get("kind"), "unit": v.get("unit"), "description": v.get("description", "")}
            for k, v in uow.records.scan(scm.NS_ASSET)
        ]


def creditism_price(store: Store, asset: str) -> dict[str, Any]:
    from civicledger.mechanisms.creditism import handlers as scm

    with store.read() as uow:
        return scm.price_view(uow, state.current_policy(uow), asset)


def creditism_report(store: Store) -> dict[str, Any]:
    from civicledger.mechanisms.creditism import handlers as scm

    with store.read() as uow:
        return scm.report_view(uow, state.current_policy(uow))


# Journal ----------------------------------------------------------------------------------------


def journal_entries(store: Store, start: int, limit: int) -> dict[str, Any]:
    with store.read() as uow:
        size = uow.journal.head().size
        stop = min(size, start + limit)
        items = [
            {**s.entry.to_wire(), "leaf_hash": s.leaf_hash.hex(), "tree_head": s.head.to_wire()}
            for s in uow.journal.scan(start, stop)
        ]
    return {"items": items, "size": size, "next": stop if stop < size else None}


def inclusion(store: Store, seq: int, size: int | None) -> dict[str, Any]:
    return audit.inclusion(store, seq, size)


def consistency(store: Store, first: int, second: int | None) -> dict[str, Any]:
    if second is not None and first > second:  # audit.consistency would fail with a bare ValueError
        raise InvalidInputError(
            f"a consistency proof goes from a smaller tree to a larger one, not {first} to {second}", rule="X2"
        )
    return audit.consistency(store, first, second)


def latest_head(store: Store) -> dict[str, Any]:
    with store.read() as uow:
        head = uow.journal.latest_signed_head()
    if head is None:
        raise NotFoundError("the journal has no signed tree head yet", rule="X2")
    return head.to_wire()
