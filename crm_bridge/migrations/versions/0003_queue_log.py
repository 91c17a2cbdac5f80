"""The queue-event log: one row per step of a caller in a queue (like app_queue's queue_log).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10

Written by ``crm_bridge.queue_log`` from the ACD's ``queue.*`` events; every queue figure
(``crm_bridge.queue_figures``) is recomputed from it for any interval. Indexes: ``(queue, at)``
for one queue over a time range, ``at`` for every queue over one, ``call_id`` for one call's
path. Append-only, so nothing here touches the other tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KINDS = ("enter", "requeue", "offer", "answer", "not_connected", "abandon", "overflow",
         "transfer")


def upgrade() -> None:
    op.create_table(
        "queue_log",
        sa.Column("id", ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("wait_s", sa.Float(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("waiting", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(255), nullable=True),
        sa.CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")",
                           name="ck_queue_log_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_queue_log"),
    )
    op.create_index("ix_queue_log_queue_at", "queue_log", ["queue", "at"])
    op.create_index("ix_queue_log_at", "queue_log", ["at"])
    op.create_index("ix_queue_log_call_id", "queue_log", ["call_id"])


def downgrade() -> None:
    op.drop_table("queue_log")  # its indexes go with it on both backends
