"""Property tests (hypothesis) of dial-time compliance over randomised simulations: the
server's own dialer loop and lead book, driven in virtual time across several days by a random
pacer and random line outcomes, with random lists, do-not-call entries, consent flags, calling
windows, holidays and retry rules. Whatever happens, a do-not-call number (global or the
campaign's) or a lead without consent is never dialled, and no line is placed outside the
calling window in ANY of the callee's time zones (checked here independently of the gate, from
phonenumbers and zoneinfo)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as pn_timezone

from callcenter.acd.agents import Agent, AgentBoard
from callcenter.acd.routing import LongestIdle
from callcenter.dialer.compliance import CallingWindow, DialRules, Verdict, decide_dial
from callcenter.dialer.leads import Lead, LeadBook, RetryRule, RetryRules
from callcenter.dialer.loop import DialerLoop, Line
from callcenter.dialer.pacing import DialerSnapshot, LineOutcome
from callcenter.sim.clock import VirtualClock

pytestmark = pytest.mark.unit

#: prefixes of valid numbers: one zone each, and some spanning many (toll-free NANP, which
#: rings from Guam to Newfoundland, and Australian mobiles)
PREFIXES = ["+1212555", "+1702555", "+1808555", "+1907555", "+1800555", "+1888555",
            "+4420794", "+8210555", "+6125550", "+61412", "+9198123", "+5511321", "+8613800",
            "+7495123", "+7914123", "+64211"]
DAY = 86400.0


def _valid(prefix: str, suffix: int) -> str | None:
    """The first valid number made of ``prefix`` and some leading digits of ``suffix``."""
    digits = f"{suffix:08d}"
    for length in range(2, 9):
        parsed = phonenumbers.parse(prefix + digits[:length], None)
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


@st.composite
def numbers(draw: st.DrawFn) -> str:
    for _ in range(20):
        number = _valid(draw(st.sampled_from(PREFIXES)), draw(st.integers(0, 99_999_999)))
        if number is not None:
            return number
    return "+12125550101"


def independent_window_check(number: str, at: float, window: CallingWindow) -> None:
    """Fails unless every zone of ``number`` is inside ``window`` at ``at``."""
    zones = pn_timezone.time_zones_for_number(phonenumbers.parse(number, None))
    assert zones and "Etc/Unknown" not in zones, (number, zones)
    for zone in zones:
        local = dt.datetime.fromtimestamp(at, ZoneInfo(zone))
        assert local.date() not in window.holidays, (number, zone, local)
        assert window.start <= local.time() < window.end, (number, zone, local)


@dataclass
class World:
    """A random pacer and random line outcomes around the real loop and lead book."""

    rng: random.Random
    clock: VirtualClock
    book: LeadBook
    loop: DialerLoop | None = None
    placed: list[tuple[float, Lead]] = field(default_factory=list)
    name: str = "random"

    # Pacer
    def decide(self, snapshot: DialerSnapshot) -> int:
        return self.rng.randint(0, 3)

    def record(self, outcome: LineOutcome, now: float) -> None:
        pass

    def next_decision_at(self, now: float) -> float:
        return now + self.rng.choice([30.0, 60.0, 600.0])

    # LinePort
    def place(self, line: Line) -> None:
        self.placed.append((self.clock.now(), line.record))
        outcome = self.rng.choice(["busy", "no_answer", "machine", "human"])
        self.clock.call_later(self.rng.uniform(15.0, 60.0), self._settle, line, outcome)

    def _settle(self, line: Line, outcome: str) -> None:
        assert self.loop is not None
        now = self.clock.now()
        if outcome == "human":
            self.loop.line_human(line)  # no agents: nobody takes it within 2 s
            self.book.outcome(line.record, "human", now)
            self.clock.call_later(2.0, self._drop, line)
            return
        self.loop.line_failed(line, LineOutcome(outcome))
        self.book.outcome(line.record, outcome, now)

    def _drop(self, line: Line) -> None:
        assert self.loop is not None
        self.loop.line_dropped(line)
        self.book.outcome(line.record, "dropped", self.clock.now())

    def connect(self, line: Line, agent: Agent) -> None:
        raise AssertionError("no agents in this world")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    leads=st.lists(st.tuples(numbers(), st.booleans(), st.booleans(), st.booleans(),
                             st.integers(0, 5)), min_size=1, max_size=40),
    start=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31),
                       timezones=st.just(dt.UTC)),
    open_hour=st.integers(6, 12), open_minute=st.sampled_from([0, 15, 30, 45]),
    close_hour=st.integers(14, 22), holidays=st.lists(st.integers(0, 3), max_size=2),
    delays=st.tuples(st.floats(0, 7200), st.floats(0, 7200), st.floats(0, 7200)),
)
def test_no_dnc_number_and_no_line_outside_the_window_in_a_random_campaign(
        seed: int, leads: list[tuple[str, bool, bool, bool, int]], start: dt.datetime,
        open_hour: int, open_minute: int, close_hour: int, holidays: list[int],
        delays: tuple[float, float, float]) -> None:
    rng = random.Random(seed)
    window = CallingWindow(dt.time(open_hour, open_minute), dt.time(close_hour, 0),
                           frozenset(start.date() + dt.timedelta(days=d) for d in holidays))
    rules = DialRules(window=window, ring_timeout_s=rng.choice([15.0, 20.0, 30.0]))
    global_dnc = {number for number, on_global, _, _, _ in leads if on_global}
    campaign_dnc = {number for number, _, on_campaign, _, _ in leads if on_campaign}
    book_leads = [Lead(f"l{i}", number, priority=priority, consent=consent)
                  for i, (number, _, _, consent, priority) in enumerate(leads)]
    clock = VirtualClock(start.timestamp())
    retry = RetryRules(busy=RetryRule(delays[0], 3), no_answer=RetryRule(delays[1], 3),
                       machine=RetryRule(delays[2], 2))

    def gate(lead: Lead, now: float):  # type: ignore[no-untyped-def]
        return decide_dial(lead.lead_id, lead.number, lead.consent,
                           dt.datetime.fromtimestamp(now, dt.UTC), rules, global_dnc,
                           campaign_dnc)

    book = LeadBook(book_leads, gate, retry)
    world = World(rng, clock, book)
    loop = DialerLoop(clock, world, AgentBoard(), LongestIdle(), world,
                      lambda: book.next_lead(clock.now()),
                      has_more=lambda: book.pending > 0, stop_at=start.timestamp() + 4 * DAY)
    world.loop = loop
    loop.start()
    clock.run(until=start.timestamp() + 4 * DAY + 600)

    for at, lead in world.placed:
        assert lead.number not in global_dnc and lead.number not in campaign_dnc, lead
        assert lead.consent, lead
        independent_window_check(lead.number, at, window)
    # not vacuous: a lead the rules allow, in one zone, is dialled within four days (the
    # window opens on at least two of them)
    for lead in book_leads:
        zones = pn_timezone.time_zones_for_number(phonenumbers.parse(lead.number, None))
        if (lead.consent and lead.number not in global_dnc | campaign_dnc and len(zones) == 1
                and close_hour - open_hour >= 3):
            assert lead.attempts >= 1 or lead.status == "done", (lead, zones)


@settings(max_examples=300, deadline=None)
@given(number=numbers(),
       at=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31),
                       timezones=st.just(dt.UTC)),
       open_hour=st.integers(0, 12), close_hour=st.integers(13, 23),
       holiday=st.booleans())
def test_the_gate_says_dial_only_inside_every_zone_and_its_retry_time_is_open(
        number: str, at: dt.datetime, open_hour: int, close_hour: int, holiday: bool) -> None:
    window = CallingWindow(dt.time(open_hour), dt.time(close_hour),
                           frozenset({at.date()}) if holiday else frozenset())
    decision = decide_dial("x", number, True, at, DialRules(window=window), (), ())
    if decision.verdict is Verdict.DIAL:
        independent_window_check(number, at.timestamp(), window)
    else:
        assert decision.reason in ("outside_window", "holiday"), decision
        if decision.retry_at is not None:
            assert decision.retry_at > at
            independent_window_check(number, decision.retry_at.timestamp(), window)
            # and nothing earlier in between is open in every zone (checked at whole minutes)
            again = decide_dial("x", number, True, decision.retry_at - dt.timedelta(minutes=1),
                                DialRules(window=window), (), ())
            assert again.verdict is Verdict.LATER
