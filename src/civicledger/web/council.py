"""A council's pages: the policy in force and its history (``/policy``), and the council decisions
collecting co-signatures (``/council``), drafted and signed in the browser (``static/council.js``,
WebCrypto Ed25519: the server never sees a private key). See docs/web.md and kernel/proposals.py.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from civicledger.api import governance
from civicledger.kernel import state
from civicledger.kernel.canonical import JSONValue
from civicledger.kernel.errors import CivicLedgerError, NotFoundError
from civicledger.kernel.identity import AccountId, Role
from civicledger.kernel.ledger import CIRCLES_SYMBOL
from civicledger.kernel.personal import ERASED, reveal
from civicledger.kernel.policy import Unit
from civicledger.kernel.proposals import COUNCIL_DECISIONS, Proposal, counted
from civicledger.kernel.ratio import Ratio
from civicledger.kernel.rules import RULE_VERSIONS
from civicledger.kernel.time import DURATION_UNITS, duration_parts
from civicledger.web import i18n
from civicledger.web.i18n import _
from civicledger.web.site import Site, try_read

if TYPE_CHECKING:
    from civicledger.api.app import ServiceState
    from civicledger.kernel.ports import Store, UnitOfWork


def _percent(ratio: Fraction) -> str:
    """A ratio as a percentage, exact when it ends within four decimals ("5%", "0.0192%"), else
    rounded and marked "≈" (1/3 -> "≈ 33.3333%")."""
    hundred = ratio * 100
    shown = Decimal(hundred.numerator) / Decimal(hundred.denominator)
    exact = shown.quantize(Decimal("0.0001"))
    text = i18n.format_number(exact.normalize() if exact == hundred else exact)
    return f"{text}%" if exact == hundred else f"≈ {text}%"


def _duration(seconds: int) -> str:
    """``format_duration``'s two largest parts, marked "≈" when it drops a rest (a month is
    2,629,746 s: "≈ 30 days 10 hours"); the exact seconds stay in ``data-value``."""
    shown = i18n.format_duration(seconds)
    exact = len(duration_parts(abs(seconds), most=len(DURATION_UNITS))) <= 2  # nothing beyond the two shown
    return shown if exact else f"≈ {shown}"


class PolicyValues:
    """Policy values for people (docs/web.md, "Policy values"): a duration in days and hours (X4),
    money in major units after its currency's symbol (X3), a ratio as a percentage, yes/no; the exact
    value stays in the cell's ``data-value`` and in the JSON. Units come from ``kernel.policy.Unit``."""

    def __init__(self, site: Site, values: dict[str, JSONValue]) -> None:
        self.site, self.values = site, values

    def text(self, path: object, value: JSONValue, unit: object) -> str:
        try:
            if unit == Unit.SECONDS and isinstance(value, int):
                return _duration(value)
            if unit == Unit.MINOR_UNITS and isinstance(value, int):
                return self.money(str(path), value)
            if unit == Unit.RATIO and isinstance(value, (str, int)):
                return _percent(Ratio.parse(value))
            if unit == Unit.PERCENT and isinstance(value, int):
                return f"{i18n.format_number(value)}%"
        except (ValueError, ZeroDivisionError):
            pass
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, int):
            return i18n.format_number(value)
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False)

    def editable(self, path: str, value: JSONValue, unit: object) -> str:
        """The value in force as the council form's input shows it, in the page's language, so that
        ``static/council.js`` reads it back to the same value: every part of a duration ("1 día 6
        horas"), an amount with the page's decimal separator, yes or no in words."""
        if unit == Unit.SECONDS and isinstance(value, int) and value >= 0:
            return i18n.editable_duration(value)
        if unit == Unit.MINOR_UNITS and isinstance(value, int):
            return i18n.format_money(value, self.decimals(path), grouped=False)
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def money(self, path: str, value: int) -> str:
        """Circles amounts are in a personal currency of ``circles.decimals`` decimals; Gears pays in
        its first sales currency (the ethicap currency); any other amount reads in the economy's."""
        if path.startswith("circles."):
            decimals = self.values.get("circles.decimals")
            return i18n.format_money(value, decimals if isinstance(decimals, int) else 2, CIRCLES_SYMBOL)
        currencies = self.values.get("gears.currencies")
        if path.startswith("gears.") and isinstance(currencies, list) and currencies:
            return self.site.money(value, str(currencies[0]))
        return self.site.money(value)

    def decimals(self, path: str) -> int:
        """The decimals of the currency an amount at ``path`` is in (what "12.50" means there)."""
        currencies = self.values.get("gears.currencies")
        if path.startswith("gears.") and isinstance(currencies, list) and currencies:
            return self.site.money_of(str(currencies[0])).decimals  # the page's read, shared with ``money``
        key = "circles.decimals" if path.startswith("circles.") else "economy.currency_decimals"
        decimals = self.values.get(key)
        return decimals if isinstance(decimals, int) else 2

    def __call__(self, path: object, value: JSONValue, unit: object) -> Markup:
        """A ``<span>`` showing the value for people, its exact JSON in ``data-value`` and ``title``."""
        exact = json.dumps(value, ensure_ascii=False, sort_keys=True)
        return Markup('<span class="policy-value" data-value="{0}" title="{0}">{1}</span>').format(
            exact, self.text(path, value, unit)
        )


def install(app: FastAPI, site: Site, service: ServiceState) -> None:
    store = site.store

    @app.get("/policy", response_class=HTMLResponse, include_in_schema=False)
    def policy(request: Request) -> HTMLResponse:
        data, error = try_read(governance.policy, store)
        values = {r["path"]: r["value"] for r in data["rows"]} if data else {}
        signers = {AccountId(s) for v in data["history"] for s in v["signers"]} if data else set()
        return site.render(
            request,
            "policy.html",
            data=data,
            error=error,
            show=PolicyValues(site, values),
            names=_public_names(store, signers),
            json_url="/api/policy",
        )

    @app.get("/council", response_class=HTMLResponse, include_in_schema=False)
    def council(request: Request) -> HTMLResponse:
        now = service.now()
        policy, error = try_read(governance.policy, store)
        rows: list[dict[str, object]] = []
        members: list[dict[str, str]] = []
        names: dict[AccountId, str] = {}
        threshold = rule_version = 0
        try:
            with store.read() as uow:
                now = max(now, uow.journal.head().time)
                economy = service.view.economy
                if economy is None:
                    raise NotFoundError("this store holds no economy yet; create one with `civic init`", rule="X1")
                quorum = state.council_quorum(uow, economy.council)
                threshold = quorum.threshold
                found = uow.proposals.newest(50)
                wanted = {*quorum.members, *(p.proposer for p in found)}
                for p in found:
                    wanted |= p.command.signers()
                    if isinstance(named := p.command.payload.get("account"), str):
                        wanted.add(AccountId(named))  # a role decision's account
                rule_version = economy.rules[-1][0]
                names = _names(uow, wanted)
                members = sorted(({"id": m, "name": names.get(m, "")} for m in quorum.members), key=lambda m: m["name"])
        except CivicLedgerError as e:
            error, found = str(e), []
        values: dict[str, JSONValue] = {r["path"]: r["value"] for r in policy["rows"]} if policy else {}
        units = {r["path"]: r["unit"] for r in policy["rows"]} if policy else {}
        show = PolicyValues(site, values)
        for p in found:
            rows.append(_row(p, now, values, units, counted(p, quorum) if threshold else 0))
        return site.render(
            request,
            "council.html",
            error=error,
            proposals=rows,
            members=members,
            names=names,
            threshold=threshold,
            paths=sorted(values),
            values=values,
            units=units,
            show=show,
            rule_version=rule_version,
            rule_versions=sorted(v for v in RULE_VERSIONS if v > rule_version),
            roles=[r.value for r in Role],
            decisions=sorted(COUNCIL_DECISIONS),
            json_url="/api/proposals",
        )


def _names(uow: UnitOfWork, accounts: set[AccountId]) -> dict[AccountId, str]:
    """The names ``GET /api/accounts`` shows of these accounts: an organisation's or a council's name
    as it opened, a person's read from the off-journal store (IN11: the journal holds only its
    reference); an erased name is not shown, and the page falls back to the short id."""
    out: dict[AccountId, str] = {}
    for a, acc in uow.accounts.get_many(accounts).items():
        name = reveal(uow.personal, acc.name) or ""
        if name and name != ERASED and not name.startswith("pd:"):
            out[a] = name
    return out


def _public_names(store: Store, accounts: set[AccountId]) -> dict[AccountId, str]:
    with store.read() as uow:
        return _names(uow, accounts)


def _row(
    p: Proposal, now: int, values: dict[str, JSONValue], units: dict[str, str | None], signed: int
) -> dict[str, object]:
    """A proposal as the page lists it: what it changes (for a policy change: from and to)."""
    payload = p.command.payload
    path = payload.get("path") if p.command.type == "economy.change_policy" else None
    return {
        "id": p.id,
        "type": p.command.type,
        "payload": payload,
        "path": path,
        "before": values.get(str(path)) if path is not None else None,
        "after": payload.get("value"),
        "unit": units.get(str(path)) if path is not None else None,
        "proposer": p.proposer,
        "created_at": p.created_at,
        "expires_at": p.expires_at,
        "status": p.status_at(now).value,
        "signers": sorted(p.command.signers()),
        "signed": signed,
        "seq": p.seq,
        "reason": p.reason,
        "replaced_by": p.replaced_by,
    }
