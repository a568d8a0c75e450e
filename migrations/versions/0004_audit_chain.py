"""The audit log becomes tamper-evident: every row carries the hash of the row before it
(`prev_hash`) and its own (`hash`, over `prev_hash` and the row's fields), and the rows
already there are chained in id order, so `kho audit verify` checks them too.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kho.core.audit import GENESIS, WALK_PAGE, row_hash

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LOG = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("at", sa.DateTime()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("detail", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    conn = op.get_bind()
    prev, last = GENESIS, None
    while True:
        q = sa.select(LOG).order_by(LOG.c.id).limit(WALK_PAGE)
        if last is not None:
            q = q.where(LOG.c.id > last)
        rows = conn.execute(q).all()
        for r in rows:
            digest = row_hash(prev, r.at, r.actor, r.action, r.detail)
            conn.execute(sa.update(LOG).where(LOG.c.id == r.id).values(prev_hash=prev, hash=digest))
            prev, last = digest, r.id
        if len(rows) < WALK_PAGE:
            return


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
