"""The journal's perfect Merkle subtrees (C2SP tiles, X2), backfilled from the leaf hashes.

A journal written before this revision gets every subtree hash here, computed from its leaf
hashes in order, in the migration's transaction; afterwards each append stores the subtrees it
completes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from civicledger.kernel.merkle import Frontier, completed_subtrees

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BATCH = 10_000


def upgrade() -> None:
    table = op.create_table(
        "merkle_subtrees",
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_merkle_subtrees"),
    )
    conn = op.get_bind()
    journal = sa.table("journal", sa.column("seq", sa.BigInteger), sa.column("leaf_hash", sa.LargeBinary))
    frontier = Frontier()
    position = 0
    while True:
        rows = conn.execute(
            sa.select(journal.c.seq, journal.c.leaf_hash)
            .where(journal.c.seq >= position)
            .order_by(journal.c.seq)
            .limit(_BATCH)
        ).all()
        out: list[dict[str, object]] = []
        for row in rows:
            leaf = bytes(row.leaf_hash)
            out += ({"level": lv, "idx": i, "hash": h} for lv, i, h in completed_subtrees(frontier, leaf))
            frontier = frontier.append(leaf)
        if out:
            conn.execute(table.insert(), out)
        if len(rows) < _BATCH:
            return
        position = int(rows[-1].seq) + 1


def downgrade() -> None:
    op.drop_table("merkle_subtrees")
