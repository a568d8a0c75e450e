"""The archive hierarchy: fonds and dossiers, and the Annex VI fields of documents.

A document may belong to one dossier (`dossier_id`), at a place in it (`doc_ordinal`);
its header fields become typed columns, filled from the page as proposals until a person
confirms them (`confirmed` lists those). Existing documents belong to no dossier.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TEXTS = {  # document columns: name -> length (0: Text)
    "type_name": 100, "code_number": 11, "code_notation": 30, "organ_name": 200,
    "subject": 500, "language": 100, "signer_position": 100, "signer_name": 100,
    "urgency": 20, "recipients": 0, "description": 0,
}  # fmt: skip
DOSSIER_TEXTS = {
    "organ_id": 13, "title": 500, "maintenance": 20, "rights": 50, "creator": 200,
    "language": 100, "description": 0, "keyword": 500, "access_mode": 50,
    "physical_state": 100, "info_sign": 30, "reliability": 50, "paper_code": 50,
    "backup_mode": 50, "backup_state": 50, "unit": 200,
}  # fmt: skip


def _text(name: str, length: int) -> sa.Column:
    kind = sa.Text() if length == 0 else sa.String(length)
    return sa.Column(name, kind, nullable=False, server_default="")


def upgrade() -> None:
    op.create_table(
        "fonds",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(13), nullable=False, unique=True),
        _text("name", 500),
        _text("organ_id", 13),
        sa.Column("status", sa.String(10), nullable=False, server_default="mở"),
        _text("history", 0),
        _text("scheme", 0),
        _text("language", 100),
        _text("notes", 0),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "dossiers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("fonds_id", sa.Integer(), sa.ForeignKey("fonds.id"), nullable=False),
        sa.Column("file_catalog", sa.Integer(), nullable=True),
        sa.Column("file_notation", sa.String(20), nullable=False),
        *(_text(n, length) for n, length in DOSSIER_TEXTS.items()),
        sa.Column("sheet_total", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("groups", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("fonds_id", "file_notation"),
    )
    op.create_index("ix_dossiers_fonds_id", "dossiers", ["fonds_id"])
    # plain ADD COLUMNs: SQLite keeps the table (and the pages that refer to it)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE documents ADD COLUMN dossier_id INTEGER REFERENCES dossiers (id)")
    else:
        op.add_column(
            "documents",
            sa.Column("dossier_id", sa.Integer(), sa.ForeignKey("dossiers.id"), nullable=True),
        )
    for name, length in TEXTS.items():
        op.add_column("documents", _text(name, length))
    for name, kind in (("doc_ordinal", sa.Integer()), ("page_amount", sa.Integer()),
                       ("issued_date", sa.Date()), ("declassify_date", sa.Date())):  # fmt: skip
        op.add_column("documents", sa.Column(name, kind, nullable=True))
    op.add_column(
        "documents", sa.Column("confirmed", sa.JSON(), nullable=False, server_default="[]")
    )
    op.add_column(
        "documents",
        sa.Column("access_inherited", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_documents_dossier_id", "documents", ["dossier_id"])
    op.create_index("ix_documents_issued_date", "documents", ["issued_date"])


def downgrade() -> None:
    op.drop_index("ix_documents_issued_date", "documents")
    op.drop_index("ix_documents_dossier_id", "documents")
    with op.batch_alter_table("documents") as batch:
        for name in (
            "dossier_id", "doc_ordinal", *TEXTS, "issued_date", "page_amount",
            "declassify_date", "confirmed", "access_inherited",
        ):  # fmt: skip
            batch.drop_column(name)
    op.drop_table("dossiers")
    op.drop_table("fonds")
