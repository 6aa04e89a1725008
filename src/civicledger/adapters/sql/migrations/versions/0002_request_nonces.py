"""Request nonces of the HTTP API: transport state kept outside the journal.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Key = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "request_nonces",
        sa.Column("account", Key, nullable=False),
        sa.Column("nonce", Key, nullable=False),
        sa.Column("seen_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account", "nonce", name="pk_request_nonces"),
    )
    op.create_index("ix_request_nonces_seen_at", "request_nonces", ["seen_at"])


def downgrade() -> None:
    op.drop_table("request_nonces")
