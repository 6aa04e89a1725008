"""Personal data kept off the journal (IN11): the journal carries only salted references to it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Key = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "personal_data",
        sa.Column("ref", Key, nullable=False),
        sa.Column("subject", Key, nullable=False),
        sa.Column("salt", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("ref", name="pk_personal_data"),
    )
    op.create_index("ix_personal_data_subject", "personal_data", ["subject"])


def downgrade() -> None:
    op.drop_table("personal_data")
