"""A council's pages: the policy in force and its history (``/policy``), and the council decisions
collecting co-signatures (``/council``), drafted and signed in the browser (``static/council.js``,
WebCrypto Ed25519: the server never sees a private key). See docs/web.md and kernel/proposals.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from civicledger.api import governance
from civicledger.kernel import state
from civicledger.kernel.canonical import JSONValue
from civicledger.kernel.errors import CivicLedgerError, NotFoundError
from civicledger.kernel.identity import AccountId
from civicledger.kernel.proposals import COUNCIL_DECISIONS, Proposal, counted
from civicledger.web.site import Site, try_read

if TYPE_CHECKING:
    from civicledger.api.app import ServiceState


def install(app: FastAPI, site: Site, service: ServiceState) -> None:
    store = site.store

    @app.get("/policy", response_class=HTMLResponse, include_in_schema=False)
    def policy(request: Request) -> HTMLResponse:
        data, error = try_read(governance.policy, store)
        return site.render(request, "policy.html", data=data, error=error, json_url="/api/policy")

    @app.get("/council", response_class=HTMLResponse, include_in_schema=False)
    def council(request: Request) -> HTMLResponse:
        now = service.now()
        policy, error = try_read(governance.policy, store)
        rows: list[dict[str, object]] = []
        members: list[dict[str, str]] = []
        names: dict[AccountId, str] = {}
        threshold = 0
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
                # A person's name is personal data (IN11): the account holds only its reference then.
                names = {
                    a: acc.name
                    for a, acc in uow.accounts.get_many(wanted).items()
                    if acc.name and not acc.name.startswith("pd:")
                }
                members = sorted(({"id": m, "name": names.get(m, "")} for m in quorum.members), key=lambda m: m["name"])
        except CivicLedgerError as e:
            error, found = str(e), []
        values: dict[str, JSONValue] = {r["path"]: r["value"] for r in policy["rows"]} if policy else {}
        for p in found:
            rows.append(_row(p, now, values, counted(p, quorum) if threshold else 0))
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
            decisions=sorted(COUNCIL_DECISIONS),
            json_url="/api/proposals",
        )


def _row(p: Proposal, now: int, values: dict[str, JSONValue], signed: int) -> dict[str, object]:
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
