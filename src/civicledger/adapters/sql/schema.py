"""The tables: the journal (the truth) and the projections rebuilt from it.

Amounts are 64-bit integers (BigInteger); the domain refuses amounts above 2**63 - 1 before they
reach the database. Record keys use the "C" collation on PostgreSQL so that they sort by code
point there as in SQLite and in memory.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

Key = Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")

journal = Table(
    "journal",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("command_id", Key, nullable=False, unique=True),
    Column("command_type", Text, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("root", Text, nullable=False),
    Column("head_signature", Text, nullable=False),
    Column("payload_digest", Text, nullable=False),
)

# The hashes of the journal's perfect Merkle subtrees of level >= 1 (level 0, the leaf hashes, is
# journal.leaf_hash): each written in the transaction that completes it and never changed, so the
# C2SP tiles are range reads and a proof reads O(log n) rows (X2).
merkle_subtrees = Table(
    "merkle_subtrees",
    metadata,
    Column("level", Integer, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    PrimaryKeyConstraint("level", "idx"),
)

journal_head = Table(
    "journal_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("frontier", Text, nullable=False),
    Column("time", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Key, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("public_key", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("roles", Text, nullable=False),
    Column("parent", Key, nullable=True),
)

currencies = Table(
    "currencies",
    metadata,
    Column("id", Key, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("issuer", Key, nullable=False),
    Column("rule", Text, nullable=False),
    Column("decimals", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("issued", BigInteger, nullable=False),
    Column("burned", BigInteger, nullable=False),
)

balances = Table(
    "balances",
    metadata,
    Column("account", Key, nullable=False),
    Column("currency", Key, nullable=False),
    Column("units", BigInteger, nullable=False),
    PrimaryKeyConstraint("account", "currency"),
    CheckConstraint("units > 0", name="positive"),
)
Index("ix_balances_currency", balances.c.currency, balances.c.account)

records = Table(
    "records",
    metadata,
    Column("ns", Key, nullable=False),
    Column("key", Key, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("ns", "key"),
)

PROJECTION_TABLES = (accounts, currencies, balances, records)

request_nonces = Table(
    "request_nonces",
    metadata,
    Column("account", Key, nullable=False),
    Column("nonce", Key, nullable=False),
    Column("seen_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("account", "nonce"),
)
Index("ix_request_nonces_seen_at", request_nonces.c.seen_at)

personal_data = Table(
    "personal_data",
    metadata,
    Column("ref", Key, nullable=False),
    Column("subject", Key, nullable=False),
    Column("salt", Text, nullable=False),
    Column("text", Text, nullable=False),
    PrimaryKeyConstraint("ref"),
)
"""Personal data kept off the journal (IN11): not a projection, never rebuilt, in every backup."""
Index("ix_personal_data_subject", personal_data.c.subject)

proposals = Table(
    "proposals",
    metadata,
    Column("id", Key, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("body", Text, nullable=False),
    PrimaryKeyConstraint("id"),
)
"""Council drafts collecting co-signatures (kernel/proposals.py): off the journal, not a projection."""
Index("ix_proposals_created_at", proposals.c.created_at)
