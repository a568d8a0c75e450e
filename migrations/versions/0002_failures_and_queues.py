"""Failures an operator can act on, and the indexes that keep listing them fast.

Pages and documents get `failed_at` (set while failing, retrying or for good) and
`retry_at` (the next attempt); an audit log records retries and purges by hand; indexes
serve `kho failed list` (newest first) and the pages-per-minute rate of `kho status`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("documents", "pages"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("failed_at", sa.DateTime(), nullable=True))
            batch.add_column(sa.Column("retry_at", sa.DateTime(), nullable=True))
        op.create_index(f"ix_{table}_failed_at", table, ["failed_at"])
    op.create_index("ix_pages_status_updated", "pages", ["status", "updated_at"])
    op.create_index("ix_batch_files_status_created", "batch_files", ["status", "created_at"])
    # failures recorded before this revision: give them a time so they are listed
    op.execute("UPDATE pages SET failed_at = updated_at WHERE status = 'failed'")
    op.execute(
        "UPDATE documents SET failed_at = updated_at WHERE status = 'failed' AND page_count > 0"
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("ix_batch_files_status_created", "batch_files")
    op.drop_index("ix_pages_status_updated", "pages")
    for table in ("pages", "documents"):
        op.drop_index(f"ix_{table}_failed_at", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("retry_at")
            batch.drop_column("failed_at")
