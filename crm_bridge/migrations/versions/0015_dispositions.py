"""Dispositions as data: what an agent files a call under at wrap-up.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05

``dispositions``: a code (the value stored in ``interactions.disposition``, the primary key),
its labels per language (JSON ``{"en": ..., "zh-CN": ...}``), a position (the order of the
console's list) and ``active`` (a disabled code is no longer offered nor accepted at wrap-up;
calls already filed under it keep it, and their history still shows its label). Seeded with the
console's former fixed list so an upgraded server offers exactly what it offered before.
Written by ``crm_bridge.dispositions`` (REST ``/api/dispositions``, ``callcenter disposition``).
A new table only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the console's list before this migration (agent_ui/console/strings.js), in its order
DEFAULTS = (
    ("resolved", "Resolved", "已解决"),
    ("follow_up", "Follow-up needed", "需跟进"),
    ("escalated", "Escalated", "已升级"),
    ("sale", "Sale", "成交"),
    ("complaint", "Complaint logged", "已登记投诉"),
    ("no_action", "No action needed", "无需处理"),
    ("wrong_number", "Wrong number", "打错电话"),
)


def upgrade() -> None:
    table = op.create_table(
        "dispositions",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_dispositions"),
    )
    # the migration's date, not the clock's: two databases migrated apart hold the same rows
    seeded = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    op.bulk_insert(table, [
        {"code": code, "labels": {"en": en, "zh-CN": zh}, "position": (i + 1) * 10,
         "active": True, "updated_at": seeded}
        for i, (code, en, zh) in enumerate(DEFAULTS)])


def downgrade() -> None:
    op.drop_table("dispositions")
