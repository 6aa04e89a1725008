"""Social credits on the web site: the grade distribution on the overview (SC4) and, on a person's
page, their credits and why, with a link to appeal each adjustment (SC6, SC11)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from markupsafe import Markup

from civicledger.mechanisms.credits import queries
from civicledger.web import charts
from civicledger.web.i18n import _
from civicledger.web.site import Site, try_read


def install(app: FastAPI, site: Site) -> None:
    site.add_templates(Path(__file__).parent / "templates")

    def overview_card(now: int) -> Markup:
        grades, grades_error = try_read(queries.grade_distribution, site.store, now)
        grade_chart = None
        if grades:
            grade_chart = Markup(
                charts.bar_chart(
                    [(_("grade %(grade)s", grade=g), u) for g, u in grades["units_by_grade"].items()],
                    _("credits per grade"),
                )
            )
        return site.card(
            "credits/overview_card.html", grades=grades, grades_error=grades_error, grade_chart=grade_chart
        )

    def person_card(person: str, now: int) -> Markup:
        credits, credits_error = try_read(queries.person, site.store, person, now)
        grade_chart = None
        if credits:
            grade_chart = Markup(
                charts.bar_chart(
                    [(_("grade %(grade)s", grade=g), u) for g, u in credits["by_grade"].items()],
                    _("this person's credits per grade"),
                )
            )
        return site.card(
            "credits/person_card.html",
            person=person,
            credits=credits,
            credits_error=credits_error,
            grade_chart=grade_chart,
        )

    site.overview_cards.append(overview_card)
    site.person_cards.append(person_card)
