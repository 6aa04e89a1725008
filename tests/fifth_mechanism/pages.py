"""Tallies' card on a person's page."""

from __future__ import annotations

from fastapi import FastAPI
from markupsafe import Markup, escape

from civicledger.web.site import Site, try_read
from tests.fifth_mechanism import queries


def install(app: FastAPI, site: Site) -> None:
    def person_card(person: str, now: int) -> Markup | None:
        found, _ = try_read(queries.tallies_of, site.store, person)
        if not found or not found["tallies"]:
            return None
        rows = "".join(f"<li>{escape(n)}: {t}</li>" for n, t in sorted(found["tallies"].items()))
        return Markup(f'<div class="card" id="tallies"><h2>Tallies</h2><ul>{rows}</ul></div>')

    site.person_cards.append(person_card)
