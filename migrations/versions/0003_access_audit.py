"""The audit log also records reads: searches, documents opened, pages and files fetched,
and refusals. Indexes serve `kho audit --actor` and `--action`, newest first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_action_at", "audit_log")
    op.drop_index("ix_audit_log_actor_at", "audit_log")
