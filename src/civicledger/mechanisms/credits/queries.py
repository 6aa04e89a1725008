"""Social credits reads: a person's credits and why (SC11), the grade distribution (SC4).

Read models for the HTTP API and the pages: plain JSON-ready values, one read unit of work each.
"""

from __future__ import annotations

from typing import Any

from civicledger.kernel.identity import parse_account_id
from civicledger.kernel.ports import Store
from civicledger.mechanisms.credits import handlers as scr


def person(store: Store, person: str, now: int) -> dict[str, Any]:

    who = parse_account_id(person)
    with store.read() as uow:
        return scr.explain(uow, who, max(now, uow.journal.head().time))


def grade_distribution(store: Store, now: int) -> dict[str, Any]:
    """Units per grade over every enrolled person (the overview chart), and the number of persons."""

    totals: dict[int, int] = {}
    persons = 0
    with store.read() as uow:
        at = max(now, uow.journal.head().time)
        for standing in scr.evaluate_all(uow, at):
            persons += 1
            for grade, units in standing.by_grade().items():
                totals[grade] = totals.get(grade, 0) + units
    return {"at": at, "persons": persons, "units_by_grade": {str(g): u for g, u in sorted(totals.items())}}
