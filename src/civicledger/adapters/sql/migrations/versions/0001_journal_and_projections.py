"""The journal, its head, and the first projections: accounts, currencies, balances, records.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Key = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("command_id", Key, nullable=False),
        sa.Column("command_type", sa.Text, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("root", sa.Text, nullable=False),
        sa.Column("head_signature", sa.Text, nullable=False),
        sa.Column("payload_digest", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_journal"),
        sa.UniqueConstraint("command_id", name="uq_journal_command_id"),
    )
    head = op.create_table(
        "journal_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("frontier", sa.Text, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_journal_head"),
        sa.CheckConstraint("id = 1", name="ck_journal_head_single_row"),
    )
    op.bulk_insert(head, [{"id": 1, "size": 0, "frontier": "[]", "time": 0}])
    op.create_table(
        "accounts",
        sa.Column("id", Key, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("parent", Key, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )
    op.create_table(
        "currencies",
        sa.Column("id", Key, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("issuer", Key, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("decimals", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("issued", sa.BigInteger, nullable=False),
        sa.Column("burned", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_currencies"),
    )
    op.create_table(
        "balances",
        sa.Column("account", Key, nullable=False),
        sa.Column("currency", Key, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account", "currency", name="pk_balances"),
        sa.CheckConstraint("units > 0", name="ck_balances_positive"),
    )
    op.create_index("ix_balances_currency", "balances", ["currency", "account"])
    op.create_table(
        "records",
        sa.Column("ns", Key, nullable=False),
        sa.Column("key", Key, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("ns", "key", name="pk_records"),
    )


def downgrade() -> None:
    for table in ("records", "balances", "currencies", "accounts", "journal_head", "journal"):
        op.drop_table(table)
