"""A canonical dump of every projection, so two stores can be compared byte for byte.

``rebuild`` and ``verify`` use it to show that replaying the journal gives exactly the stored state
(X2). Rows are sorted in Python, so the dump does not depend on a database's collation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from civicledger.kernel.canonical import canonical_bytes
from civicledger.kernel.messages import to_wire
from civicledger.kernel.ports import UnitOfWork


def state_lines(uow: UnitOfWork, namespaces: list[str]) -> Iterator[bytes]:
    for account in sorted(uow.accounts.scan(), key=lambda a: a.id):
        yield canonical_bytes(["account", to_wire(account)])
    for currency in sorted(uow.ledger.currencies(), key=lambda c: c.id):
        yield canonical_bytes(["currency", to_wire(currency)])
    for account_id, currency_id, units in sorted(uow.ledger.scan_balances()):
        yield canonical_bytes(["balance", account_id, currency_id, units])
    for ns in sorted(namespaces):
        for key, value in sorted(uow.records.scan(ns)):
            yield canonical_bytes(["record", ns, key, value])


def state_digest(uow: UnitOfWork, namespaces: list[str]) -> str:
    h = hashlib.sha256()
    for line in state_lines(uow, namespaces):
        h.update(line)
        h.update(b"\n")
    return h.hexdigest()
