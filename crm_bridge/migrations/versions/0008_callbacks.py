"""Pending callbacks: callers who asked to be called back, at their place in line.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

One row per callback still to make (``crm_bridge.callbacks``): the caller's original channel
(its key in the line), queue, call, number to dial, first arrival (epoch seconds: the place in
line) and priority, and the dials already made. A row is deleted once the customer is connected
or given up on; a restarted server offers the rest again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acd_callbacks",
        sa.Column("callback_id", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("arrived", sa.Float(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
        sa.PrimaryKeyConstraint("callback_id", name="pk_acd_callbacks"),
    )
    op.create_index("ix_acd_callbacks_queue", "acd_callbacks", ["queue"])


def downgrade() -> None:
    op.drop_index("ix_acd_callbacks_queue", table_name="acd_callbacks")
    op.drop_table("acd_callbacks")
