"""SIP passwords may be stored encrypted: room for the token.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

``sip_credentials.password`` held the password as given (at most 128 characters). With
``sip.storage_key`` set, ``crm_bridge.sip_credentials`` writes ``fernet:<token>`` instead,
which is longer than the password (a 128-character password makes a token of about 270): the
column grows to 512. Rows stay as they are; ``callcenter sip encrypt`` rewrites them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sip_credentials") as batch:
        batch.alter_column("password", existing_type=sa.String(128), type_=sa.String(512),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("sip_credentials") as batch:
        batch.alter_column("password", existing_type=sa.String(512), type_=sa.String(128),
                           existing_nullable=False)
