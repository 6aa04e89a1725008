"""Circles reads: an account's income, reserve and trusts, the trust edges, a routed payment's plan (CI9).

Read models for the HTTP API and the pages: plain JSON-ready values, one read unit of work each.
"""

from __future__ import annotations

from civicledger.kernel import state
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.explain import N_, Amount, Explanation, Figure, Money
from civicledger.kernel.identity import AccountId, parse_account_id
from civicledger.kernel.ledger import CIRCLES_SYMBOL
from civicledger.kernel.messages import to_wire
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.paging import Page, page
from civicledger.kernel.personal import reveal
from civicledger.kernel.ports import Store, UnitOfWork
from civicledger.mechanisms.circles import handlers as sc
from civicledger.mechanisms.circles import messages as cm
from civicledger.mechanisms.circles import state as cs
from civicledger.mechanisms.circles.policy import CirclesPolicy
from civicledger.mechanisms.circles.rules import CIRCLES_KINDS


def account_summary(store: Store, account_id: str, now: int) -> sc.SummaryView:
    """An account's claimable income, trustee reserve, trusts both ways and holdings (CI1-CI8), the
    amounts also in major units (``claimable_text``, ``reserve_text``, X3)."""
    who = parse_account_id(account_id)
    with store.read() as uow:
        found = sc.summary(uow, who, max(now, uow.journal.head().time))
        own = uow.ledger.currency(CurrencyId(who))
    out = found.to_wire()
    if own is not None:
        out["claimable_text"] = own.format(found.claimable)
        out["reserve_text"] = own.format(found.reserve)
        out["decimals"] = own.decimals  # a page formats the amounts in its own language
        out["symbol"] = own.symbol
    return out


def trust_edges(store: Store, after: str | None, limit: int, account: str | None = None) -> Page[JSONObject]:
    """Trust edges ``truster/trustee`` (who accepts whose currency, CI5), optionally those of one account."""
    with store.read() as uow:
        edges: list[tuple[str, JSONObject]] = [
            (
                cs.trust_key(truster, trustee),
                {
                    "truster": truster,
                    "trustee": trustee,
                    "expires_at": record.expires_at,  # the record's fields in stored (sorted) order
                    "limit_percent": record.limit_percent,
                    "since": record.since,
                },
            )
            for truster, trustee, record in cs.trust_records(uow)
            if account is None or account in (truster, trustee)
        ]
    return page(edges, after, limit)


def route(store: Store, sender: str, receiver: str, units: int | None, now: int, memo: str = "") -> JSONObject:
    """The router's plan (CI9) and, when ``units`` can flow, the ``circles.pay`` payload to sign."""
    frm, to = parse_account_id(sender), parse_account_id(receiver)
    router = sc.router_for(store)
    plan = router.route(frm, to, units, now)
    out: JSONObject = {"sender": frm, "receiver": to, **plan.to_wire()}
    with store.read() as uow:  # amounts in major units (X3): every Circles currency has its decimals
        own = uow.ledger.currency(CurrencyId(frm))
    if own is not None:
        out["units_text"] = own.format(plan.units)
        out["max_flow_text"] = own.format(plan.max_flow)
        out["decimals"] = own.decimals
        out["symbol"] = own.symbol
        if units is not None:
            out["asked_text"] = own.format(units)
    if units is not None and plan.units >= units:
        out["command"] = {"type": cm.Pay.TYPE, "payload": to_wire(cm.Pay(frm, to, units, plan.legs, memo))}
    return out


def _name(uow: UnitOfWork, account: str) -> str:
    """An account's name as people read it (IN11: names live off the journal), else its id."""
    found = uow.accounts.get(AccountId(account))
    return (reveal(uow.personal, found.name) if found else "") or account


CIRCLES_MONEY = Money(2, CIRCLES_SYMBOL)
"""Every personal and group currency reads alike (CI8): two decimals, "CRC"."""


def explain_payment(store: Store, sender: str, receiver: str, units: int | None, now: int) -> Explanation:
    """Why a payment from ``sender`` to ``receiver`` can carry at most what it can (CI9): the
    maximum flow over balances and trust, and the full edges of a minimum cut that limit it (the
    holdings that run out, the trusts that accept no more), whose capacities sum to it."""
    frm, to = parse_account_id(sender), parse_account_id(receiver)
    router = sc.router_for(store)
    with store.read() as uow:
        at = max(now, uow.journal.head().time)
        names: dict[str, str] = {str(a): _name(uow, a) for a in (frm, to)}
        claimable = cs.claimable_now(uow, frm, at)
        max_steps = state.current_policy(uow).section(CirclesPolicy).max_steps
        holdings = {
            str(c): u
            for c, u in uow.ledger.holdings(frm).items()
            if (cur := uow.ledger.currency(c)) is not None and cur.kind in CIRCLES_KINDS
        }
        names.update({c: _name(uow, c) for c in holdings})
    total, cut = router.cut(frm, to, at)
    plan = router.route(frm, to, units, at)
    with store.read() as uow:
        for edge in cut:
            for _, name in (edge.source, edge.target):
                if name not in names:
                    names[name] = _name(uow, name)
    m = CIRCLES_MONEY
    inputs: list[Figure] = [
        Figure(
            N_("%(holder)s holds %(issuer)s's coins", holder=names[frm], issuer=names.get(c, c)),
            u,
            N_("a balance the payment may pass on"),
            money=Money(m.decimals, m.symbol, c),
            rule="CI9",
        )
        for c, u in sorted(holdings.items())
    ]
    inputs.append(Figure(N_("unclaimed income"), claimable, N_("minted by the payment itself"), money=m, rule="CI2"))
    inputs.append(Figure("max_steps", max_steps, N_("transfers a plan may use (policy circles.max_steps)"), rule="CI9"))
    if units is not None:
        inputs.append(Figure(N_("asked"), units, N_("the amount asked for"), money=m, rule="CI9"))
    steps: list[Figure] = []
    for edge in cut:
        (ks, s_name), (_, t_name) = edge.source, edge.target
        if ks == "a":  # a holding: the holder has only this much of the currency
            label = (
                N_(
                    "%(holder)s holds %(issuer)s's coins (with unclaimed income)",
                    holder=names[s_name],
                    issuer=names[t_name],
                )
                if s_name == t_name == frm
                else N_("%(holder)s holds %(issuer)s's coins", holder=names[s_name], issuer=names[t_name])
            )
            meaning = N_("all of it is passed on: this holding is used up")
        else:  # an acceptance: the truster takes this currency up to its trust's room
            label = N_("%(truster)s accepts %(issuer)s's coins", truster=names[t_name], issuer=names[s_name])
            meaning = N_("this trust takes no more (its limit's room is used up)")
        steps.append(Figure(label, edge.capacity, meaning, N_("a full edge of the minimum cut"), money=m, rule="CI9"))
    notes = [
        N_(
            "Nothing more can flow: every route from the sender crosses one of the full edges above, and "
            "their amounts add up to the maximum (max-flow = min-cut)."
        ),
    ]
    if plan.units < min(total, units if units is not None else total):
        notes.append(
            N_(
                "Within %(steps)s transfers the plan carries %(carried)s of the %(total)s that could flow "
                "(CI9 max_steps).",
                steps=max_steps,
                carried=Amount(plan.units, m),
                total=Amount(total, m),
            )
        )
    elif units is not None:
        notes.append(
            N_(
                "%(amount)s can be paid in %(legs)s transfer(s).",
                amount=Amount(min(units, plan.units), m),
                legs=len(plan.legs),
            )
        )
    return Explanation(
        rule="CI9",
        question=N_("Why can this payment carry at most this much?"),
        subject=f"{frm}->{to}",
        at=at,
        inputs=tuple(inputs),
        steps=tuple(steps),
        result=Figure(
            N_("maximum"),
            total,
            N_("the most %(payer)s can pay %(payee)s now", payer=names[frm], payee=names[to]),
            money=m,
            rule="CI9",
        ),
        notes=tuple(notes),
    )
