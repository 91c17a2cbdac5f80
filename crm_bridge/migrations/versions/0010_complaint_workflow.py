"""The complaint workflow: the complaints table grows the workflow's fields, and every step
goes into complaint_steps.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Existing rows keep their coarse ``status`` (what the screen pop and the IVR read); their
``stage`` is derived from it (open -> registered, in_progress -> accepted, closed -> closed),
``stage_at`` is their ``opened_at`` and they have no deadline (they were never given one).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
STAGES = ("registered", "accepted", "assigned", "analysed", "remedy_proposed", "carried_out",
          "feedback_collected", "closed")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("stage", sa.String(24), server_default="registered",
                                   nullable=False))
        batch.add_column(sa.Column("severity", sa.String(8), server_default="normal",
                                   nullable=False))
        batch.add_column(sa.Column("request", sa.Text(), nullable=True))
        batch.add_column(sa.Column("details", sa.Text(), nullable=True))
        batch.add_column(sa.Column("registered_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("agent", sa.String(64), nullable=True))
        batch.add_column(sa.Column("call_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("duplicate_of", ID, nullable=True))
        batch.add_column(sa.Column("department", sa.String(64), nullable=True))
        batch.add_column(sa.Column("cause", sa.Text(), nullable=True))
        batch.add_column(sa.Column("responsible", sa.String(200), nullable=True))
        batch.add_column(sa.Column("remedy", sa.String(16), nullable=True))
        batch.add_column(sa.Column("remedy_amount", sa.Numeric(12, 2), nullable=True))
        batch.add_column(sa.Column("feedback_rating", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("feedback_source", sa.String(8), nullable=True))
        batch.add_column(sa.Column("resolution", sa.String(16), nullable=True))
        batch.add_column(sa.Column("resolution_summary", sa.Text(), nullable=True))
        batch.add_column(sa.Column("escalation_level", sa.SmallInteger(), server_default="0",
                                   nullable=False))
        batch.add_column(sa.Column("stage_at", TS, nullable=True))
        batch.add_column(sa.Column("deadline_at", TS, nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1",
                                   nullable=False))
        batch.create_foreign_key("fk_complaints_duplicate_of_complaints", "complaints",
                                 ["duplicate_of"], ["id"], ondelete="SET NULL")
        batch.create_check_constraint("ck_complaints_stage", _in("stage", STAGES))
        batch.create_check_constraint(
            "ck_complaints_severity", _in("severity", ("low", "normal", "high", "critical")))
        batch.create_check_constraint(
            "ck_complaints_remedy", "remedy IS NULL OR " + _in(
                "remedy", ("return", "exchange", "repair", "discount", "compensation")))
        batch.create_check_constraint(
            "ck_complaints_resolution",
            "resolution IS NULL OR " + _in("resolution", ("resolved", "misunderstanding")))
        batch.create_check_constraint(
            "ck_complaints_feedback_rating",
            "feedback_rating IS NULL OR feedback_rating BETWEEN 1 AND 5")
        batch.create_index("ix_complaints_customer_id_category_opened_at",
                           ["customer_id", "category", "opened_at"])
        batch.create_index("ix_complaints_department_stage", ["department", "stage"])
        batch.create_index("ix_complaints_deadline_at", ["deadline_at"])
        batch.create_index("ix_complaints_call_id", ["call_id"])
        batch.create_index("ix_complaints_duplicate_of", ["duplicate_of"])
    op.execute("UPDATE complaints SET stage = CASE status WHEN 'closed' THEN 'closed' "
               "WHEN 'in_progress' THEN 'accepted' ELSE 'registered' END, "
               "stage_at = opened_at")
    op.create_table(
        "complaint_steps",
        sa.Column("id", ID, nullable=False),
        sa.Column("complaint_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("from_stage", sa.String(24), nullable=True),
        sa.Column("to_stage", sa.String(24), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"],
                                name="fk_complaint_steps_complaint_id_complaints",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_steps"),
        sa.UniqueConstraint("complaint_id", "seq", name="uq_complaint_steps_complaint_id_seq"),
    )


def downgrade() -> None:
    op.drop_table("complaint_steps")
    with op.batch_alter_table("complaints") as batch:
        for index in ("ix_complaints_duplicate_of", "ix_complaints_call_id",
                      "ix_complaints_deadline_at", "ix_complaints_department_stage",
                      "ix_complaints_customer_id_category_opened_at"):
            batch.drop_index(index)
        for check in ("feedback_rating", "resolution", "remedy", "severity", "stage"):
            batch.drop_constraint(f"ck_complaints_{check}", type_="check")
        batch.drop_constraint("fk_complaints_duplicate_of_complaints", type_="foreignkey")
        for column in ("version", "deadline_at", "stage_at", "escalation_level",
                       "resolution_summary", "resolution", "feedback_source", "feedback_rating",
                       "remedy_amount", "remedy", "responsible", "cause", "department",
                       "duplicate_of", "call_id", "agent", "details", "registered_by",
                       "request", "severity", "stage"):
            batch.drop_column(column)
