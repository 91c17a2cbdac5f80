"""The IVR engine, sans I/O: inputs in, actions out, on the sample flows and small ones.

Every node kind, the retries, barge-in flags, low-confidence fallback to keys, call data for
routing and the screen pop, IVR events, hang-ups at any point and the loop guard.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.ivr import IvrSession, is_open, load_flow, luhn_ok, parse_flow
from callcenter.ivr import steps as s
from callcenter.ivr.model import OpeningHours

pytestmark = pytest.mark.unit

FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows"
SEOUL_NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


class Clock:
    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value

    def call_at(self, when: float, callback: Any, *args: Any) -> Any:  # pragma: no cover
        raise AssertionError("the engine sets no timers")


def session(flow_name: str = "main", number: str = "+821012345678", language: str = "",
            at: dt.datetime = SEOUL_NOON, text: str | None = None) -> IvrSession:
    flow = parse_flow(textwrap.dedent(text), "t.yaml")[0] if text else \
        load_flow(FLOWS / f"{flow_name}.yaml")[0]
    return IvrSession(flow, s.CallerInfo("call-1", "chan-1", number, language),
                      Clock(at.timestamp()))  # type: ignore[arg-type]


def kinds(actions: list[s.Action]) -> list[str]:
    return [type(a).__name__ if not isinstance(a, s.Publish) else a.event.type for a in actions]


def only(actions: list[s.Action], kind: type) -> Any:
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == 1, kinds(actions)
    return found[0]


def test_a_known_caller_picks_billing_by_key_and_is_routed_with_its_data() -> None:
    ivr = session()
    actions = ivr.start()
    assert kinds(actions) == ["ivr.started", "ivr.node", "Lookup"]
    assert only(actions, s.Lookup) == s.Lookup("customer", "number", "+821012345678")
    actions = ivr.handle(s.LookupDone({"customer_id": "42", "name": "Kim", "priority": "7"}))
    play = only(actions, s.Play)
    assert play.prompts[0].text == "Welcome back, Kim." and not play.barge_in
    actions = ivr.handle(s.PromptDone())
    play, listen = only(actions, s.Play), only(actions, s.Listen)
    assert play.barge_in and play.prompts[0].voice == "en-us"
    assert listen == s.Listen(1, 6.0, "en", ("billing", "bill", "support", "technical support",
                                             "complaint", "complaint status", "agent",
                                             "operator"))
    actions = ivr.handle(s.Digit("1"))
    assert kinds(actions) == ["ivr.input", "ivr.node", "Play"]  # "please hold", then leave
    assert ivr.handle(s.Digit("2")) == []  # no barge-in on the hold message
    actions = ivr.handle(s.PromptDone())
    assert kinds(actions) == ["SetCallData", "Transfer", "ivr.exit"]
    assert only(actions, s.Transfer) == s.Transfer("billing", 7, ("billing",))
    data = only(actions, s.SetCallData).variables
    assert data["CC_QUEUE"] == "billing" and data["CC_PRIORITY"] == "7"
    assert data["CC_INTENT"] == "billing" and data["CC_CUSTOMER_ID"] == "42"
    assert data["CC_SKILLS"] == "billing" and data["CC_LANGUAGE"] == "en"
    assert data["CC_IVR_PATH"] == "identify>welcome_known>main_menu>to_billing"
    exit_ = actions[-1].event
    assert isinstance(exit_, ev.IvrExit)
    assert (exit_.outcome, exit_.queue, exit_.intent) == ("queue", "billing", "billing")
    assert ivr.done and ivr.handle(s.Digit("1")) == []


def korean_at_menu() -> IvrSession:
    ivr = session(language="ko")
    ivr.start()
    ivr.handle(s.LookupDone(None))  # unknown caller: welcome, hours (open), menu
    actions = ivr.handle(s.PromptDone())
    listen = only(actions, s.Listen)
    assert listen.language == "ko" and "요금" in listen.phrases
    assert only(actions, s.Play).prompts[0].voice == "ko"
    return ivr


def test_a_korean_caller_says_billing() -> None:
    ivr = korean_at_menu()
    actions = ivr.handle(s.Speech("요금", 0.91))
    recognition = actions[0].event  # type: ignore[union-attr]
    assert isinstance(recognition, ev.IvrRecognition)
    assert (recognition.text, recognition.confidence, recognition.accepted) == ("요금", 0.91, True)
    assert ivr.data["intent"] == "billing"
    assert only(actions, s.Play).prompts[0].text == "요금 담당자에게 연결해 드리겠습니다."


def test_low_confidence_asks_for_a_key_instead() -> None:
    ivr = korean_at_menu()
    actions = ivr.handle(s.Speech("지원", 0.3))
    assert kinds(actions)[:2] == ["ivr.recognition", "ivr.input"]
    assert not actions[0].event.accepted  # type: ignore[union-attr]
    play, listen = only(actions, s.Play), only(actions, s.Listen)
    assert play.prompts[0].text == "죄송합니다. 전화기 버튼을 눌러 주세요."
    assert listen.phrases == ()  # keys only now
    actions = ivr.handle(s.Digit("2"))
    assert ivr.data["intent"] == "support"


def test_no_input_and_no_match_retry_then_give_up_to_an_agent() -> None:
    ivr = korean_at_menu()
    actions = ivr.handle(s.NoInput())
    assert only(actions, s.Play).prompts[0].text == "죄송합니다. 잘 듣지 못했습니다."
    actions = ivr.handle(s.Speech("날씨", 0.95))  # heard, matches nothing
    assert only(actions, s.Play).prompts[0].text == "죄송합니다. 이해하지 못했습니다."
    actions = ivr.handle(s.Digit("7"))  # third failure: retries (2) spent
    assert kinds(actions) == ["ivr.input", "ivr.node", "Play"]
    assert ivr.path[-1] == "to_agent"


def test_the_language_menu_switches_prompts_and_grammar() -> None:
    ivr = session()
    ivr.start()
    ivr.handle(s.LookupDone(None))
    ivr.handle(s.PromptDone())
    ivr.handle(s.Digit("9"))
    actions = ivr.handle(s.Digit("3"))
    assert ivr.language == "zh"
    assert only(actions, s.Play).prompts[0].voice == "cmn"
    assert only(actions, s.Listen).phrases == ()  # no Chinese phrases: keys


def test_complaint_status_self_service_by_ticket_number() -> None:
    ivr = session()
    ivr.start()
    ivr.handle(s.LookupDone(None))
    ivr.handle(s.PromptDone())
    actions = ivr.handle(s.Digit("3"))
    assert only(actions, s.Listen) == s.Listen(9, 8.0, "en", (), "#")
    for key in "0#":  # a leading zero is no ticket number
        actions = ivr.handle(s.Digit(key))
    assert only(actions, s.Play).prompts[0].text == "That is not a ticket number."
    assert ivr.handle(s.Digit("1")) == [] and ivr.handle(s.Digit("2")) == []
    actions = ivr.handle(s.NoInput())  # a pause after some digits ends the entry
    assert only(actions, s.Lookup) == s.Lookup("complaint", "ticket", "12")
    actions = ivr.handle(s.LookupDone({"complaint_status": "in progress"}))
    assert only(actions, s.Play).prompts[0].text == "Your complaint number 12 is in progress."
    ivr.handle(s.PromptDone())
    actions = ivr.handle(s.Digit("1"))
    actions += ivr.handle(s.PromptDone())
    assert kinds(actions)[-3:] == ["SetCallData", "HangUp", "ivr.exit"]
    assert actions[-1].event.outcome == "completed"  # type: ignore[union-attr]
    assert only(actions, s.SetCallData).variables["CC_TICKET"] == "12"


def test_an_unknown_ticket_goes_to_an_agent() -> None:
    ivr = session(flow_name="complaint-status")
    ivr.start()
    for key in "99#":
        actions = ivr.handle(s.Digit(key))
    actions = ivr.handle(s.LookupDone(None))
    assert only(actions, s.Play).prompts[0].text.startswith("We could not find that ticket")
    actions = ivr.handle(s.PromptDone())
    assert only(actions, s.Transfer).queue == "complaints"


def test_the_survey_stores_a_key_or_a_spoken_score() -> None:
    ivr = session(flow_name="survey")
    ivr.start()
    actions = ivr.handle(s.Digit("4"))
    assert only(actions, s.StoreRating) == s.StoreRating("overall", 4)
    for heard, score in (("매우 만족", 5), ("만족", 4), ("매우 불만족", 1), ("불만족", 2)):
        korean = session(flow_name="survey", language="ko")
        korean.start()  # the longest phrase heard wins: "매우 만족" is 5, not 4
        actions = korean.handle(s.Speech(heard, 0.8))
        assert only(actions, s.StoreRating) == s.StoreRating("overall", score), heard
    skipped = session(flow_name="survey")
    skipped.start()
    skipped.handle(s.Digit("9"))
    actions = skipped.handle(s.Digit("0"))  # retries spent: on, without a rating
    assert not [a for a in actions if isinstance(a, s.StoreRating)]
    assert skipped.path[-1] == "thanks"


def test_a_caller_code_is_collected_checked_and_looked_up() -> None:
    ivr = session(text="""\
    flow: code
    start: ask
    nodes:
      ask:
        type: collect
        prompt: "Your customer code?"
        variable: code
        min_digits: 4
        max_digits: 8
        checksum: luhn
        next: find
        on_failure: agent
      find: {type: lookup, by: code, found: agent, not_found: agent}
      agent: {type: queue, queue: support, priority: 3}
    """)
    ivr.start()
    for key in "12345#":  # the check digit is wrong
        actions = ivr.handle(s.Digit(key))
    assert kinds(actions)[:1] == ["ivr.input"] and only(actions, s.Listen).max_digits == 8
    assert actions[0].event.result == "invalid"  # type: ignore[union-attr]
    actions = []
    for key in "12345674":  # 8 digits end the entry; Luhn right
        actions = ivr.handle(s.Digit(key))
    assert only(actions, s.Lookup) == s.Lookup("customer", "code", "12345674")
    actions = ivr.handle(s.LookupDone({"customer_id": "9"}))
    data = only(actions, s.SetCallData).variables
    assert data["CC_CUSTOMER_CODE"] == "12345674" and data["CC_PRIORITY"] == "3"


def test_luhn() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710") and not luhn_ok("0")


def test_hours_follow_the_time_zone_and_holidays() -> None:
    hours = OpeningHours("Asia/Seoul", {0: ((dt.time(9), dt.time(18)),)},
                         frozenset({dt.date(2026, 12, 14)}))
    assert is_open(hours, SEOUL_NOON.timestamp())  # Monday 12:00 in Seoul
    assert not is_open(hours, (SEOUL_NOON + dt.timedelta(hours=7)).timestamp())  # 19:00
    assert not is_open(hours, (SEOUL_NOON + dt.timedelta(days=1)).timestamp())  # Tuesday
    assert not is_open(hours, (SEOUL_NOON + dt.timedelta(days=7)).timestamp())  # holiday


HOURS_FLOW = """\
flow: h
start: when
nodes:
  when:
    type: hours
    timezone: Asia/Seoul
    schedule: {mon-fri: "09:00-18:00"}
    open: agent
    closed: callback
  callback:
    type: callback
    prompt: "We are closed. Press 1 to be called back."
    queue: support
    accepted: bye
    declined: bye
  agent: {type: queue, queue: support}
  bye: {type: hangup, prompt: "Goodbye."}
"""


def test_closed_hours_offer_a_callback() -> None:
    ivr = session(text=HOURS_FLOW, at=SEOUL_NOON + dt.timedelta(hours=10))
    actions = ivr.start()
    assert ivr.path == ["when", "callback"] and only(actions, s.Listen).max_digits == 1
    actions = ivr.handle(s.Digit("1"))
    assert only(actions, s.RequestCallback) == s.RequestCallback("+821012345678", "support")
    assert ivr.data["callback"] == "1"
    actions = ivr.handle(s.PromptDone())
    assert only(actions, s.SetCallData).variables["CC_CALLBACK"] == "1"
    open_ = session(text=HOURS_FLOW)
    assert kinds(open_.start())[-3:] == ["SetCallData", "Transfer", "ivr.exit"]


def test_a_hang_up_anywhere_ends_the_session_once() -> None:
    ivr = korean_at_menu()
    actions = ivr.handle(s.HungUp())
    assert kinds(actions) == ["ivr.exit"]
    exit_ = actions[0].event  # type: ignore[union-attr]
    assert exit_.outcome == "hung_up" and exit_.node == "main_menu"  # type: ignore[attr-defined]
    assert ivr.handle(s.HungUp()) == [] and ivr.handle(s.Digit("1")) == []


def test_a_loop_through_immediate_nodes_ends_as_an_error() -> None:
    ivr = session(text="""\
    flow: spin
    start: a
    nodes:
      a: {type: set, variables: {x: "1"}, next: b}
      b:
        type: hours
        timezone: UTC
        schedule: {mon-sun: "00:00-24:00"}
        open: a
        closed: z
      z: {type: hangup}
    """)
    actions = ivr.start()
    assert kinds(actions)[-2:] == ["HangUp", "ivr.exit"]
    assert actions[-1].event.outcome == "error"  # type: ignore[union-attr]
