"""Outbound campaigns as data (issue 13): campaigns, their leads, do-not-call numbers, the dial
audit, per-day abandonment figures; interactions learn their campaign and the line's outcome.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-04

New tables, a nullable ``interactions.outcome`` and an index on ``interactions.campaign``
(the column itself came with 0011); no rewrite of existing rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_campaigns"),
    )
    op.create_table(
        "campaign_leads",
        sa.Column("id", Id, nullable=False),
        sa.Column("campaign", sa.String(64), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("customer_id", Id, nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("callback_at", When, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", When, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("last_outcome", sa.String(32), nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(["campaign"], ["campaigns.name"], ondelete="CASCADE",
                                name="fk_campaign_leads_campaign_campaigns"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL",
                                name="fk_campaign_leads_customer_id_customers"),
        sa.PrimaryKeyConstraint("id", name="pk_campaign_leads"),
        sa.UniqueConstraint("campaign", "lead_id", name="uq_campaign_leads_campaign_lead_id"),
    )
    op.create_index("ix_campaign_leads_campaign_status", "campaign_leads",
                    ["campaign", "status"])
    op.create_table(
        "dnc_numbers",
        sa.Column("id", Id, nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("campaign", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(255), nullable=True),
        sa.Column("added_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dnc_numbers"),
        sa.UniqueConstraint("number", "campaign", name="uq_dnc_numbers_number_campaign"),
    )
    op.create_index("ix_dnc_numbers_number", "dnc_numbers", ["number"])
    op.create_table(
        "dial_decisions",
        sa.Column("id", Id, nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("campaign", sa.String(64), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("zones", sa.Text(), nullable=True),
        sa.Column("local_times", sa.Text(), nullable=True),
        sa.Column("retry_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dial_decisions"),
    )
    op.create_index("ix_dial_decisions_campaign_at", "dial_decisions", ["campaign", "at"])
    op.create_index("ix_dial_decisions_number", "dial_decisions", ["number"])
    op.create_table(
        "campaign_days",
        sa.Column("campaign", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("dropped", sa.Integer(), nullable=False),
        sa.Column("notsure", sa.Integer(), nullable=False),
        sa.Column("notsure_message", sa.Integer(), nullable=False),
        sa.Column("machines", sa.Integer(), nullable=False),
        sa.Column("false_positives", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign", "day", name="pk_campaign_days"),
    )
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("outcome", sa.String(32), nullable=True))
    op.create_index("ix_interactions_campaign", "interactions", ["campaign"])


def downgrade() -> None:
    op.drop_index("ix_interactions_campaign", table_name="interactions")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("outcome")
    op.drop_table("campaign_days")
    op.drop_index("ix_dial_decisions_number", table_name="dial_decisions")
    op.drop_index("ix_dial_decisions_campaign_at", table_name="dial_decisions")
    op.drop_table("dial_decisions")
    op.drop_index("ix_dnc_numbers_number", table_name="dnc_numbers")
    op.drop_table("dnc_numbers")
    op.drop_index("ix_campaign_leads_campaign_status", table_name="campaign_leads")
    op.drop_table("campaign_leads")
    op.drop_table("campaigns")
