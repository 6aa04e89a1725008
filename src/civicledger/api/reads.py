"""The kernel's read models, shared by the HTTP API and the web pages: the economy, accounts,
currencies and the journal with its proofs, as plain JSON-ready values from the store.

Each mechanism's reads live in its own ``queries`` module (``mechanisms/gears/queries.py`` ...).
Lists are paginated by a cursor (``kernel.paging``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired, TypedDict

from starlette.concurrency import run_in_threadpool

from civicledger.kernel import audit, payments, state
from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.errors import InvalidInputError, NotFoundError
from civicledger.kernel.identity import Account, AccountId, parse_account_id
from civicledger.kernel.ledger import Currency
from civicledger.kernel.money import CurrencyId
from civicledger.kernel.paging import Page, page
from civicledger.kernel.personal import ERASED, reveal
from civicledger.kernel.ports import Store, StoredEntry, UnitOfWork
from civicledger.kernel.tiles import TILE_WIDTH, TileRef, available, encode_bundle


class EconomyView(TypedDict):
    id: str
    name: str
    journal_key: str
    now: int
    entries: int
    tree_head: JSONObject | None


class AccountRow(TypedDict):
    id: str
    kind: str
    name: str
    public_key: str
    created_at: int
    verified: bool
    roles: list[str]
    parent: str | None
    balances: NotRequired[dict[str, int]]


class CurrencyRow(TypedDict):
    id: str
    issuer: str
    rule: str
    kind: str
    decimals: int
    issued: int
    burned: int
    supply: int
    name: str


class HolderRow(TypedDict):
    account: str
    units: int


class JournalPage(TypedDict):
    items: list[JSONObject]
    size: int
    next: int | None


def _account_row(uow: UnitOfWork, account: Account) -> AccountRow:
    return {
        "id": account.id,
        "kind": account.kind.value,
        "name": reveal(uow.personal, account.name),  # IN11: a person's name lives off the journal
        "public_key": account.public_key,
        "created_at": account.created_at,
        "verified": account.verified,
        "roles": sorted(account.roles),
        "parent": account.parent,
    }


# Economy and accounts ---------------------------------------------------------------------------


def economy(store: Store, now: int) -> EconomyView:
    with store.read() as uow:
        info = state.economy_info(uow)
        head = uow.journal.head()
        signed = uow.journal.latest_signed_head()
    if info is None:
        raise NotFoundError("this store holds no economy yet; create one with `civic init`", rule="X1")
    return {
        "id": info.id,
        "name": info.name,
        "journal_key": info.journal_key,
        "now": max(now, head.time),
        "entries": head.size,
        "tree_head": signed.to_wire() if signed else None,
    }


def accounts(store: Store, after: str | None, limit: int) -> Page[AccountRow]:
    with store.read() as uow:
        rows = sorted(((a.id, _account_row(uow, a)) for a in uow.accounts.scan()), key=lambda r: r[0])
    return page(rows, after, limit)


def account(store: Store, account_id: str, now: int | None = None) -> AccountRow:
    """An account and its balances at ``now`` (default: the journal head's time)."""
    who = parse_account_id(account_id)
    with store.read() as uow:
        found = state.require_account(uow, who)
        row = _account_row(uow, found)
        row["balances"] = {str(c): units for c, units in sorted(_worth(uow, who, now).items())}
    return row


def balances(store: Store, account_id: str, now: int | None = None) -> JSONObject:
    """An account's balances at ``now`` (default: the journal head's time)."""
    who = parse_account_id(account_id)
    with store.read() as uow:
        state.require_account(uow, who)
        held = _worth(uow, who, now)
    return {"account": who, "balances": {str(c): units for c, units in sorted(held.items())}}


def _worth(uow: UnitOfWork, who: AccountId, now: int | None) -> dict[CurrencyId, int]:
    """What the account holds, each holding at its worth at ``now`` (IN4: e.g. Circles v2 demurrage;
    a read, which writes nothing)."""
    at = max(now or 0, uow.journal.head().time)
    return payments.worth(uow, who, uow.ledger.holdings(who), at)


def currencies(store: Store, after: str | None, limit: int) -> Page[CurrencyRow]:
    with store.read() as uow:
        rows: list[tuple[str, CurrencyRow]] = sorted(
            (
                (
                    str(c.id),
                    {
                        "id": str(c.id),
                        "issuer": c.issuer,
                        "rule": c.rule.value,
                        "kind": c.kind.value,
                        "decimals": c.decimals,
                        "issued": c.issued,
                        "burned": c.burned,
                        "supply": c.supply,
                        "name": c.name,
                    },
                )
                for c in uow.ledger.currencies()
            ),
            key=lambda r: r[0],
        )
    return page(rows, after, limit)


def holders(store: Store, currency: str, after: str | None, limit: int) -> Page[HolderRow]:
    with store.read() as uow:
        state.require_currency(uow, CurrencyId(currency))
        held = uow.ledger.holders(CurrencyId(currency)).items()
        rows: list[tuple[str, HolderRow]] = sorted((str(a), {"account": a, "units": u}) for a, u in held)
    return page(rows, after, limit)


# Journal ----------------------------------------------------------------------------------------


NEWEST = 2**53
"""A ``before`` cursor past every entry: the newest page."""

MAX_SCAN = 2000
"""Entries one filtered journal page examines at most: a rare filter gives a short (even empty) page
whose ``next`` cursor says where to go on, so no request reads the whole journal."""


@dataclass(frozen=True)
class JournalFilter:
    """Which entries a journal page lists (all of them by default).

    ``accounts``: entries signed by one of them or naming one in the payload, events or result
    (``None``: any; an empty set: none, as for a name nobody has);
    ``command_type``: that type, or every type of a family when it ends in "." ("credits.");
    ``since``/``until``: entry times in whole seconds, both inclusive (X4)."""

    accounts: frozenset[str] | None = None
    command_type: str = ""
    since: int | None = None
    until: int | None = None

    def __bool__(self) -> bool:
        return bool(self.accounts is not None or self.command_type or self.since is not None or self.until is not None)

    def matches(self, entry: JSONObject) -> bool:
        command = entry["command"]
        assert isinstance(command, dict)
        kind = str(command["type"])
        if self.command_type and not (
            kind.startswith(self.command_type) if self.command_type.endswith(".") else kind == self.command_type
        ):
            return False
        time = entry["time"]
        assert isinstance(time, int)
        if (self.since is not None and time < self.since) or (self.until is not None and time > self.until):
            return False
        if self.accounts is not None:
            signatures = command.get("signatures")
            signers = (
                {str(s["account"]) for s in signatures or [] if isinstance(s, dict)}
                if isinstance(signatures, list)
                else set()
            )
            if not (signers & self.accounts or _names_any(command.get("payload"), self.accounts)):
                return _names_any(entry.get("events"), self.accounts) or _names_any(entry.get("result"), self.accounts)
        return True


def _names_any(value: object, accounts: frozenset[str]) -> bool:
    """Whether a JSON value holds one of ``accounts`` as a string anywhere inside it."""
    if isinstance(value, str):
        return value in accounts
    if isinstance(value, dict):
        return any(_names_any(v, accounts) for v in value.values())
    if isinstance(value, list):
        return any(_names_any(v, accounts) for v in value)
    return False


def journal_entries(
    store: Store,
    start: int,
    limit: int,
    *,
    before: int | None = None,
    where: JournalFilter | None = None,
) -> JournalPage:
    """One page of the journal with each entry's leaf hash and the tree head after it.

    Oldest first from ``start`` (``next`` is the next page's ``start``) or, with ``before``, newest
    first from the entry just before it (``next`` is the next page's ``before``). With a filter, at
    most ``MAX_SCAN`` entries are examined, so a page may be short while ``next`` is not ``None``."""
    where = where or JournalFilter()
    budget = MAX_SCAN if where else limit
    items: list[JSONObject] = []
    with store.read() as uow:
        size = uow.journal.head().size
        if before is None:
            position = start
            while len(items) < limit and position < size and budget > 0:
                stop = min(size, position + min(budget, 500))
                for s in uow.journal.scan(position, stop):
                    position = s.entry.seq + 1
                    budget -= 1
                    wire = s.entry.to_wire()
                    if where.matches(wire):
                        items.append(_journal_row(s, wire))
                        if len(items) == limit:
                            break
                else:
                    position = stop
            return {"items": items, "size": size, "next": position if position < size else None}
        position = min(before, size)  # the next entry to look at is position - 1
        while len(items) < limit and position > 0 and budget > 0:
            low = max(0, position - min(budget, 200))
            chunk = [(s, s.entry.to_wire()) for s in uow.journal.scan(low, position)]
            for s, wire in reversed(chunk):
                position -= 1
                budget -= 1
                if where.matches(wire):
                    items.append(_journal_row(s, wire))
                    if len(items) == limit:
                        break
    return {"items": items, "size": size, "next": position if position > 0 else None}


def _journal_row(s: StoredEntry, wire: JSONObject) -> JSONObject:
    """An entry as the API lists it: its wire form (what a filter reads), its leaf hash and the tree
    head after it (made only for the entries a page shows)."""
    return {**wire, "leaf_hash": s.leaf_hash.hex(), "tree_head": s.head.to_wire()}


def accounts_named(store: Store, text: str) -> frozenset[str]:
    """The accounts an explorer's search means: the id itself, or every account whose name is
    ``text`` (case does not matter; IN11: names live off the journal, so this reads the store)."""
    wanted = text.strip()
    try:
        return frozenset({parse_account_id(wanted)})
    except InvalidInputError:
        pass
    with store.read() as uow:
        return frozenset(
            a.id for a in uow.accounts.scan() if (reveal(uow.personal, a.name) or "").casefold() == wanted.casefold()
        )


MAX_HEADS = 4096
"""Entries a page of signed tree heads covers at most (``GET /api/tree-heads``)."""


def signed_heads(store: Store, start: int, limit: int) -> JSONObject:
    with store.read() as uow:
        heads = uow.journal.signed_heads(start, start + min(limit, MAX_HEADS))
    return {"start": start, "stop": start + min(limit, MAX_HEADS), "heads": [h.to_wire() for h in heads]}


def inclusion(store: Store, seq: int, size: int | None) -> JSONObject:
    return audit.inclusion(store, seq, size)


async def served_inclusion(store: Store, seq: int, size: int | None) -> JSONObject:
    """``GET /api/journal/{seq}``: a warm proof at once, on the event loop (about 0.02 ms, nothing
    read), so proofs are answered in the order they came; any other in a request thread, which
    reads the store (decision *Warm proofs on the event loop*)."""
    warm = audit.warm_inclusion(store, seq, size)
    if warm is not None:
        return warm
    return await run_in_threadpool(audit.inclusion, store, seq, size)


def consistency(store: Store, first: int, second: int | None) -> JSONObject:
    if second is not None and first > second:  # audit.consistency would fail with a bare ValueError
        raise InvalidInputError(
            f"a consistency proof goes from a smaller tree to a larger one, not {first} to {second}", rule="X2"
        )
    return audit.consistency(store, first, second)


def latest_head(store: Store) -> JSONObject:
    with store.read() as uow:
        head = uow.journal.latest_signed_head()
    if head is None:
        raise NotFoundError("the journal has no signed tree head yet", rule="X2")
    return head.to_wire()


def tile(store: Store, ref: TileRef) -> bytes:
    """A C2SP hash tile or entry bundle of the newest signed tree (X2): full tiles never change,
    a partial one is a prefix of the tile it grows into, so both may be served from any later tree."""
    with store.read() as uow:
        head = uow.journal.latest_signed_head()
        if head is None or not available(ref, head.size):
            raise NotFoundError(f"the signed tree has no {ref.path()}", rule="X2")
        start = ref.index * TILE_WIDTH
        if ref.level is None:
            bodies = uow.journal.leaf_bodies(start, start + ref.width)
        else:
            hashes = uow.journal.level_hashes(ref.tree_level, start, start + ref.width)
    if ref.level is None:
        return encode_bundle(bodies)
    return b"".join(hashes)


# The citizen's app: amounts as people read them, one account's history, finding an account --------


class Amount(TypedDict):
    """An exact amount and how a person reads it (X3): ``text`` is formatted from the integer by
    ``Currency.format``, so no page formats money from a float."""

    currency: str
    label: str
    units: int
    text: str
    decimals: int  # with ``symbol``, what a page needs to format ``units`` in its own language
    symbol: str


def _label(uow: UnitOfWork, currency: Currency) -> str:
    """A currency's name for people; a name holding a personal-data reference (a Circles personal
    currency is named after its owner) shows the owner's name as the API shows it (IN11)."""
    words = [reveal(uow.personal, w) if w.startswith("pd:") else w for w in currency.name.split(" ")]
    return " ".join(words)


def amount(uow: UnitOfWork, currency_id: str, units: int) -> Amount:
    """``units`` of a currency as an ``Amount``; an unknown currency reads as bare units."""
    found = uow.ledger.currency(CurrencyId(currency_id))
    if found is None:
        return {
            "currency": currency_id,
            "label": currency_id,
            "units": units,
            "text": f"{units:,}",
            "decimals": 0,
            "symbol": "",
        }
    return {
        "currency": currency_id,
        "label": _label(uow, found),
        "units": units,
        "text": found.format(units),
        "decimals": found.decimals,
        "symbol": found.symbol,
    }


def holdings(store: Store, account_id: str, now: int | None = None) -> list[Amount]:
    """What an account holds at ``now``, each holding formatted, largest first."""
    who = parse_account_id(account_id)
    with store.read() as uow:
        state.require_account(uow, who)
        held = _worth(uow, who, now)
        rows = [amount(uow, c, units) for c, units in held.items() if units]
    return sorted(rows, key=lambda r: (-r["units"], r["currency"]))


class HistoryRow(TypedDict):
    seq: int
    time: int
    type: str
    command: str
    signers: list[str]
    moves: list[Amount]
    """What the entry moved into (positive) or out of (negative) this account."""


class HistoryPage(TypedDict):
    account: str
    items: list[HistoryRow]
    next: int | None


def account_history(store: Store, account_id: str, before: int | None, limit: int) -> HistoryPage:
    """One account's entries, newest first (``next``: the next page's ``before``), each with what it
    moved into or out of the account. Reads through ``journal_entries``, so it shares the explorer's
    bound on the entries one page examines (``MAX_SCAN``)."""
    who = parse_account_id(account_id)
    with store.read() as uow:
        state.require_account(uow, who)
    data = journal_entries(
        store, 0, limit, before=NEWEST if before is None else before, where=JournalFilter(accounts=frozenset({who}))
    )
    rows: list[HistoryRow] = []
    with store.read() as uow:
        for entry in data["items"]:
            command = entry["command"]
            assert isinstance(command, dict)
            signatures = command.get("signatures")
            moves: dict[str, int] = {}
            events = entry.get("events")
            for event in events if isinstance(events, list) else []:
                if not isinstance(event, dict):
                    continue
                units = event.get("units")
                if not isinstance(units, int) or isinstance(units, bool):
                    continue
                currency = str(event.get("currency"))
                sign = 0
                if event.get("type") == "ledger.units_transferred":
                    sign = (event.get("target") == who) - (event.get("source") == who)
                elif event.get("type") == "ledger.units_issued" and event.get("account") == who:
                    sign = 1
                elif event.get("type") == "ledger.units_burned" and event.get("account") == who:
                    sign = -1
                if sign:
                    moves[currency] = moves.get(currency, 0) + sign * units
            rows.append(
                {
                    "seq": int(str(entry["seq"])),
                    "time": int(str(entry["time"])),
                    "type": str(command["type"]),
                    "command": str(command["id"]),
                    "signers": [str(s["account"]) for s in signatures if isinstance(s, dict)]
                    if isinstance(signatures, list)
                    else [],
                    "moves": [amount(uow, c, u) for c, u in sorted(moves.items()) if u],
                }
            )
    return {"account": who, "items": rows, "next": data["next"]}


class AccountHit(TypedDict):
    id: str
    kind: str
    name: str
    verified: bool
    roles: list[str]  # a registrar is found by name for an enrolment (SC1)


SEARCH_MIN = 2
"""Characters a name search needs at least, so a search cannot list every account a letter at a time
faster than ``GET /api/accounts`` already does."""


def search_accounts(store: Store, text: str, limit: int) -> list[AccountHit]:
    """Accounts whose id starts with ``text`` or whose name contains it (any case). Searches only
    what ``GET /api/accounts`` already shows: the name an account chose when it opened (IN11: a
    person's name is read from the off-journal store, never from the journal; an erased name is
    not found). docs/decisions/0014-citizen-app-keys.md."""
    wanted = text.strip().casefold()
    if len(wanted) < SEARCH_MIN:
        raise InvalidInputError(f"search for at least {SEARCH_MIN} characters of a name or an id", rule="IN11")
    hits: list[tuple[int, str, AccountHit]] = []
    with store.read() as uow:
        for a in uow.accounts.scan():
            name = reveal(uow.personal, a.name) or ""
            if name == ERASED:
                name = ""
            folded = name.casefold()
            if a.id.startswith(wanted) or wanted in folded:
                rank = 0 if folded == wanted else 1 if folded.startswith(wanted) else 2
                hit: AccountHit = {
                    "id": a.id,
                    "kind": a.kind.value,
                    "name": name,
                    "verified": a.verified,
                    "roles": sorted(a.roles),
                }
                hits.append((rank, folded or a.id, hit))
    return [h for _, _, h in sorted(hits, key=lambda h: (h[0], h[1]))[:limit]]
