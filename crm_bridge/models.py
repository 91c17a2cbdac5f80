"""The CRM schema as SQLAlchemy 2 declarative models (the migrations in ``migrations/versions``
create exactly this; ``tests/integration/test_crm_db.py`` compares the two).

Choices that matter:

- **Phones are their own table**, stored as E.164 (``crm_bridge.phones.normalise``) with the raw
  text kept beside it, and ``e164`` indexed but *not* unique: a family line or an office
  switchboard belongs to several customers, and a screen pop must then offer a pick list.
- **Enumerations are strings with CHECK constraints**, not database enum types: adding a value
  later is a one-line migration on SQLite and PostgreSQL alike.
- **Every timestamp is UTC and timezone-aware in Python** (:class:`UtcDateTime`): SQLite keeps no
  offset, PostgreSQL does; the type makes both return aware UTC datetimes so code never mixes
  naive and aware values.
- **Money is ``Numeric(12, 2)``** and leaves the database as :class:`decimal.Decimal`.
- Relationships are ``lazy="raise"``: under asyncio an implicit lazy load is an error anyway, so
  queries say what they load (``selectinload``) and a forgotten one fails loudly in tests.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

PHONE_KINDS = ("mobile", "work", "home", "other")
DIRECTIONS = ("inbound", "outbound")
COMPLAINT_STATUSES = ("open", "in_progress", "closed")
OPEN_COMPLAINT_STATUSES = ("open", "in_progress")
CUSTOMER_CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,31}")
"""What a customer code may be: letters, digits, ``_`` and ``-``, at most 32 characters (what
callers key into the IVR is digits only; imported codes may be richer)."""
QUEUE_LOG_KINDS = ("enter", "requeue", "offer", "answer", "not_connected", "abandon",
                   "overflow", "transfer")
"""What a ``queue_log`` row records (see :class:`QueueLogRow`)."""
OPEN_ROWS = "ended_at IS NULL"
"""An interaction whose call has not ended (as far as the server knows)."""

# BIGINT on PostgreSQL (interactions and orders grow without bound); INTEGER on SQLite, where only
# "INTEGER PRIMARY KEY" is the auto-incrementing rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that accepts only aware datetimes and returns aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: CRM timestamps must carry a timezone")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC without an offset
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


customer_tags = Table(
    "customer_tags",
    Base.metadata,
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", Id, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "tag_id"),
)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # What callers key into the IVR; unique, but optional (imported customers may have none).
    customer_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    company: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    address: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(String(100))
    industry: Mapped[str | None] = mapped_column(String(100))
    birthday: Mapped[dt.date | None] = mapped_column(Date)
    consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    phones: Mapped[list[Phone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="raise",
        order_by="Phone.id",
    )
    tags: Mapped[list[Tag]] = relationship(
        secondary=customer_tags, lazy="raise", order_by="Tag.name"
    )

    def __repr__(self) -> str:
        return f"Customer(id={self.id!r}, code={self.customer_code!r}, name={self.name!r})"


class Phone(Base):
    __tablename__ = "phones"
    __table_args__ = (
        UniqueConstraint("customer_id", "e164"),
        CheckConstraint(_in("kind", PHONE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # No index of its own: uq_phones_customer_id_e164 leads with customer_id.
    customer_id: Mapped[int] = mapped_column(Id, ForeignKey("customers.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20), index=True)  # not unique: shared lines exist
    raw: Mapped[str] = mapped_column(String(64))  # as entered, for display and audits
    kind: Mapped[str] = mapped_column(String(8), default="other")

    customer: Mapped[Customer] = relationship(back_populates="phones", lazy="raise")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index(None, "customer_id", "ordered_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Id, ForeignKey("customers.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    ordered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class Interaction(Base):
    """One contact (call) with its times and outcome; written by the server, not the browser."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index(None, "customer_id", "started_at"),
        # the open rows only (live calls, a handful): what a resync scans to close the calls
        # that ended while the server was not watching, however long the history grows
        Index("ix_interactions_open", "call_id", sqlite_where=text(OPEN_ROWS),
              postgresql_where=text(OPEN_ROWS)),
        CheckConstraint(_in("direction", DIRECTIONS), name="direction"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("customers.id", ondelete="SET NULL")
    )
    call_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # Asterisk linkedid
    direction: Mapped[str] = mapped_column(String(8))
    caller_number: Mapped[str | None] = mapped_column(String(64))  # E.164 when it parsed
    queue: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(String(64))
    ivr_path: Mapped[str | None] = mapped_column(String(255))
    disposition: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    hangup_cause: Mapped[str | None] = mapped_column(String(64))
    recording_ref: Mapped[str | None] = mapped_column(String(255))
    #: how ``ended_at`` was learnt: False seen (``call.ended``), True inferred (the call ended
    #: while the server was down or its PBX link was: the time is that of the next resync),
    #: NULL while the call is open (and on rows written before migration 0002)
    end_inferred: Mapped[bool | None] = mapped_column(Boolean)
    #: the agent's talk: from the agent's leg answering (the first agent's, if the call was
    #: offered more than once) to its hang-up (the last agent's); NULL if no agent talked
    talk_started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    talk_ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    #: an outbound campaign's call: the campaign and the line's outcome (connected, dropped,
    #: notsure_message, machine, busy, no_answer, cancelled, cancel_answered, failed)
    campaign: Mapped[str | None] = mapped_column(String(64), index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))


class QueueLogRow(Base):
    """One step of one caller in one queue, like app_queue's ``queue_log``: the source every
    queue figure and report is recomputed from (``crm_bridge.queue_log``, ``queue_figures``).

    Append-only and written by the server from the ACD's ``queue.*`` events. ``kind``:
    ``enter`` (joined the line), ``requeue`` (back at its place after a ring-no-answer or a
    ring that could not be sent), ``offer`` (an agent's phone rings: ``agent``, ``wait_s``,
    ``detail`` = why that agent), ``answer`` (bridged: ``agent``, ``wait_s``),
    ``not_connected`` (``detail`` = the ring's result, e.g. ``not_answered``), ``abandon``
    (``wait_s``, ``detail`` = stage: waiting, ringing, parked); ``overflow`` (also offered
    to another queue's agents: ``detail`` = that queue), ``transfer`` (left for another queue
    or the dialplan's ``queue-timeout``: ``detail`` = ``reason -> where``, the reason
    ``max_wait`` or ``transfer``). ``wait_s`` counts from the caller's
    first entry (kept across requeues); ``priority`` is the caller's at its entry, carried
    onto its later rows so per-class reports need no join; ``waiting`` is the line's length
    after an entry.
    """

    __tablename__ = "queue_log"
    __table_args__ = (
        Index(None, "queue", "at"),  # a queue's figures over a time range
        Index(None, "at"),  # every queue's figures over a time range
        Index(None, "call_id"),  # one call's path through the queues
        CheckConstraint(_in("kind", QUEUE_LOG_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    queue: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(64))  # Asterisk linkedid: the interaction's key
    channel_id: Mapped[str] = mapped_column(String(64))  # the caller's channel (Uniqueid)
    kind: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(64))
    wait_s: Mapped[float | None] = mapped_column(Float)
    priority: Mapped[int | None] = mapped_column(Integer)
    waiting: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(255))


class SatisfactionRating(Base):
    __tablename__ = "satisfaction_ratings"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        Id, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    interaction_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("interactions.id", ondelete="SET NULL"), index=True
    )
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


VALUE_TIERS = ("vip", "major", "ordinary", "small", "none")
"""Value-pyramid tiers (``crm_bridge.analytics.customers``), highest first."""


class CustomerAnalyticsRow(Base):
    """What ``callcenter analytics refresh`` last computed for one customer
    (``crm_bridge.analytics.store``): the value-pyramid tier the card shows and routing
    follows, RFM scores and segment, the churn warning with its reasons (JSON list of
    ``{"code", "text"}``). Replaced as a whole at every refresh."""

    __tablename__ = "customer_analytics"
    __table_args__ = (CheckConstraint(_in("value_tier", VALUE_TIERS), name="value_tier"),)

    customer_id: Mapped[int] = mapped_column(
        Id, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    value_tier: Mapped[str] = mapped_column(String(16))
    #: order total and count over the analytics window (365 days by default)
    monetary: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    frequency: Mapped[int] = mapped_column(Integer)
    last_order_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    r_score: Mapped[int | None] = mapped_column(SmallInteger)
    f_score: Mapped[int | None] = mapped_column(SmallInteger)
    m_score: Mapped[int | None] = mapped_column(SmallInteger)
    segment: Mapped[str | None] = mapped_column(String(32))
    churn_risk: Mapped[bool] = mapped_column(Boolean)
    churn_reasons: Mapped[str | None] = mapped_column(Text)
    computed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


COMPLAINT_STAGES = ("registered", "accepted", "assigned", "analysed", "remedy_proposed",
                    "carried_out", "feedback_collected", "closed")
"""The workflow's stages (``callcenter.complaints.workflow.Stage``)."""
COMPLAINT_SEVERITIES = ("low", "normal", "high", "critical")
COMPLAINT_REMEDIES = ("return", "exchange", "repair", "discount", "compensation")
COMPLAINT_RESOLUTIONS = ("resolved", "misunderstanding")


def complaint_status(stage: str) -> str:
    """The coarse ``status`` the screen pop and the IVR read, from the workflow's stage."""
    if stage == "closed":
        return "closed"
    return "open" if stage == "registered" else "in_progress"


class Complaint(Base):
    """A customer's complaint and where it is in the workflow (migration 0010).

    ``stage`` is the workflow's state (:mod:`callcenter.complaints.workflow`); ``status``
    stays the coarse open / in_progress / closed that the screen pop's open complaints and
    the IVR's complaint-status node read, kept in step with ``stage`` by every write
    (:func:`complaint_status`). ``summary`` is the object of the complaint (what the card
    shows); ``resolution_summary`` the evaluation's summary or the answer given on dismissal.
    ``call_id`` links the call (the interaction, with its IVR path and recording);
    ``duplicate_of`` the original of a repeated complaint. ``version`` guards concurrent
    steps (two people, or two server processes' deadline checkers, on one complaint).
    """

    __tablename__ = "complaints"
    __table_args__ = (
        Index(None, "customer_id", "status"),
        Index(None, "customer_id", "category", "opened_at"),  # duplicate detection
        Index(None, "department", "stage"),  # the work queues
        Index(None, "deadline_at"),  # the deadline checker: open rows past their deadline
        CheckConstraint(_in("status", COMPLAINT_STATUSES), name="status"),
        CheckConstraint(_in("stage", COMPLAINT_STAGES), name="stage"),
        CheckConstraint(_in("severity", COMPLAINT_SEVERITIES), name="severity"),
        CheckConstraint(f"remedy IS NULL OR {_in('remedy', COMPLAINT_REMEDIES)}",
                        name="remedy"),
        CheckConstraint(f"resolution IS NULL OR {_in('resolution', COMPLAINT_RESOLUTIONS)}",
                        name="resolution"),
        CheckConstraint("feedback_rating IS NULL OR feedback_rating BETWEEN 1 AND 5",
                        name="feedback_rating"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Id, ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    category: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # --- the workflow (migration 0010) ---
    stage: Mapped[str] = mapped_column(String(24), default="registered",
                                       server_default="registered")
    severity: Mapped[str] = mapped_column(String(8), default="normal", server_default="normal")
    request: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str | None] = mapped_column(Text)
    registered_by: Mapped[str | None] = mapped_column(String(64))
    #: the agent (agent id) of the call the complaint was taken on
    agent: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(64), index=True)
    duplicate_of: Mapped[int | None] = mapped_column(
        Id, ForeignKey("complaints.id", ondelete="SET NULL"), index=True)
    department: Mapped[str | None] = mapped_column(String(64))
    cause: Mapped[str | None] = mapped_column(Text)
    responsible: Mapped[str | None] = mapped_column(String(200))
    remedy: Mapped[str | None] = mapped_column(String(16))
    remedy_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    feedback_rating: Mapped[int | None] = mapped_column(SmallInteger)
    feedback_source: Mapped[str | None] = mapped_column(String(8))
    resolution: Mapped[str | None] = mapped_column(String(16))
    resolution_summary: Mapped[str | None] = mapped_column(Text)
    escalation_level: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    stage_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class ComplaintStepRow(Base):
    """One step of one complaint's history: who (``actor``), when, what (``kind``: register,
    an action, escalate), from which stage to which, the text and what it set (``data``,
    a JSON object of strings). Append-only."""

    __tablename__ = "complaint_steps"
    __table_args__ = (UniqueConstraint("complaint_id", "seq"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(
        Id, ForeignKey("complaints.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    from_stage: Mapped[str | None] = mapped_column(String(24))
    to_stage: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[str] = mapped_column(Text, default="{}")


# --- the ACD's configuration as data (issue 10): queues, agents, skills, pause reasons ---------
# Rows mirror ``callcenter.acd.definitions`` field for field; ``crm_bridge.acd_config`` reads
# and writes them and checks every change as a whole (overflow targets exist, levels 1..10)
# before it is committed. Names are the keys: they are what the dialplan (``CC_QUEUE``), the
# PBX endpoints and the REST paths use, so a surrogate id would only add a join.

LEVEL_CHECK = "level BETWEEN 1 AND 10"


class AcdQueueRow(Base):
    """One inbound queue (``QueueDefinition``); times in seconds, NULL: not used."""

    __tablename__ = "acd_queues"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32))
    service_level_s: Mapped[float] = mapped_column(Float)
    service_level_target: Mapped[float] = mapped_column(Float)
    max_wait_s: Mapped[float | None] = mapped_column(Float)
    # no foreign key: a seed inserts a queue and its overflow target in one transaction in any
    # order; acd_config refuses a missing target and the deletion of a queue still named here
    overflow_queue: Mapped[str | None] = mapped_column(String(64))
    overflow_after_s: Mapped[float | None] = mapped_column(Float)
    callback_after_s: Mapped[float | None] = mapped_column(Float)
    wrap_up_s: Mapped[float | None] = mapped_column(Float)
    ring_timeout_s: Mapped[float | None] = mapped_column(Float)
    music_class: Mapped[str] = mapped_column(String(64))
    announce_every_s: Mapped[float | None] = mapped_column(Float)
    record: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow,
                                                    onupdate=utcnow)


class AcdQueueSkillRow(Base):
    """A skill a queue requires, at a minimum level."""

    __tablename__ = "acd_queue_skills"
    __table_args__ = (CheckConstraint(LEVEL_CHECK, name="level"),)

    queue: Mapped[str] = mapped_column(
        String(64), ForeignKey("acd_queues.name", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger)


class AcdAgentRow(Base):
    """One agent (``AgentDefinition``); ``endpoint`` NULL: the center's template."""

    __tablename__ = "acd_agents"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str | None] = mapped_column(String(128))
    logged_in: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow,
                                                    onupdate=utcnow)


class AcdAgentSkillRow(Base):
    """A skill an agent has, at a level (1..10)."""

    __tablename__ = "acd_agent_skills"
    __table_args__ = (CheckConstraint(LEVEL_CHECK, name="level"),)

    agent_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("acd_agents.agent_id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger)


class PauseReasonRow(Base):
    """A reason an agent may pause with (``PauseReason``)."""

    __tablename__ = "acd_pause_reasons"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    productive: Mapped[bool] = mapped_column(Boolean)
    max_s: Mapped[float | None] = mapped_column(Float)


class IdempotencyKeyRow(Base):
    """The first answer to a REST request sent with an ``Idempotency-Key`` (per principal),
    so a retry after a restart or on another server process gets the same answer
    (``callcenter.web.idempotency.DatabaseResults``; Redis keeps them when configured)."""

    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: SHA-256 of the request body: the same key with another body is refused
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(SmallInteger)
    #: the response body, JSON
    body: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class AcdCallbackRow(Base):
    """A callback still to make (:class:`callcenter.acd.callbacks.Callback`): the caller's
    place in line (``arrived``, epoch seconds, and ``priority``) kept after it hung up."""

    __tablename__ = "acd_callbacks"
    __table_args__ = (CheckConstraint("attempts >= 0", name="attempts"),)

    callback_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), index=True)
    call_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(64))
    arrived: Mapped[float] = mapped_column(Float)
    priority: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)


class UserRow(Base):
    """A person who signs in (``callcenter.accounts.User``): agent, supervisor or admin.

    ``password_hash`` is scrypt's self-describing string; the password itself is never stored.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ("agent", "supervisor", "admin")), name="role"),
    )

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow,
                                                    onupdate=utcnow)


class SipCredentialRow(Base):
    """An agent's own SIP account on Asterisk, handed only to that agent's console session
    (``GET /api/agents/{id}/sip``). Server-side only: never in a page, a log or another
    agent's answer. Written by ``callcenter sip set|generate``."""

    __tablename__ = "sip_credentials"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    password: Mapped[str] = mapped_column(String(512))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow,
                                                    onupdate=utcnow)


class DispositionRow(Base):
    """A code an agent files a call under at wrap-up (``interactions.disposition``), its
    labels per language (``{"en": ..., "zh-CN": ...}``), its place in the console's list and
    whether it is still offered (migration 0015; ``crm_bridge.dispositions``)."""

    __tablename__ = "dispositions"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow,
                                                    onupdate=utcnow)


class AuditRow(Base):
    """One supervisor or admin action (listen, whisper, barge, force-logout, a configuration or
    account change): who, what, on whom, when. Written in the same request as the action."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)


class CampaignRow(Base):
    """An outbound campaign: its document (``callcenter.dialer.campaign.CampaignDefinition``
    as JSON) and its state (ready, running, paused, stopped, finished)."""

    __tablename__ = "campaigns"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="ready")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow,
                                                    onupdate=utcnow)


class CampaignLeadRow(Base):
    """One lead of a campaign (imported from a list) and where it stands."""

    __tablename__ = "campaign_leads"
    __table_args__ = (
        UniqueConstraint("campaign", "lead_id"),
        Index(None, "campaign", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    campaign: Mapped[str] = mapped_column(
        String(64), ForeignKey("campaigns.name", ondelete="CASCADE"))
    lead_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("customers.id", ondelete="SET NULL"))
    name: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    value: Mapped[float] = mapped_column(Float, default=0.0)
    consent: Mapped[bool] = mapped_column(Boolean, default=True)
    callback_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    #: new, waiting, dialing, done
    status: Mapped[str] = mapped_column(String(16), default="new")
    result: Mapped[str | None] = mapped_column(String(32))
    last_outcome: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow,
                                                    onupdate=utcnow)


class DncNumberRow(Base):
    """A do-not-call number: for every campaign (``campaign`` NULL) or for one."""

    __tablename__ = "dnc_numbers"
    __table_args__ = (UniqueConstraint("number", "campaign"), Index(None, "number"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    campaign: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(255))
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DialDecisionRow(Base):
    """The dial audit: every answer of the compliance gate (``dial.decision`` events), with
    its reason, the callee's zones and local times. Append-only."""

    __tablename__ = "dial_decisions"
    __table_args__ = (Index(None, "campaign", "at"), Index(None, "number"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    campaign: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(32))
    zones: Mapped[str | None] = mapped_column(Text)
    local_times: Mapped[str | None] = mapped_column(Text)
    retry_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class CampaignDayRow(Base):
    """A campaign's abandonment figures for one day (its own time zone): what the 30-day and
    daily limits are computed from, kept across restarts."""

    __tablename__ = "campaign_days"

    campaign: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[int] = mapped_column(Integer, default=0)
    notsure: Mapped[int] = mapped_column(Integer, default=0)
    notsure_message: Mapped[int] = mapped_column(Integer, default=0)
    machines: Mapped[int] = mapped_column(Integer, default=0)
    false_positives: Mapped[int] = mapped_column(Integer, default=0)
