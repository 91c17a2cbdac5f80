"""Initial CRM schema: customers, phones, orders, interactions, ratings, tags, complaints.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written out in full (types frozen here, not imported from ``crm_bridge.models``) so later model
changes never rewrite history; a test checks that models and migrations agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", ID, nullable=False)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "customers",
        _id(),
        sa.Column("customer_code", sa.String(32), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("company", sa.String(200), nullable=True),
        sa.Column("title", sa.String(100), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("region", sa.String(100), nullable=True),
        sa.Column("industry", sa.String(100), nullable=True),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("consent", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("do_not_call", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("customer_code", name="uq_customers_customer_code"),
    )
    op.create_index("ix_customers_name", "customers", ["name"])

    op.create_table(
        "tags",
        _id(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tags"),
        sa.UniqueConstraint("name", name="uq_tags_name"),
    )

    op.create_table(
        "customer_tags",
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("tag_id", ID, nullable=False),
        _fk("customer_tags", "customer_id", "customers", "CASCADE"),
        _fk("customer_tags", "tag_id", "tags", "CASCADE"),
        sa.PrimaryKeyConstraint("customer_id", "tag_id", name="pk_customer_tags"),
    )
    op.create_index("ix_customer_tags_tag_id", "customer_tags", ["tag_id"])

    op.create_table(
        "phones",
        _id(),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("e164", sa.String(20), nullable=False),
        sa.Column("raw", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.CheckConstraint(
            "kind IN ('mobile', 'work', 'home', 'other')", name="ck_phones_kind"
        ),
        _fk("phones", "customer_id", "customers", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_phones"),
        sa.UniqueConstraint("customer_id", "e164", name="uq_phones_customer_id_e164"),
    )
    op.create_index("ix_phones_e164", "phones", ["e164"])

    op.create_table(
        "orders",
        _id(),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("product", sa.String(200), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), server_default="USD", nullable=False),
        sa.Column("ordered_at", TS, nullable=False),
        _fk("orders", "customer_id", "customers", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
    )
    op.create_index("ix_orders_customer_id_ordered_at", "orders", ["customer_id", "ordered_at"])
    op.create_index("ix_orders_ordered_at", "orders", ["ordered_at"])

    op.create_table(
        "interactions",
        _id(),
        sa.Column("customer_id", ID, nullable=True),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("caller_number", sa.String(64), nullable=True),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("ivr_path", sa.String(255), nullable=True),
        sa.Column("disposition", sa.String(64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("hangup_cause", sa.String(64), nullable=True),
        sa.Column("recording_ref", sa.String(255), nullable=True),
        sa.CheckConstraint(
            "direction IN ('inbound', 'outbound')", name="ck_interactions_direction"
        ),
        _fk("interactions", "customer_id", "customers", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_interactions"),
        sa.UniqueConstraint("call_id", name="uq_interactions_call_id"),
    )
    op.create_index(
        "ix_interactions_customer_id_started_at", "interactions", ["customer_id", "started_at"]
    )

    op.create_table(
        "satisfaction_ratings",
        _id(),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("interaction_id", ID, nullable=True),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_at", TS, nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_satisfaction_ratings_score"),
        _fk("satisfaction_ratings", "customer_id", "customers", "CASCADE"),
        _fk("satisfaction_ratings", "interaction_id", "interactions", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_satisfaction_ratings"),
    )
    op.create_index(
        "ix_satisfaction_ratings_customer_id", "satisfaction_ratings", ["customer_id"]
    )
    op.create_index(
        "ix_satisfaction_ratings_interaction_id", "satisfaction_ratings", ["interaction_id"]
    )

    op.create_table(
        "complaints",
        _id(),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("status", sa.String(16), server_default="open", nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'in_progress', 'closed')", name="ck_complaints_status"
        ),
        _fk("complaints", "customer_id", "customers", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_complaints"),
    )
    op.create_index("ix_complaints_customer_id_status", "complaints", ["customer_id", "status"])


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes on both backends.
    for table in (
        "complaints",
        "satisfaction_ratings",
        "interactions",
        "orders",
        "phones",
        "customer_tags",
        "tags",
        "customers",
    ):
        op.drop_table(table)
