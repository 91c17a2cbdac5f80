"""Interactions: ``end_inferred`` (ended while the server was not watching) and an index of the
open rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

After a crash or a PBX-link outage, the server closes the interactions of calls that ended
unseen at its next resync (``crm_bridge.interactions``); ``end_inferred`` says their
``ended_at`` is the resync time, not the moment the call ended. The partial index keeps that
scan to the open rows. Nullable, no default: older rows keep NULL (unknown).

SQLite: adding a nullable column is a plain ALTER TABLE (batch mode does not copy the table);
dropping it in ``downgrade`` uses SQLite's own ``DROP COLUMN`` (3.35+) rather than batch mode's
table copy, which would fire ``ON DELETE SET NULL`` on ``satisfaction_ratings`` with foreign keys
on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ROWS = sa.text("ended_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("end_inferred", sa.Boolean(), nullable=True))
    op.create_index("ix_interactions_open", "interactions", ["call_id"],
                    sqlite_where=OPEN_ROWS, postgresql_where=OPEN_ROWS)


def downgrade() -> None:
    op.drop_index("ix_interactions_open", table_name="interactions")
    with op.batch_alter_table("interactions", recreate="never") as batch:
        batch.drop_column("end_inferred")
