"""The complaint workflow's state machine (callcenter/complaints/workflow.py): the eight steps,
every step refused where it does not belong, bad data refused, deadlines and escalation on a
clock the test moves, and duplicate detection."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from callcenter.complaints import workflow as w

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
POLICY = w.WorkflowPolicy()


class StepClock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.at = start

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, **kwargs: float) -> dt.datetime:
        self.at += dt.timedelta(**kwargs)
        return self.at


def new(severity: w.Severity = w.Severity.NORMAL, category: str = "shipping",
        at: dt.datetime = T0) -> w.Complaint:
    out = w.register(customer_id=7, category=category, object="Parcel 4411 arrived broken",
                     request="a replacement", severity=severity, actor="user:alice", at=at,
                     policy=POLICY, details="the box was crushed")
    return out.complaint


HAPPY: list[w.Action] = [
    w.Accept("taken up"),
    w.Assign(),
    w.Analyse(cause="carrier dropped it", responsible="Dana Li"),
    w.ProposeRemedy(w.Remedy.EXCHANGE, text="new unit"),
    w.CarryOut("shipped 3 March"),
    w.CollectFeedback(5, w.FeedbackSource.AGENT, "happy"),
    w.Evaluate("carrier warned; exchange done"),
]
EXAMPLE: dict[str, w.Action] = {
    "accept": w.Accept(), "dismiss": w.Dismiss("explained the invoice"),
    "assign": w.Assign("finance"), "analyse": w.Analyse("cause", "someone"),
    "propose_remedy": w.ProposeRemedy(w.Remedy.REPAIR), "carry_out": w.CarryOut(),
    "collect_feedback": w.CollectFeedback(4), "evaluate": w.Evaluate("done"),
}


def walk_to(stage: w.Stage) -> w.Complaint:
    complaint = new()
    at = T0
    for action in HAPPY:
        if complaint.stage is stage:
            return complaint
        at += dt.timedelta(hours=1)
        complaint = w.apply(complaint, action, actor="user:bob", at=at, policy=POLICY).complaint
    assert complaint.stage is stage
    return complaint


def test_register_records_complainant_time_object_request_and_a_deadline() -> None:
    out = w.register(customer_id=7, category=" Shipping ", object="Parcel broken",
                     request="replace it", severity=w.Severity.HIGH, actor="user:alice",
                     at=T0, policy=POLICY, details="details")
    c = out.complaint
    assert (c.customer_id, c.category, c.object, c.request, c.details) == (
        7, "shipping", "Parcel broken", "replace it", "details")
    assert c.stage is w.Stage.REGISTERED and c.registered_at == T0
    assert c.deadline == T0 + dt.timedelta(hours=8)  # high: 8 h per step
    assert out.step.kind == "register" and out.step.actor == "user:alice"
    assert out.step.at == T0 and out.step.to_stage is w.Stage.REGISTERED


@pytest.mark.parametrize("field,value", [("object", "  "), ("request", ""), ("category", "")])
def test_register_refuses_empty_fields(field: str, value: str) -> None:
    fields = {"object": "o", "request": "r", "category": "billing", field: value}
    with pytest.raises(w.InvalidStep, match=field):
        w.register(customer_id=1, severity=w.Severity.LOW, actor="a", at=T0, policy=POLICY,
                   **fields)  # type: ignore[arg-type]


def test_register_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone"):
        w.register(customer_id=1, category="x", object="o", request="r",
                   severity=w.Severity.LOW, actor="a", at=T0.replace(tzinfo=None),
                   policy=POLICY)


def test_the_whole_way_records_every_step_and_closes_resolved() -> None:
    complaint = new()
    steps = []
    at = T0
    for action in HAPPY:
        at += dt.timedelta(hours=2)
        out = w.apply(complaint, action, actor="user:bob", at=at, policy=POLICY)
        assert out.step.from_stage is complaint.stage and out.step.to_stage is out.complaint.stage
        assert out.step.actor == "user:bob" and out.step.at == at
        steps.append(out)
        complaint = out.complaint
    assert [s.complaint.stage for s in steps] == [
        w.Stage.ACCEPTED, w.Stage.ASSIGNED, w.Stage.ANALYSED, w.Stage.REMEDY_PROPOSED,
        w.Stage.CARRIED_OUT, w.Stage.FEEDBACK_COLLECTED, w.Stage.CLOSED]
    assert complaint.department == "logistics"  # shipping -> logistics by the rules
    assert (complaint.cause, complaint.responsible) == ("carrier dropped it", "Dana Li")
    assert complaint.remedy is w.Remedy.EXCHANGE and complaint.feedback_rating == 5
    assert complaint.resolution is w.Resolution.RESOLVED
    assert complaint.summary == "carrier warned; exchange done"
    assert complaint.closed_at == at and complaint.deadline is None
    carry_out = steps[4]
    assert len(carry_out.effects) == 1 and isinstance(carry_out.effects[0], w.NotifyCustomer)
    assert all(not s.effects for i, s in enumerate(steps) if i != 4)


def test_dismiss_answers_and_closes_as_a_misunderstanding() -> None:
    out = w.apply(new(), w.Dismiss("the charge is the deposit, explained"), actor="u",
                  at=T0 + dt.timedelta(minutes=5), policy=POLICY)
    assert out.complaint.stage is w.Stage.CLOSED
    assert out.complaint.resolution is w.Resolution.MISUNDERSTANDING
    assert out.step.data["resolution"] == "misunderstanding"
    with pytest.raises(w.InvalidStep, match="answer"):
        w.apply(new(), w.Dismiss("  "), actor="u", at=T0, policy=POLICY)


ALL_STAGES = list(w.Stage)


@pytest.mark.parametrize("stage,kind", [
    (stage, kind) for stage in ALL_STAGES for kind in w.ACTIONS
    if kind not in w.TRANSITIONS[stage]])
def test_every_step_outside_its_stage_is_refused(stage: w.Stage, kind: str) -> None:
    complaint = walk_to(stage) if stage is not w.Stage.CLOSED else w.apply(
        new(), w.Dismiss("answered"), actor="u", at=T0, policy=POLICY).complaint
    with pytest.raises(w.IllegalTransition) as caught:
        w.apply(complaint, EXAMPLE[kind], actor="u", at=T0 + dt.timedelta(days=1),
                policy=POLICY)
    error = caught.value
    assert (error.action, error.stage) == (kind, stage)
    assert error.allowed == w.next_actions(stage)
    assert f"cannot {kind} a complaint that is {stage.value}" in str(error)


def test_the_refused_pairs_are_all_the_pairs_but_the_allowed() -> None:
    refused = sum(1 for s in ALL_STAGES for k in w.ACTIONS if k not in w.TRANSITIONS[s])
    allowed = sum(len(t) for t in w.TRANSITIONS.values())
    assert refused + allowed == len(ALL_STAGES) * len(w.ACTIONS) and refused == 54


def test_assign_by_rule_default_and_explicit_and_reassign() -> None:
    accepted = w.apply(new(category="billing"), w.Accept(), actor="u", at=T0,
                       policy=POLICY).complaint
    assert w.apply(accepted, w.Assign(), actor="u", at=T0,
                   policy=POLICY).complaint.department == "finance"
    unknown = w.apply(new(category="smell"), w.Accept(), actor="u", at=T0,
                      policy=POLICY).complaint
    assert w.apply(unknown, w.Assign(), actor="u", at=T0,
                   policy=POLICY).complaint.department == "customer_service"
    custom = w.WorkflowPolicy(departments={"smell": "facilities"}, default_department="desk")
    assert w.apply(unknown, w.Assign(), actor="u", at=T0,
                   policy=custom).complaint.department == "facilities"
    assigned = w.apply(accepted, w.Assign(), actor="u", at=T0, policy=POLICY)
    again = w.apply(assigned.complaint, w.Assign("quality_control"), actor="u", at=T0,
                    policy=POLICY)
    assert again.step.data == {"department": "quality_control", "previous_department": "finance"}
    with pytest.raises(w.InvalidStep, match="already with"):
        w.apply(again.complaint, w.Assign("quality_control"), actor="u", at=T0, policy=POLICY)


@pytest.mark.parametrize("action,message", [
    (w.Analyse(cause="", responsible="x"), "cause"),
    (w.Analyse(cause="c", responsible=" "), "responsible"),
])
def test_analysis_needs_cause_and_responsible(action: w.Action, message: str) -> None:
    with pytest.raises(w.InvalidStep, match=message):
        w.apply(walk_to(w.Stage.ASSIGNED), action, actor="u", at=T0, policy=POLICY)


def test_remedies_with_and_without_amounts() -> None:
    analysed = walk_to(w.Stage.ANALYSED)
    for remedy in (w.Remedy.DISCOUNT, w.Remedy.COMPENSATION):
        with pytest.raises(w.InvalidStep, match="needs an amount"):
            w.apply(analysed, w.ProposeRemedy(remedy), actor="u", at=T0, policy=POLICY)
    with pytest.raises(w.InvalidStep, match="amount must be"):
        w.apply(analysed, w.ProposeRemedy(w.Remedy.COMPENSATION, Decimal("-1")), actor="u",
                at=T0, policy=POLICY)
    out = w.apply(analysed, w.ProposeRemedy(w.Remedy.COMPENSATION, Decimal("25.5")),
                  actor="u", at=T0, policy=POLICY)
    assert out.complaint.remedy_amount == Decimal("25.50") and out.step.data["amount"] == "25.50"
    revised = w.apply(out.complaint, w.ProposeRemedy(w.Remedy.RETURN), actor="u", at=T0,
                      policy=POLICY)
    assert revised.complaint.remedy is w.Remedy.RETURN and revised.complaint.remedy_amount is None


@pytest.mark.parametrize("rating", [0, 6, -1, True])
def test_feedback_rating_is_one_to_five(rating: int) -> None:
    with pytest.raises(w.InvalidStep, match="1 to 5"):
        w.apply(walk_to(w.Stage.CARRIED_OUT), w.CollectFeedback(rating), actor="u", at=T0,
                policy=POLICY)


def test_evaluation_needs_a_summary_and_an_actor() -> None:
    done = walk_to(w.Stage.FEEDBACK_COLLECTED)
    with pytest.raises(w.InvalidStep, match="summary"):
        w.apply(done, w.Evaluate(""), actor="u", at=T0, policy=POLICY)
    with pytest.raises(w.InvalidStep, match="actor"):
        w.apply(done, w.Evaluate("ok"), actor=" ", at=T0, policy=POLICY)


def test_carry_out_asks_to_notify_the_customer() -> None:
    proposed = replace(walk_to(w.Stage.REMEDY_PROPOSED), id=42)
    out = w.apply(proposed, w.CarryOut("courier booked"), actor="u", at=T0, policy=POLICY)
    assert out.effects == (w.NotifyCustomer(
        7, "Your complaint #42: exchange carried out. courier booked"),)


def test_deadlines_escalate_on_a_clock_the_test_moves() -> None:
    clock = StepClock()
    policy = w.WorkflowPolicy(step_allowance_s={
        w.Severity.CRITICAL: 3600, w.Severity.HIGH: 7200, w.Severity.NORMAL: 86400,
        w.Severity.LOW: 3 * 86400}, max_escalation=2)
    complaint = w.register(customer_id=1, category="quality", object="o", request="r",
                           severity=w.Severity.CRITICAL, actor="a", at=clock.now(),
                           policy=policy).complaint
    assert complaint.deadline == T0 + dt.timedelta(hours=1)
    clock.advance(minutes=59, seconds=59)
    assert w.escalate_if_overdue(complaint, at=clock.now(), policy=policy) is None
    clock.advance(seconds=1)  # exactly at the deadline: overdue
    out = w.escalate_if_overdue(complaint, at=clock.now(), policy=policy)
    assert out is not None
    assert out.complaint.escalation_level == 1
    assert out.complaint.deadline == clock.now() + dt.timedelta(hours=1)
    assert out.complaint.stage is w.Stage.REGISTERED  # escalation does not move the stage
    assert out.step.kind == "escalate" and out.step.actor == w.SYSTEM
    assert out.effects == (w.Escalated(1, None, w.Stage.REGISTERED, T0 + dt.timedelta(hours=1)),)
    complaint = out.complaint
    assert w.escalate_if_overdue(complaint, at=clock.advance(minutes=30), policy=policy) is None
    complaint = w.escalate_if_overdue(complaint, at=clock.advance(minutes=30),
                                      policy=policy).complaint  # type: ignore[union-attr]
    assert complaint.escalation_level == 2
    third = w.escalate_if_overdue(complaint, at=clock.advance(hours=1), policy=policy)
    assert third is not None and third.complaint.escalation_level == 2  # capped
    assert third.complaint.deadline == clock.now() + dt.timedelta(hours=1)
    # a step taken in time resets the deadline from that step
    accepted = w.apply(third.complaint, w.Accept(), actor="a", at=clock.advance(minutes=10),
                       policy=policy).complaint
    assert accepted.deadline == clock.now() + dt.timedelta(hours=1)
    assert accepted.escalation_level == 2
    closed = w.apply(accepted, w.Assign(), actor="a", at=clock.now(), policy=policy).complaint
    closed = w.apply(w.apply(closed, w.Analyse("c", "r"), actor="a", at=clock.now(),
                             policy=policy).complaint, w.ProposeRemedy(w.Remedy.REPAIR),
                     actor="a", at=clock.now(), policy=policy).complaint
    assert closed.deadline is not None


def test_a_closed_complaint_never_escalates() -> None:
    closed = w.apply(new(), w.Dismiss("answered"), actor="u", at=T0, policy=POLICY).complaint
    assert w.escalate_if_overdue(closed, at=T0 + dt.timedelta(days=365), policy=POLICY) is None


def test_severity_sets_the_allowance() -> None:
    for severity, hours in ((w.Severity.CRITICAL, 2), (w.Severity.HIGH, 8),
                            (w.Severity.NORMAL, 24), (w.Severity.LOW, 72)):
        assert new(severity).deadline == T0 + dt.timedelta(hours=hours)


def test_policy_refuses_missing_or_bad_allowances() -> None:
    with pytest.raises(ValueError, match="critical"):
        w.WorkflowPolicy(step_allowance_s={w.Severity.LOW: 1, w.Severity.NORMAL: 1,
                                           w.Severity.HIGH: 1})
    with pytest.raises(ValueError, match="positive"):
        w.WorkflowPolicy(step_allowance_s={s: 0 for s in w.Severity})


def test_duplicates_same_customer_and_category_within_the_window() -> None:
    policy = w.WorkflowPolicy(duplicate_window_s=7 * 86400)
    earlier = [
        w.Earlier(1, 7, "shipping", T0 - dt.timedelta(days=10)),  # outside the window
        w.Earlier(2, 7, "shipping", T0 - dt.timedelta(days=6)),
        w.Earlier(3, 7, "shipping", T0 - dt.timedelta(days=2), duplicate_of=2),
        w.Earlier(4, 7, "billing", T0 - dt.timedelta(days=1)),
        w.Earlier(5, 8, "shipping", T0 - dt.timedelta(days=1)),
    ]
    assert w.find_original(7, "Shipping", T0, earlier, policy) == 2
    assert w.find_original(7, "billing", T0, earlier, policy) == 4
    assert w.find_original(7, "quality", T0, earlier, policy) is None
    assert w.find_original(9, "shipping", T0, earlier, policy) is None
    # the original is outside the window, its duplicate inside: linked to the original
    late = [w.Earlier(1, 7, "x", T0 - dt.timedelta(days=8)),
            w.Earlier(6, 7, "x", T0 - dt.timedelta(days=1), duplicate_of=1)]
    assert w.find_original(7, "x", T0, late, policy) == 1
    out = w.register(customer_id=7, category="shipping", object="o", request="r",
                     severity=w.Severity.NORMAL, actor="a", at=T0, policy=policy,
                     duplicate_of=2)
    assert out.complaint.duplicate_of == 2 and out.step.data["duplicate_of"] == "2"


@pytest.mark.parametrize("kind,fields,message", [
    ("reopen", {}, "unknown step 'reopen'"),
    ("analyse", {"cause": "c"}, "responsible"),
    ("propose_remedy", {"remedy": "refund"}, "refund"),
    ("propose_remedy", {"remedy": "discount", "amount": "ten"}, "not a number"),
    ("collect_feedback", {"rating": 3, "source": "email"}, "email"),
    ("accept", {"colour": "red"}, "colour"),
])
def test_parse_action_refuses_bad_input(kind: str, fields: dict[str, object],
                                        message: str) -> None:
    with pytest.raises(w.InvalidStep, match=message):
        w.parse_action(kind, fields)


def test_parse_action_builds_typed_actions() -> None:
    assert w.parse_action("propose_remedy", {"remedy": "discount", "amount": "10"}) == \
        w.ProposeRemedy(w.Remedy.DISCOUNT, Decimal("10.00"))
    assert w.parse_action("collect_feedback", {"rating": 4, "source": "ivr"}) == \
        w.CollectFeedback(4, w.FeedbackSource.IVR)
