"""The ACD's configuration as data: queues, agents, their skills and levels, pause reasons.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Written by ``crm_bridge.acd_config`` (REST ``/api/config/...``, ``callcenter queue|agent|
pause-reason ...``, ``callcenter acd seed``); read by ``callcenter serve`` at start, which runs
these definitions instead of the settings' when any row exists. Names are the primary keys
(what the dialplan's ``CC_QUEUE``, the PBX endpoints and the REST paths use). Skill levels are
1..10 (CHECK); a queue's or an agent's skills go with it (ON DELETE CASCADE). A queue's
overflow target has no foreign key on purpose (a seed may insert both in either order): the
store checks it on every change. New tables only: nothing else is touched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVEL_CHECK = "level BETWEEN 1 AND 10"
# CHECK names go through the metadata's naming convention (env.py): "level" becomes
# ck_acd_queue_skills_level, as in the models


def _updated_at() -> sa.Column[dt.datetime]:
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "acd_queues",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("service_level_s", sa.Float(), nullable=False),
        sa.Column("service_level_target", sa.Float(), nullable=False),
        sa.Column("max_wait_s", sa.Float(), nullable=True),
        sa.Column("overflow_queue", sa.String(64), nullable=True),
        sa.Column("overflow_after_s", sa.Float(), nullable=True),
        sa.Column("callback_after_s", sa.Float(), nullable=True),
        sa.Column("wrap_up_s", sa.Float(), nullable=True),
        sa.Column("ring_timeout_s", sa.Float(), nullable=True),
        sa.Column("music_class", sa.String(64), nullable=False),
        sa.Column("announce_every_s", sa.Float(), nullable=True),
        sa.Column("record", sa.Boolean(), nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("name", name="pk_acd_queues"),
    )
    op.create_table(
        "acd_queue_skills",
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(64), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint(LEVEL_CHECK, name="level"),
        sa.ForeignKeyConstraint(["queue"], ["acd_queues.name"], ondelete="CASCADE",
                                name="fk_acd_queue_skills_queue_acd_queues"),
        sa.PrimaryKeyConstraint("queue", "skill", name="pk_acd_queue_skills"),
    )
    op.create_table(
        "acd_agents",
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=True),
        sa.Column("logged_in", sa.Boolean(), nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("agent_id", name="pk_acd_agents"),
    )
    op.create_table(
        "acd_agent_skills",
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(64), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint(LEVEL_CHECK, name="level"),
        sa.ForeignKeyConstraint(["agent_id"], ["acd_agents.agent_id"], ondelete="CASCADE",
                                name="fk_acd_agent_skills_agent_id_acd_agents"),
        sa.PrimaryKeyConstraint("agent_id", "skill", name="pk_acd_agent_skills"),
    )
    op.create_table(
        "acd_pause_reasons",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("productive", sa.Boolean(), nullable=False),
        sa.Column("max_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_acd_pause_reasons"),
    )


def downgrade() -> None:
    for table in ("acd_pause_reasons", "acd_agent_skills", "acd_agents", "acd_queue_skills",
                  "acd_queues"):
        op.drop_table(table)
