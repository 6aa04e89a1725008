"""Social credits on the web site: the grade distribution on the overview (SC4) and, on a person's
page, their credits and why, with a link to appeal each adjustment (SC6, SC11)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from civicledger.mechanisms.credits import queries
from civicledger.web import charts
from civicledger.web.i18n import _
from civicledger.web.site import Site, Term, try_read

GLOSSARY = [
    Term(
        "grade",
        "Grade",
        "The quality of a social credit, 0 to 5 (base 2): adjustments for participation raise it and "
        "infractions lower it, for a stated time and quantity; grades decide the quality of a service, "
        "never access. A person's grade is the grade most of their credits hold.",
        ("SC4", "SC10"),
    ),
    Term(
        "decay",
        "Decay",
        "Without qualifying participation in the last year, grades above base fall one step every 90 days.",
        ("SC8",),
    ),
    Term(
        "credits",
        "Available credits",
        "Credits accrue from birth at the annual allocation (1,000 a year by default); available = accrued - "
        "spent. Credits are counted, not money: they cannot be transferred.",
        ("SC2", "SC3"),
    ),
]
RULES = {
    "SC2": "Credits accrue from birth at the annual allocation; available = accrued - spent.",
    "SC3": "Credits are not tradable; they are spent only on services, and a spent credit is burned.",
    "SC4": "Every credit has a grade (0-5, base 2); adjustments raise or lower it for a stated duration.",
    "SC7": "Any verified person may appeal an award or reduction within the appeal window (90 days).",
    "SC8": "With no participation in the last 365 days, grades above base fall one step every 90 days.",
    "SC10": "Services have tiers with a credit price and a minimum grade; the base grade reaches every base tier.",
    "SC11": "Every allocation, adjustment, appeal and spend is public: a person can see why their grades are so.",
}


def install(app: FastAPI, site: Site) -> None:
    site.add_templates(Path(__file__).parent / "templates")
    site.glossary.extend(GLOSSARY)
    site.rules.update(RULES)

    @app.get("/explain/credits/grade/{person}", response_class=HTMLResponse, include_in_schema=False)
    def explain_grade(request: Request, person: str) -> HTMLResponse:
        """Why a person's grade is what it is, at the journal's time (SC4, SC8)."""
        found = try_read(queries.grade_explanation, site.store, person, site.now())
        return site.explanation(
            request,
            found,
            (f"/persons/{quote(person, safe='')}", "the person"),
            f"/api/credits/explain/grade/{quote(person, safe='')}",
        )

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
        grade, _error = try_read(queries.grade_explanation, site.store, person, now)
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
            grade=grade.result.value if grade else None,
        )

    site.overview_cards.append(overview_card)
    site.person_cards.append(person_card)
