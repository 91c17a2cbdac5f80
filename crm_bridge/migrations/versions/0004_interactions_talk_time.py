"""Interactions: the agent's talk time (``talk_started_at``, ``talk_ended_at``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

The caller's and the agent's legs are one call, so one interaction (issue 10): its
``answered_at`` is when the PBX answered the caller (before the IVR and the wait), which says
nothing of the conversation. The talk runs from the agent's leg answering to its hang-up,
written by ``crm_bridge.interactions`` from the call's events. Nullable, no default: a call no
agent talked on (and every older row) keeps NULL.

SQLite: adding nullable columns is a plain ALTER TABLE; ``downgrade`` uses SQLite's own
``DROP COLUMN`` (3.35+), as 0002 does, rather than batch mode's table copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("talk_started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("talk_ended_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactions", recreate="never") as batch:
        batch.drop_column("talk_ended_at")
        batch.drop_column("talk_started_at")
