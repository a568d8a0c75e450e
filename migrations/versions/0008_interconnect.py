"""Interconnected archives: peers this node trusts, transfer packages sent and received,
where each received dossier came from, and what was last sent to each peer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _text(name: str, length: int) -> sa.Column:
    kind = sa.Text() if length == 0 else sa.String(length)
    return sa.Column(name, kind, nullable=False, server_default="")


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        _text("organ_id", 13),
        _text("unit", 200),
        sa.Column("sign_key", sa.String(64), nullable=False),
        sa.Column("seal_key", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        _text("added_by", 100),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        _text("revoked_by", 100),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("peer_id", sa.Integer(), sa.ForeignKey("peers.id"), nullable=False, index=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False, index=True),
        _text("prev_digest", 128),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("records", sa.JSON(), nullable=False),
        _text("path", 0),
        _text("operator", 100),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("direction", "peer_id", "seq"),
    )
    op.create_table(
        "record_origins",
        sa.Column("record", sa.String(80), primary_key=True),
        sa.Column("dossier_id", sa.Integer(), sa.ForeignKey("dossiers.id"), nullable=False),
        sa.Column("origin_node", sa.String(100), nullable=False, index=True),
        sa.Column("origin_fingerprint", sa.String(64), nullable=False),
        _text("origin_unit", 200),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        _text("digest", 128),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), sa.ForeignKey("transfers.id"), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("dossier_id"),
    )
    op.create_index("ix_record_origins_origin_unit", "record_origins", ["origin_unit"])
    op.create_table(
        "sent_records",
        sa.Column("peer_id", sa.Integer(), sa.ForeignKey("peers.id"), primary_key=True),
        sa.Column("record", sa.String(80), primary_key=True),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("transfer_id", sa.Integer(), sa.ForeignKey("transfers.id"), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    for table in ("sent_records", "record_origins", "transfers", "peers"):
        op.drop_table(table)
