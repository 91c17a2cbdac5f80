"""Per-agent SIP credentials for the agent console's softphone.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

``sip_credentials``: agent id -> the SIP username and password of that agent's own endpoint on
Asterisk. Read only by ``GET /api/agents/{id}/sip`` for that agent's own session; written by
``callcenter sip set|generate|remove``. A new table only (after 0013, campaigns).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sip_credentials",
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name="pk_sip_credentials"),
    )


def downgrade() -> None:
    op.drop_table("sip_credentials")
