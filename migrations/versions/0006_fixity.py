"""Fixity records: the SHA-256 and size of every stored file of a document, as written.

`kho verify` re-hashes the storage root against them; backup sets use them to refuse
copying a file that changed behind kho's back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fixity",
        sa.Column("path", sa.String(500), primary_key=True),
        sa.Column("doc_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_fixity_doc_id", "fixity", ["doc_id"])


def downgrade() -> None:
    op.drop_table("fixity")
