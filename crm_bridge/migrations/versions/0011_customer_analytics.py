"""Customer analytics: each customer's value tier, RFM scores and churn warning, and the
campaign of an outbound interaction.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

``customer_analytics`` holds what ``callcenter analytics refresh`` last computed
(``crm_bridge.analytics``): the value-pyramid tier (``vip`` / ``major`` / ``ordinary`` /
``small`` / ``none``) that the screen-pop card shows and routing priority follows, the RFM
scores and segment, and the churn flag with its reasons (JSON). One row per customer,
replaced as a whole at every refresh; a customer without a row is shown as tier ``none``.

``interactions.campaign``: the outbound campaign of a call (``CC_CAMPAIGN``), for campaign
results. Nullable: inbound calls and older rows have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "customer_analytics",
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("value_tier", sa.String(16), nullable=False),
        sa.Column("monetary", sa.Numeric(14, 2), nullable=False),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("r_score", sa.SmallInteger(), nullable=True),
        sa.Column("f_score", sa.SmallInteger(), nullable=True),
        sa.Column("m_score", sa.SmallInteger(), nullable=True),
        sa.Column("segment", sa.String(32), nullable=True),
        sa.Column("churn_risk", sa.Boolean(), nullable=False),
        sa.Column("churn_reasons", sa.Text(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "value_tier IN ('vip', 'major', 'ordinary', 'small', 'none')",
            name="ck_customer_analytics_value_tier"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name="fk_customer_analytics_customer_id_customers"),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customer_analytics"),
    )
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("campaign", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactions", recreate="never") as batch:
        batch.drop_column("campaign")
    op.drop_table("customer_analytics")
