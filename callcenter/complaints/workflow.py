"""The complaint workflow as a pure state machine: every step a customer's complaint goes
through, who took it, when and why — no I/O, the time always given (the caller's clock).

The eight steps (docs/COMPLAINTS.md)::

    registered --accept--> accepted --assign--> assigned --analyse--> analysed
        |                                  ^  (reassign)                 |
        +--dismiss (a misunderstanding, answered) --> closed         propose_remedy
                                                                         v
    closed <--evaluate-- feedback_collected <--collect_feedback-- carried_out <--carry_out--
                                                                  remedy_proposed (revise)

- ``register`` records the complainant (customer), the time, the object of the complaint and
  the customer's request; the deadline of the first step follows from the severity.
- ``accept`` takes it up; ``dismiss`` answers it and closes it as a misunderstanding.
- ``assign`` names the responsible department: the one given, else the category's by the
  configured rules (:class:`WorkflowPolicy.departments`), else the default department.
- ``analyse`` records the cause and the responsible person.
- ``propose_remedy``: return, exchange, repair, discount or compensation, with an amount
  (required for discount and compensation); may be revised before it is carried out.
- ``carry_out``: the remedy was carried out; the effect :class:`NotifyCustomer` asks the
  adapter to tell the customer (an outbound callback task, optionally an e-mail).
- ``collect_feedback``: the customer's rating 1-5 (from the IVR survey or entered by an agent).
- ``evaluate``: evaluation and summary; the complaint is closed as resolved.

Every step is a :class:`Step` (actor, time, text, what it changed). A step not allowed in the
complaint's stage raises :class:`IllegalTransition` naming the stage and what may come next;
a step whose data is wrong raises :class:`InvalidStep`. Neither changes anything.

Deadlines: each open stage must be left within the severity's allowance
(:attr:`WorkflowPolicy.step_allowance_s`); :func:`escalate_if_overdue` raises the escalation
level of an overdue complaint by one (a ``escalate`` step by ``system``) and gives it a new
deadline one allowance later, so a complaint still stuck is escalated again.

Duplicates: :func:`find_original` — the same customer and category registered within
:attr:`WorkflowPolicy.duplicate_window_s` before — links a new complaint to the original.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum


class Stage(StrEnum):
    REGISTERED = "registered"
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"
    ANALYSED = "analysed"
    REMEDY_PROPOSED = "remedy_proposed"
    CARRIED_OUT = "carried_out"
    FEEDBACK_COLLECTED = "feedback_collected"
    CLOSED = "closed"


class Severity(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


class Remedy(StrEnum):
    RETURN = "return"
    EXCHANGE = "exchange"
    REPAIR = "repair"
    DISCOUNT = "discount"
    COMPENSATION = "compensation"


class Resolution(StrEnum):
    RESOLVED = "resolved"
    MISUNDERSTANDING = "misunderstanding"


class FeedbackSource(StrEnum):
    IVR = "ivr"
    AGENT = "agent"


#: remedies that mean nothing without an amount (money, or a percentage for a discount)
AMOUNT_REQUIRED = frozenset({Remedy.DISCOUNT, Remedy.COMPENSATION})

#: the actor of steps the server takes by itself (escalations)
SYSTEM = "system"

MAX_TEXT = 4000
MAX_AMOUNT = Decimal("9999999999.99")


class ComplaintError(ValueError):
    """A step that cannot be taken; nothing was changed."""


@dataclass(frozen=True)
class IllegalTransition(ComplaintError):
    """``action`` is not a step of a complaint in ``stage``; ``allowed`` are."""

    action: str
    stage: Stage
    allowed: tuple[str, ...]

    def __str__(self) -> str:
        after = ", ".join(self.allowed) if self.allowed else "none (the complaint is closed)"
        return (f"cannot {self.action} a complaint that is {self.stage.value}: "
                f"the next steps are {after}")


class InvalidStep(ComplaintError):
    """The step's data is wrong (an amount missing, a rating out of range, an empty text)."""


# --- the actions (what a person asks for) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accept:
    text: str = ""
    kind: str = "accept"


@dataclass(frozen=True, slots=True)
class Dismiss:
    """Answered and closed as a misunderstanding: ``text`` is the answer given."""

    text: str
    kind: str = "dismiss"


@dataclass(frozen=True, slots=True)
class Assign:
    """``department`` None: the category's by the rules."""

    department: str | None = None
    text: str = ""
    kind: str = "assign"


@dataclass(frozen=True, slots=True)
class Analyse:
    cause: str
    responsible: str
    text: str = ""
    kind: str = "analyse"


@dataclass(frozen=True, slots=True)
class ProposeRemedy:
    remedy: Remedy
    amount: Decimal | None = None
    text: str = ""
    kind: str = "propose_remedy"


@dataclass(frozen=True, slots=True)
class CarryOut:
    text: str = ""
    kind: str = "carry_out"


@dataclass(frozen=True, slots=True)
class CollectFeedback:
    rating: int
    source: FeedbackSource = FeedbackSource.AGENT
    text: str = ""
    kind: str = "collect_feedback"


@dataclass(frozen=True, slots=True)
class Evaluate:
    """Evaluation and summary: ``text`` is the summary."""

    text: str
    kind: str = "evaluate"


Action = (Accept | Dismiss | Assign | Analyse | ProposeRemedy | CarryOut | CollectFeedback
          | Evaluate)

#: which action may be taken in which stage, and where it leads (the way forward first)
TRANSITIONS: Mapping[Stage, Mapping[str, Stage]] = {
    Stage.REGISTERED: {"accept": Stage.ACCEPTED, "dismiss": Stage.CLOSED},
    Stage.ACCEPTED: {"assign": Stage.ASSIGNED},
    Stage.ASSIGNED: {"analyse": Stage.ANALYSED, "assign": Stage.ASSIGNED},
    Stage.ANALYSED: {"propose_remedy": Stage.REMEDY_PROPOSED},
    Stage.REMEDY_PROPOSED: {"carry_out": Stage.CARRIED_OUT,
                            "propose_remedy": Stage.REMEDY_PROPOSED},
    Stage.CARRIED_OUT: {"collect_feedback": Stage.FEEDBACK_COLLECTED},
    Stage.FEEDBACK_COLLECTED: {"evaluate": Stage.CLOSED},
    Stage.CLOSED: {},
}
ACTIONS = ("accept", "dismiss", "assign", "analyse", "propose_remedy", "carry_out",
           "collect_feedback", "evaluate")


def next_actions(stage: Stage) -> tuple[str, ...]:
    return tuple(TRANSITIONS[stage])


# --- policy ----------------------------------------------------------------------------------


DEFAULT_ALLOWANCE_S: Mapping[Severity, float] = {
    Severity.CRITICAL: 2 * 3600.0, Severity.HIGH: 8 * 3600.0,
    Severity.NORMAL: 24 * 3600.0, Severity.LOW: 72 * 3600.0,
}
DEFAULT_DEPARTMENTS: Mapping[str, str] = {
    "shipping": "logistics", "delivery": "logistics", "quality": "quality_control",
    "product": "quality_control", "billing": "finance", "service": "customer_service",
}


@dataclass(frozen=True, slots=True)
class WorkflowPolicy:
    """What a center configures: category -> department rules, the default department, the
    time each step may take per severity, how far back duplicates are looked for, and the
    highest escalation level."""

    departments: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_DEPARTMENTS))
    default_department: str = "customer_service"
    step_allowance_s: Mapping[Severity, float] = field(
        default_factory=lambda: dict(DEFAULT_ALLOWANCE_S))
    duplicate_window_s: float = 30 * 86400.0
    max_escalation: int = 3

    def __post_init__(self) -> None:
        missing = [s.value for s in Severity if s not in self.step_allowance_s]
        if missing:
            raise ValueError(f"no step allowance for severity {', '.join(missing)}")
        if any(v <= 0 for v in self.step_allowance_s.values()):
            raise ValueError("step allowances must be positive")
        if self.duplicate_window_s < 0 or self.max_escalation < 0:
            raise ValueError("duplicate window and max escalation must not be negative")

    def department_for(self, category: str) -> str:
        return self.departments.get(category, self.default_department)

    def categories(self) -> list[str]:
        return sorted(set(self.departments) | {"other"})

    def all_departments(self) -> list[str]:
        return sorted(set(self.departments.values()) | {self.default_department})

    def deadline(self, severity: Severity, since: dt.datetime) -> dt.datetime:
        return since + dt.timedelta(seconds=self.step_allowance_s[severity])


# --- the complaint and its steps --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One recorded step: ``kind`` an action (or ``register``, ``escalate``), ``data`` what it
    set (strings, for the history)."""

    kind: str
    actor: str
    at: dt.datetime
    text: str
    from_stage: Stage | None
    to_stage: Stage
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Complaint:
    customer_id: int
    category: str
    object: str
    request: str
    severity: Severity
    registered_at: dt.datetime
    registered_by: str
    stage: Stage
    #: when the current stage was entered, and when it must be left
    stage_at: dt.datetime
    deadline: dt.datetime | None
    details: str = ""
    id: int | None = None
    duplicate_of: int | None = None
    department: str | None = None
    cause: str | None = None
    responsible: str | None = None
    remedy: Remedy | None = None
    remedy_amount: Decimal | None = None
    feedback_rating: int | None = None
    feedback_source: FeedbackSource | None = None
    resolution: Resolution | None = None
    summary: str | None = None
    escalation_level: int = 0
    closed_at: dt.datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.stage is not Stage.CLOSED

    def overdue(self, now: dt.datetime) -> bool:
        return self.is_open and self.deadline is not None and now >= self.deadline


@dataclass(frozen=True, slots=True)
class NotifyCustomer:
    """Effect of ``carry_out``: tell the customer what was done (callback task, e-mail)."""

    customer_id: int
    message: str


@dataclass(frozen=True, slots=True)
class Escalated:
    """Effect of an escalation: tell the wallboard and the webhook."""

    level: int
    department: str | None
    overdue_stage: Stage
    deadline_was: dt.datetime


Effect = NotifyCustomer | Escalated


@dataclass(frozen=True, slots=True)
class Outcome:
    complaint: Complaint
    step: Step
    effects: tuple[Effect, ...] = ()


def _aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError("complaint times must carry a timezone")
    return at


def _text(value: str, what: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidStep(f"{what} is required")
    if len(value) > limit:
        raise InvalidStep(f"{what} is longer than {limit} characters")
    if "\x00" in value:
        raise InvalidStep(f"{what} must not contain NUL characters")
    return value


def _actor(actor: str) -> str:
    actor = actor.strip()
    if not actor:
        raise InvalidStep("every step needs an actor")
    return actor


def register(*, customer_id: int, category: str, object: str, request: str,
             severity: Severity, actor: str, at: dt.datetime, policy: WorkflowPolicy,
             details: str = "", duplicate_of: int | None = None) -> Outcome:
    """A new complaint (its ``id`` is given by the store), and its ``register`` step."""
    _aware(at)
    category = _text(category, "category", required=True, limit=64).lower()
    complaint = Complaint(
        customer_id=customer_id, category=category,
        object=_text(object, "object", required=True, limit=1000),
        request=_text(request, "request", required=True, limit=1000),
        details=_text(details, "text"), severity=Severity(severity),
        registered_at=at, registered_by=_actor(actor), stage=Stage.REGISTERED, stage_at=at,
        deadline=policy.deadline(Severity(severity), at), duplicate_of=duplicate_of)
    data = {"category": category, "severity": complaint.severity.value}
    if duplicate_of is not None:
        data["duplicate_of"] = str(duplicate_of)
    step = Step("register", complaint.registered_by, at, complaint.object, None,
                Stage.REGISTERED, data)
    return Outcome(complaint, step)


def _amount(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidStep(f"amount {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise InvalidStep(f"amount must be from 0 to {MAX_AMOUNT}")
    return amount.quantize(Decimal("0.01"))


def apply(complaint: Complaint, action: Action, *, actor: str, at: dt.datetime,
          policy: WorkflowPolicy) -> Outcome:
    """The complaint after ``action`` by ``actor`` at ``at``, the step, and its effects.

    Raises :class:`IllegalTransition` (not a step of this stage) or :class:`InvalidStep`.
    """
    _aware(at)
    allowed = TRANSITIONS[complaint.stage]
    target = allowed.get(action.kind)
    if target is None:
        raise IllegalTransition(action.kind, complaint.stage, tuple(allowed))
    actor = _actor(actor)
    text = _text(action.text, "text")
    changes: dict[str, object] = {}
    data: dict[str, str] = {}
    effects: list[Effect] = []
    match action:
        case Accept():
            pass
        case Dismiss():
            text = _text(action.text, "the answer given to the customer", required=True)
            changes.update(resolution=Resolution.MISUNDERSTANDING, summary=text)
            data["resolution"] = Resolution.MISUNDERSTANDING.value
        case Assign():
            department = (_text(action.department, "department", required=True, limit=64)
                          if action.department is not None
                          else policy.department_for(complaint.category))
            if department == complaint.department:
                raise InvalidStep(f"the complaint is already with {department}")
            changes["department"] = department
            data["department"] = department
            if complaint.department is not None:
                data["previous_department"] = complaint.department
        case Analyse():
            cause = _text(action.cause, "cause", required=True)
            responsible = _text(action.responsible, "responsible person", required=True,
                                limit=200)
            changes.update(cause=cause, responsible=responsible)
            data.update(cause=cause, responsible=responsible)
        case ProposeRemedy():
            remedy = Remedy(action.remedy)
            amount = _amount(action.amount)
            if remedy in AMOUNT_REQUIRED and amount is None:
                raise InvalidStep(f"a {remedy.value} needs an amount")
            changes.update(remedy=remedy, remedy_amount=amount)
            data["remedy"] = remedy.value
            if amount is not None:
                data["amount"] = str(amount)
        case CarryOut():
            done = complaint.remedy.value if complaint.remedy else "remedy"
            paid = f" ({complaint.remedy_amount})" if complaint.remedy_amount else ""
            message = f"Your complaint #{complaint.id}: {done}{paid} carried out."
            if text:
                message += f" {text}"
            effects.append(NotifyCustomer(complaint.customer_id, message))
        case CollectFeedback():
            if isinstance(action.rating, bool) or not 1 <= action.rating <= 5:
                raise InvalidStep("rating must be from 1 to 5")
            source = FeedbackSource(action.source)
            changes.update(feedback_rating=action.rating, feedback_source=source)
            data.update(rating=str(action.rating), source=source.value)
        case Evaluate():
            text = _text(action.text, "summary", required=True)
            changes.update(resolution=Resolution.RESOLVED, summary=text)
            data["resolution"] = Resolution.RESOLVED.value
    if target is Stage.CLOSED:
        changes.update(closed_at=at, deadline=None)
    else:
        changes["deadline"] = policy.deadline(complaint.severity, at)
    new = replace(complaint, stage=target, stage_at=at, **changes)  # type: ignore[arg-type]
    step = Step(action.kind, actor, at, text, complaint.stage, target, data)
    return Outcome(new, step, tuple(effects))


def escalate_if_overdue(complaint: Complaint, *, at: dt.datetime,
                        policy: WorkflowPolicy) -> Outcome | None:
    """An ``escalate`` step when the complaint's stage is past its deadline, else None.

    The level goes up by one (at most ``policy.max_escalation``; beyond it the deadline still
    moves on but the level stays) and the next deadline is one allowance later.
    """
    _aware(at)
    if not complaint.overdue(at):
        return None
    assert complaint.deadline is not None
    level = min(complaint.escalation_level + 1, max(policy.max_escalation,
                                                    complaint.escalation_level))
    deadline = policy.deadline(complaint.severity, at)
    new = replace(complaint, escalation_level=level, deadline=deadline)
    overdue_s = int((at - complaint.deadline).total_seconds())
    step = Step("escalate", SYSTEM, at,
                f"{complaint.stage.value} overdue by {overdue_s} s: escalation level {level}",
                complaint.stage, complaint.stage,
                {"level": str(level), "deadline_was": complaint.deadline.isoformat(),
                 "deadline": deadline.isoformat()})
    effect = Escalated(level, complaint.department, complaint.stage, complaint.deadline)
    return Outcome(new, step, (effect,))


@dataclass(frozen=True, slots=True)
class Earlier:
    """A complaint already registered, as duplicate detection needs it."""

    id: int
    customer_id: int
    category: str
    registered_at: dt.datetime
    duplicate_of: int | None = None


def find_original(customer_id: int, category: str, at: dt.datetime,
                  earlier: Iterable[Earlier], policy: WorkflowPolicy) -> int | None:
    """The complaint a new one (same customer and category, registered within the window
    before ``at``) repeats: the earliest such one's original. None: not a duplicate."""
    since = at - dt.timedelta(seconds=policy.duplicate_window_s)
    category = category.strip().lower()
    matches = [e for e in earlier if e.customer_id == customer_id
               and e.category.lower() == category and since <= e.registered_at <= at]
    if not matches:
        return None
    first = min(matches, key=lambda e: (e.registered_at, e.id))
    return first.duplicate_of if first.duplicate_of is not None else first.id


def parse_action(kind: str, fields: Mapping[str, object]) -> Action:
    """An action from its name and fields (as a REST body or a form gives them); unknown
    names and fields are :class:`InvalidStep`."""
    makers: dict[str, type] = {
        "accept": Accept, "dismiss": Dismiss, "assign": Assign, "analyse": Analyse,
        "propose_remedy": ProposeRemedy, "carry_out": CarryOut,
        "collect_feedback": CollectFeedback, "evaluate": Evaluate,
    }
    maker = makers.get(kind)
    if maker is None:
        raise InvalidStep(f"unknown step {kind!r}: one of {', '.join(ACTIONS)}")
    values = dict(fields)
    try:
        if kind == "propose_remedy":
            values["remedy"] = Remedy(str(values.get("remedy")))
            if values.get("amount") is not None:
                values["amount"] = _amount(Decimal(str(values["amount"])))
        if kind == "collect_feedback" and "source" in values:
            values["source"] = FeedbackSource(str(values["source"]))
        action: Action = maker(**values)
        return action
    except InvalidOperation:
        raise InvalidStep(f"amount {values.get('amount')!r} is not a number") from None
    except TypeError as exc:
        raise InvalidStep(f"{kind}: {exc}") from None
    except ValueError as exc:
        raise InvalidStep(f"{kind}: {exc}") from None
