"""The journal explorer's search: what a reader typed in its form, as a journal filter and as the
URL of ``GET /api/journal`` that holds the same page (every page links its JSON; docs/web.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from civicledger.api import reads
from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.ports import Store
from civicledger.kernel.time import DAY, parse_instant
from civicledger.web.i18n import _

PAGE = 50
"""Entries on one page of the explorer."""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ExplorerQuery:
    """The explorer's form: an account (id or name), a command type or family ("credits."), and the
    first and last day (UTC, inclusive) of the entries to list; a bad date is named in ``error``."""

    account: str = ""
    command_type: str = ""
    since_day: str = ""
    until_day: str = ""
    since: int | None = None
    until: int | None = None
    error: str = ""

    @classmethod
    def of(cls, account: str, command_type: str, since_day: str, until_day: str) -> ExplorerQuery:
        errors = []
        bounds: list[int | None] = []
        for label, day, offset in ((_("from"), since_day, 0), (_("to"), until_day, DAY - 1)):
            day = day.strip()
            if not day:
                bounds.append(None)
                continue
            try:
                if not _DATE.match(day):
                    raise InvalidInputError(f"{day!r} is not a date", rule="X4")
                bounds.append(parse_instant(day) + offset)  # X4: the day's first and last second
            except InvalidInputError:
                errors.append(_('"%(field)s" must be a date such as 2027-02-26, not %(day)r', field=label, day=day))
                bounds.append(None)
        return cls(
            account=account.strip()[:200],
            command_type=command_type.strip()[:100],
            since_day=since_day.strip() if bounds[0] is not None else "",
            until_day=until_day.strip() if bounds[1] is not None else "",
            since=bounds[0],
            until=bounds[1],
            error="; ".join(errors),
        )

    def where(self, store: Store) -> reads.JournalFilter:
        return reads.JournalFilter(
            accounts=reads.accounts_named(store, self.account) if self.account else None,
            command_type=self.command_type,
            since=self.since,
            until=self.until,
        )

    def _params(self) -> list[tuple[str, str]]:
        return [
            (k, v)
            for k, v in (
                ("account", self.account),
                ("type", self.command_type),
                ("since", self.since_day),
                ("until", self.until_day),
            )
            if v
        ]

    def links(self) -> str:
        """The filter as a query string to append to the explorer's paging links ("" or "&...")."""
        params = self._params()
        return "&" + urlencode(params) if params else ""

    def api_url(self, order: str, start: int | None = None, before: int | None = None) -> str:
        """The ``GET /api/journal`` URL holding the same entries as this page."""
        params: list[tuple[str, str | int]] = [("order", order), ("limit", PAGE)]
        if start is not None:
            params.append(("start", start))
        if before is not None:
            params.append(("before", before))
        if self.account:
            params.append(("account", self.account))
        if self.command_type:
            params.append(("type", self.command_type))
        if self.since is not None:
            params.append(("since", self.since))
        if self.until is not None:
            params.append(("until", self.until))
        return "/api/journal?" + urlencode(params)
