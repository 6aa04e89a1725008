"""Circles on the web site: an account's trust neighbourhood, claimable income and reserve (CI2-CI7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from civicledger.api import reads
from civicledger.mechanisms.circles import queries
from civicledger.web.site import Site, Term, try_read

GLOSSARY = [
    Term(
        "claimable-income",
        "Claimable income",
        "Basic income accrued to an account's owner since the last claim, in the owner's own currency: it is "
        "minted when claimed, or when the owner pays with it.",
        ("CI2", "CI3"),
    ),
    Term(
        "trustee-reserve",
        "Trustee reserve",
        "Two months of income set aside at signup, paid out only as rewards to those who trust the account: "
        "each new trust takes half of what is left.",
        ("CI4", "CI7"),
    ),
    Term(
        "maximum-flow",
        "Maximum a payment can carry",
        "The most that can flow from payer to payee through accounts that trust each other, each passing on "
        "coins it holds 1:1; it is limited by the holdings and trusts of a minimum cut.",
        ("CI9",),
    ),
]
RULES = {
    "CI2": "Income accrues continuously at the policy rate; it is minted when claimed or paid with.",
    "CI3": "The rate grows by g a year (5% by default).",
    "CI4": "A new account starts with three months of income: one its owner's, two a trustee reserve.",
    "CI7": "A new trust credits each side half of the other's remaining reserve.",
    "CI9": "A payment routes through trusting intermediaries, 1:1, up to the maximum flow, in at most max_steps.",
}


def install(app: FastAPI, site: Site) -> None:
    site.add_templates(Path(__file__).parent / "templates")
    site.glossary.extend(GLOSSARY)
    site.rules.update(RULES)

    @app.get("/explain/circles/payment/{sender}/{receiver}", response_class=HTMLResponse, include_in_schema=False)
    def explain_payment(
        request: Request, sender: str, receiver: str, units: Annotated[int | None, Query(ge=1, le=10**15)] = None
    ) -> HTMLResponse:
        """Why a payment can carry at most what it can, at the journal's time (CI9)."""
        found = try_read(queries.explain_payment, site.store, sender, receiver, units, site.now())
        query = f"sender={quote(sender, safe='')}&receiver={quote(receiver, safe='')}"
        return site.explanation(
            request,
            found,
            (f"/persons/{quote(sender, safe='')}", "the payer"),
            f"/api/circles/explain/payment?{query}" + (f"&units={units}" if units else ""),
        )

    def person_card(person: str, now: int) -> Markup:
        circles, circles_error = try_read(queries.account_summary, site.store, person, now)
        names: dict[str, str] = {}
        if circles:
            for other in {*circles["trusts"], *circles["trusted_by"]}:
                found, _error = try_read(reads.account, site.store, other)
                names[other] = found["name"] if found else ""
        return site.card(
            "circles/person_card.html", person=person, circles=circles, circles_error=circles_error, names=names
        )

    site.person_cards.append(person_card)
