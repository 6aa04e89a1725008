"""Circles on the web site: an account's trust neighbourhood, claimable income and reserve (CI2-CI7)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from markupsafe import Markup

from civicledger.api import reads
from civicledger.mechanisms.circles import queries
from civicledger.web.site import Site, try_read


def install(app: FastAPI, site: Site) -> None:
    site.add_templates(Path(__file__).parent / "templates")

    def person_card(person: str, now: int) -> Markup:
        circles, circles_error = try_read(queries.account_summary, site.store, person, now)
        names: dict[str, str] = {}
        if circles:
            for other in {*circles["trusts"], *circles["trusted_by"]}:
                found, _ = try_read(reads.account, site.store, other)
                names[other] = found["name"] if found else ""
        return site.card("circles/person_card.html", circles=circles, circles_error=circles_error, names=names)

    site.person_cards.append(person_card)
