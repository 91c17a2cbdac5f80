"""The IVR engine: one :class:`IvrSession` per call, sans I/O.

It walks a :class:`~callcenter.ivr.model.Flow` with the inputs a runner feeds it and answers
with the actions to carry out (:mod:`callcenter.ivr.steps`). No sockets, no asyncio, no
database: the time comes from a clock seam (business hours), the CRM is asked through a
:class:`~callcenter.ivr.steps.Lookup` action. So the same engine runs a caller on Asterisk
(AudioSocket), a simulated caller in the demo and every unit test.

What the caller did becomes call data for routing, the screen pop and the interaction
(:meth:`IvrSession.call_data`): the customer found, the intent of the menu options taken,
codes entered, the language, the path through the flow.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping

from callcenter import events as ev
from callcenter.core.clock import Clock
from callcenter.ivr import model as m
from callcenter.ivr import steps as s

MAX_HOPS = 64
"""Nodes passed without waiting for the caller in one step: beyond, the flow is looping
through immediate nodes (set, hours, lookup misses) and the call is ended as an error."""

_PATH_CHARS = 255  # interactions.ivr_path


class IvrSession:
    """One caller in one flow. Feed :meth:`start` once, then :meth:`handle` every input."""

    def __init__(self, flow: m.Flow, caller: s.CallerInfo, clock: Clock) -> None:
        self.flow = flow
        self.caller = caller
        self.clock = clock
        codes = {lang.code for lang in flow.languages}
        self.language = caller.language if caller.language in codes else flow.default_language
        self.data: dict[str, str] = dict(caller.data)
        self.path: list[str] = []
        self.node: m.Node | None = None
        self.waiting = ""  # "prompt", "input", "lookup"; "" once the call left the flow
        self.attempts = 0  # failed tries at the current node
        self.digits = ""
        self.dtmf_only = False
        self.outcome: str | None = None

    # --- the interface -----------------------------------------------------------------

    def start(self) -> list[s.Action]:
        started = ev.IvrStarted(at=self.clock.now(), flow=self.flow.name,
                                call_id=self.caller.call_id,
                                channel_id=self.caller.channel_id, language=self.language)
        return [s.Publish(started), *self._go(self.flow.start)]

    def handle(self, event: s.Input) -> list[s.Action]:
        if self.outcome is not None:
            return []  # the call left the flow: late inputs mean nothing
        if isinstance(event, s.HungUp):
            return self._exit("hung_up", [])
        node = self.node
        if isinstance(event, s.PromptDone):
            return self._prompt_done()
        if self.waiting == "lookup" and isinstance(event, s.LookupDone):
            return self._lookup_done(event)
        if self.waiting != "input" or node is None:
            return []
        if isinstance(node, m.MenuNode):
            return self._menu_input(node, event)
        if isinstance(node, m.CollectNode):
            return self._collect_input(node, event)
        if isinstance(node, m.CallbackNode):
            return self._callback_input(node, event)
        if isinstance(node, m.SurveyNode):
            return self._survey_input(node, event)
        return []

    def call_data(self) -> dict[str, str]:
        """The ``CC_*`` channel variables that carry what the caller did out of the IVR."""
        data = {f"CC_{key.upper()}": value for key, value in self.data.items() if value != ""}
        data["CC_IVR_FLOW"] = self.flow.name
        data["CC_IVR_PATH"] = _cut_path(self.path)
        data["CC_LANGUAGE"] = self.language
        return data

    @property
    def done(self) -> bool:
        return self.outcome is not None

    # --- walking the flow --------------------------------------------------------------

    def _go(self, node_id: str) -> list[s.Action]:
        """Enter ``node_id`` and pass every node that needs no caller input."""
        actions: list[s.Action] = []
        for _ in range(MAX_HOPS):
            node = self.flow.nodes[node_id]
            self.node, self.attempts, self.digits, self.dtmf_only = node, 0, "", False
            self.path.append(node_id)
            actions.append(s.Publish(ev.IvrNodeEntered(
                at=self.clock.now(), flow=self.flow.name, call_id=self.caller.call_id,
                node=node_id, kind=node.kind)))
            following = self._immediate(node)
            if following is None:
                actions.extend(self._wait_at(node))
                return actions
            node_id = following
        actions.append(s.HangUp("error"))
        return self._exit("error", actions)

    def _immediate(self, node: m.Node) -> str | None:
        """The next node when ``node`` needs nothing from the caller or the CRM."""
        if isinstance(node, m.SetNode):
            self._set(node.variables)
            return node.next
        if isinstance(node, m.HoursNode):
            return node.open if is_open(node.hours, self.clock.now()) else node.closed
        if isinstance(node, m.LookupNode):
            value = self.caller.number if node.by == "caller" else self.data.get(node.by, "")
            return None if value else node.not_found
        if isinstance(node, m.ComplaintStatusNode):
            return None if self.data.get(node.ticket) else node.not_found
        return None

    def _wait_at(self, node: m.Node) -> list[s.Action]:
        """The actions of a node that waits (for a prompt, the caller or the CRM)."""
        if isinstance(node, m.PlayNode):
            self.waiting = "prompt"
            return [self._play(node.prompt, barge_in=False)]
        if isinstance(node, m.MenuNode | m.CollectNode | m.CallbackNode | m.SurveyNode):
            self.waiting = "input"
            return self._ask(node, None)
        if isinstance(node, m.LookupNode):
            self.waiting = "lookup"
            if node.by == "caller":
                return [s.Lookup("customer", "number", self.caller.number)]
            self.data["customer_code"] = self.data[node.by]
            return [s.Lookup("customer", "code", self.data[node.by])]
        if isinstance(node, m.ComplaintStatusNode):
            self.waiting = "lookup"
            return [s.Lookup("complaint", "ticket", self.data[node.ticket])]
        if isinstance(node, m.QueueNode | m.HangupNode):
            if node.prompt is not None:
                self.waiting = "prompt"
                return [self._play(node.prompt, barge_in=False)]
            return self._leave(node)
        raise AssertionError(f"node kind {node.kind} does not wait")  # pragma: no cover

    def _prompt_done(self) -> list[s.Action]:
        if self.waiting != "prompt" or self.node is None:
            return []  # a menu's prompt ended: its no-input timer runs in the runner
        node = self.node
        if isinstance(node, m.PlayNode):
            return self._go(node.next)
        if isinstance(node, m.QueueNode | m.HangupNode):
            return self._leave(node)
        return []

    def _leave(self, node: m.QueueNode | m.HangupNode) -> list[s.Action]:
        self.waiting = ""
        if isinstance(node, m.QueueNode):
            priority = node.priority if isinstance(node.priority, int) else _int(
                self.data.get("priority", "0"))
            data = {**self.call_data(), "CC_QUEUE": node.queue, "CC_PRIORITY": str(priority)}
            if node.skills:
                data["CC_SKILLS"] = ",".join(node.skills)
            return self._exit("queue", [s.SetCallData(data),
                                        s.Transfer(node.queue, priority, node.skills)],
                              queue=node.queue)
        return self._exit("completed", [s.SetCallData(self.call_data()),
                                        s.HangUp("completed")])

    def _exit(self, outcome: str, actions: list[s.Action], queue: str = "") -> list[s.Action]:
        self.outcome = outcome
        self.waiting = ""
        node = self.path[-1] if self.path else ""
        actions.append(s.Publish(ev.IvrExit(
            at=self.clock.now(), flow=self.flow.name, call_id=self.caller.call_id, node=node,
            outcome=outcome, path=_cut_path(self.path), queue=queue,
            intent=self.data.get("intent", ""))))
        return actions

    # --- prompts and listening ---------------------------------------------------------

    def _ref(self, prompt: m.Prompt) -> s.PromptRef:
        part = prompt.part(self.language, self.flow.default_language)
        language = self.language if self.language in prompt.parts else \
            self.flow.default_language
        text = _fill(part.text, self.data) if part.text is not None else None
        return s.PromptRef(language, self.flow.language(language).voice, text, part.file)

    def _play(self, *prompts: m.Prompt | None, barge_in: bool) -> s.Play:
        return s.Play(tuple(self._ref(p) for p in prompts if p is not None), barge_in)

    def _ask(self, node: m.MenuNode | m.CollectNode | m.CallbackNode | m.SurveyNode,
             before: m.Prompt | None) -> list[s.Action]:
        """Play ``before`` (an apology) and the node's prompt, then listen."""
        if isinstance(node, m.CollectNode):
            return [self._play(before, node.prompt, barge_in=True),
                    s.Listen(node.max_digits, node.retry.timeout_s, self.language,
                             terminator=node.terminator)]
        if isinstance(node, m.MenuNode):
            phrases = () if self.dtmf_only else node.phrases(self.language)
            return [self._play(before, node.prompt, barge_in=node.barge_in),
                    s.Listen(1, node.retry.timeout_s, self.language, phrases)]
        if isinstance(node, m.CallbackNode):
            phrases = () if self.dtmf_only else node.accept_say.get(self.language, ())
        else:
            phrases = () if self.dtmf_only else node.phrases(self.language)
        return [self._play(before, node.prompt, barge_in=True),
                s.Listen(1, node.retry.timeout_s, self.language, phrases)]

    def _retry(self, node: m.MenuNode | m.CollectNode | m.CallbackNode | m.SurveyNode,
               apology: m.Prompt | None, give_up: str) -> list[s.Action]:
        """Another try at ``node``, or ``give_up`` once its retries are spent."""
        self.attempts += 1
        self.digits = ""
        if self.attempts > node.retry.retries:
            return self._go(give_up)
        return self._ask(node, apology)

    def _input(self, via: str, value: str, result: str) -> s.Publish:
        assert self.node is not None
        return s.Publish(ev.IvrInput(at=self.clock.now(), flow=self.flow.name,
                                     call_id=self.caller.call_id, node=self.node.node_id,
                                     via=via, value=value, result=result))

    def _heard(self, event: s.Speech, accepted: bool) -> s.Publish:
        assert self.node is not None
        return s.Publish(ev.IvrRecognition(
            at=self.clock.now(), flow=self.flow.name, call_id=self.caller.call_id,
            node=self.node.node_id, text=event.text, confidence=round(event.confidence, 3),
            accepted=accepted))

    # --- nodes that wait for the caller ------------------------------------------------

    def _menu_input(self, node: m.MenuNode, event: s.Input) -> list[s.Action]:
        if isinstance(event, s.NoInput):
            return [self._input("none", "", "no_input"),
                    *self._retry(node, node.retry.no_input, node.on_failure)]
        option: m.MenuOption | None = None
        if isinstance(event, s.Digit):
            option = next((o for o in node.options if o.key == event.key), None)
            note = self._input("dtmf", event.key, "matched" if option else "no_match")
        elif isinstance(event, s.Speech):
            if event.text and event.confidence < node.min_confidence:
                # not trusted: ask again, for a key this time
                self.dtmf_only = True
                return [self._heard(event, False),
                        self._input("speech", event.text, "low_confidence"),
                        *self._retry(node, node.low_confidence or node.retry.no_match,
                                     node.on_failure)]
            option = _match(node.options, self.language, event.text)
            note = self._heard(event, option is not None)
        else:
            return []
        if option is None:
            return [note, *self._retry(node, node.retry.no_match, node.on_failure)]
        if option.intent:
            self.data["intent"] = option.intent
        self._set(option.set)
        return [note, *self._go(option.next)]

    def _collect_input(self, node: m.CollectNode, event: s.Input) -> list[s.Action]:
        if isinstance(event, s.Digit):
            if node.terminator and event.key == node.terminator:
                return self._check_digits(node)
            self.digits += event.key
            return self._check_digits(node) if len(self.digits) >= node.max_digits else []
        if isinstance(event, s.NoInput):
            if self.digits:
                return self._check_digits(node)
            return [self._input("none", "", "no_input"),
                    *self._retry(node, node.retry.no_input, node.on_failure)]
        return []  # speech is not how codes are entered

    def _check_digits(self, node: m.CollectNode) -> list[s.Action]:
        digits = self.digits
        valid = (node.min_digits <= len(digits) <= node.max_digits
                 and (node.pattern is None or re.fullmatch(node.pattern, digits) is not None)
                 and (node.checksum != "luhn" or luhn_ok(digits)))
        if not valid:
            return [self._input("dtmf", f"{len(digits)} digits", "invalid"),
                    *self._retry(node, node.invalid or node.retry.no_match, node.on_failure)]
        self.data[node.variable] = digits
        return [self._input("dtmf", f"{len(digits)} digits", "matched"), *self._go(node.next)]

    def _callback_input(self, node: m.CallbackNode, event: s.Input) -> list[s.Action]:
        if isinstance(event, s.NoInput):
            return [self._input("none", "", "no_input"),
                    *self._retry(node, node.retry.no_input, node.declined)]
        if isinstance(event, s.Digit):
            accepted = event.key == node.accept_key
            note = self._input("dtmf", event.key, "matched")
        elif isinstance(event, s.Speech):
            phrases = node.accept_say.get(self.language, ())
            accepted = event.confidence >= 0.5 and _said(event.text, phrases)
            note = self._heard(event, accepted)
        else:
            return []
        if not accepted:
            return [note, *self._go(node.declined)]
        number = self.data.get("callback_number") or self.caller.number
        self.data["callback"] = "1"
        callback = s.RequestCallback(number, node.queue, _int(self.data.get("priority", "0")))
        return [note, callback, *self._go(node.accepted)]

    def _survey_input(self, node: m.SurveyNode, event: s.Input) -> list[s.Action]:
        if isinstance(event, s.NoInput):
            return [self._input("none", "", "no_input"),
                    *self._retry(node, node.retry.no_input, node.next)]
        score: int | None = None
        if isinstance(event, s.Digit):
            score = int(event.key) if event.key in "12345" else None
            note = self._input("dtmf", event.key, "matched" if score else "no_match")
        elif isinstance(event, s.Speech):
            if event.confidence >= node.min_confidence:
                score = _score(node.say.get(self.language, {}), event.text)
            note = self._heard(event, score is not None)
        else:
            return []
        if score is None:
            return [note, *self._retry(node, node.retry.no_match, node.next)]
        self.data[f"survey_{node.question}"] = str(score)
        return [note, s.StoreRating(node.question, score), *self._go(node.next)]

    def _lookup_done(self, event: s.LookupDone) -> list[s.Action]:
        node = self.node
        assert isinstance(node, m.LookupNode | m.ComplaintStatusNode)
        self.waiting = ""
        if event.found is None:
            return self._go(node.not_found)
        self.data.update({k: str(v) for k, v in event.found.items()})
        return self._go(node.found)

    def _set(self, variables: Mapping[str, str]) -> None:
        for key, value in variables.items():
            if key == "language":
                if value in {lang.code for lang in self.flow.languages}:
                    self.language = value
            else:
                self.data[key] = value


# --- pure helpers ----------------------------------------------------------------------------


def is_open(hours: m.OpeningHours, now: float) -> bool:
    """Open at epoch ``now`` in the hours' own time zone (holidays closed all day)."""
    local = dt.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(hours.timezone))
    if local.date() in hours.holidays:
        return False
    moment = local.time()
    return any(start <= moment < end for start, end in hours.week.get(local.weekday(), ()))


def luhn_ok(digits: str) -> bool:
    """The Luhn check digit (the last one) is right: catches a mistyped or swapped digit."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return len(digits) > 1 and total % 10 == 0


def normalise(text: str) -> str:
    """Lower case, punctuation gone, single spaces: how phrases and results are compared."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _said(text: str, phrases: tuple[str, ...]) -> bool:
    heard = f" {normalise(text)} "
    return any(f" {normalise(p)} " in heard for p in phrases if p)


def _match(options: tuple[m.MenuOption, ...], language: str, text: str
           ) -> m.MenuOption | None:
    """The option whose phrase the text contains; the longest phrase wins."""
    heard = f" {normalise(text)} "
    best: tuple[int, m.MenuOption] | None = None
    for option in options:
        for phrase in option.say.get(language, ()):
            if phrase and f" {normalise(phrase)} " in heard and (
                    best is None or len(phrase) > best[0]):
                best = (len(phrase), option)
    return best[1] if best else None


def _score(say: Mapping[int, tuple[str, ...]], text: str) -> int | None:
    """The score whose phrase the text contains; the longest phrase wins ("매우 만족", very
    satisfied, is 5 even though it contains "만족", satisfied, which is 4)."""
    heard = f" {normalise(text)} "
    best: tuple[int, int] | None = None
    for score, phrases in say.items():
        for phrase in phrases:
            if phrase and f" {normalise(phrase)} " in heard and (
                    best is None or len(phrase) > best[0]):
                best = (len(phrase), score)
    return best[1] if best else None


def _fill(text: str, data: dict[str, str]) -> str:
    """``{name}`` in a prompt replaced by call data (empty when unknown)."""
    return re.sub(r"\{([a-z][a-z0-9_]*)\}", lambda found: data.get(found[1], ""), text)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _cut_path(path: list[str]) -> str:
    joined = ">".join(path)
    return joined if len(joined) <= _PATH_CHARS else "…" + joined[-(_PATH_CHARS - 1):]
