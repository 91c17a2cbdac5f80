"""An IVR flow as data: nodes of a few kinds, joined by node ids, with prompts per language.

A flow is loaded from YAML (:mod:`callcenter.ivr.loader`), checked as a whole
(:mod:`callcenter.ivr.checks`) and then only read: a call in progress keeps the flow object it
started with, so a hot reload never changes a call's menu under its feet.

Prompts and spoken phrases are per language (``en``, ``ko``, ``zh`` ...): one flow serves every
language it lists; a caller's language is call data that a menu option can change. A prompt is
text (rendered to speech by the media side) or a recorded file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

#: node kinds that end the flow: the caller leaves the IVR there
TERMINAL_KINDS = frozenset({"queue", "hangup"})


@dataclass(frozen=True, slots=True)
class PromptPart:
    """One language's version of a prompt: text to speak, or a recorded file."""

    text: str | None = None
    file: str | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt in each language it exists in (``{"en": PromptPart(text=...)}``)."""

    parts: Mapping[str, PromptPart]

    def part(self, language: str, fallback: str) -> PromptPart:
        """The part in ``language``, else in the flow's default language."""
        return self.parts.get(language) or self.parts[fallback]


@dataclass(frozen=True, slots=True)
class Node:
    """What every node has: its id, its kind and where it was written (for messages)."""

    node_id: str
    line: int

    kind: str = field(init=False, default="node")

    def targets(self) -> dict[str, str]:
        """The nodes this one can go to, by the field naming them (for checks)."""
        return {}


@dataclass(frozen=True, slots=True)
class PlayNode(Node):
    prompt: Prompt
    next: str
    kind: str = field(init=False, default="play")

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


@dataclass(frozen=True, slots=True)
class Retry:
    """The no-input / no-match behaviour shared by the nodes that wait for the caller."""

    retries: int = 2
    timeout_s: float = 5.0
    no_input: Prompt | None = None
    no_match: Prompt | None = None


@dataclass(frozen=True, slots=True)
class MenuOption:
    key: str | None
    #: spoken phrases per language (the recognition grammar of that language)
    say: Mapping[str, tuple[str, ...]]
    next: str
    intent: str | None = None
    #: call data set when the option is taken (e.g. ``language: ko``)
    set: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MenuNode(Node):
    prompt: Prompt
    options: tuple[MenuOption, ...]
    on_failure: str
    retry: Retry = Retry()
    #: a recognition below this confidence is not trusted: the caller is asked for a key
    min_confidence: float = 0.5
    low_confidence: Prompt | None = None
    barge_in: bool = True
    kind: str = field(init=False, default="menu")

    def targets(self) -> dict[str, str]:
        found = {f"options[{i}].next": o.next for i, o in enumerate(self.options)}
        return {**found, "on_failure": self.on_failure}

    def phrases(self, language: str) -> tuple[str, ...]:
        """The grammar of this menu in ``language`` (every option's phrases)."""
        return tuple(p for o in self.options for p in o.say.get(language, ()))


@dataclass(frozen=True, slots=True)
class CollectNode(Node):
    """Digits the caller types (a customer code, a ticket number), checked before use."""

    prompt: Prompt
    variable: str
    next: str
    on_failure: str
    min_digits: int = 1
    max_digits: int = 20
    terminator: str = "#"
    pattern: str | None = None
    checksum: Literal["luhn"] | None = None
    invalid: Prompt | None = None
    retry: Retry = Retry()
    kind: str = field(init=False, default="collect")

    def targets(self) -> dict[str, str]:
        return {"next": self.next, "on_failure": self.on_failure}


@dataclass(frozen=True, slots=True)
class LookupNode(Node):
    """Find the caller in the CRM by the calling number or by a collected code."""

    by: str  # "caller" or the name of a collected variable
    found: str
    not_found: str
    kind: str = field(init=False, default="lookup")

    def targets(self) -> dict[str, str]:
        return {"found": self.found, "not_found": self.not_found}


@dataclass(frozen=True, slots=True)
class ComplaintStatusNode(Node):
    """Self-service: the status of the complaint whose ticket number the caller entered; the
    result is call data (``complaint_status``...) that the next prompts can speak."""

    ticket: str  # the variable holding the ticket number
    found: str
    not_found: str
    kind: str = field(init=False, default="complaint_status")

    def targets(self) -> dict[str, str]:
        return {"found": self.found, "not_found": self.not_found}


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Weekly hours in one time zone, with holidays closed all day."""

    timezone: str
    #: weekday (0 = Monday) -> (open, close) times; a missing day is closed
    week: Mapping[int, tuple[tuple[dt.time, dt.time], ...]]
    holidays: frozenset[dt.date] = frozenset()


@dataclass(frozen=True, slots=True)
class HoursNode(Node):
    hours: OpeningHours
    open: str
    closed: str
    kind: str = field(init=False, default="hours")

    def targets(self) -> dict[str, str]:
        return {"open": self.open, "closed": self.closed}


@dataclass(frozen=True, slots=True)
class SetNode(Node):
    variables: Mapping[str, str]
    next: str
    kind: str = field(init=False, default="set")

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


@dataclass(frozen=True, slots=True)
class QueueNode(Node):
    """The caller leaves the IVR for a queue, with the skills and priority to route by."""

    queue: str
    skills: tuple[str, ...] = ()
    #: a number, or ``customer``: the priority the CRM lookup found (0 without one)
    priority: int | Literal["customer"] = "customer"
    prompt: Prompt | None = None
    kind: str = field(init=False, default="queue")


@dataclass(frozen=True, slots=True)
class CallbackNode(Node):
    """Offer to call the customer back instead of waiting: one key accepts, and the ACD of
    ``queue`` calls back when the caller's turn comes."""

    prompt: Prompt
    queue: str
    accepted: str
    declined: str
    accept_key: str = "1"
    accept_say: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    retry: Retry = Retry()
    kind: str = field(init=False, default="callback")

    def targets(self) -> dict[str, str]:
        return {"accepted": self.accepted, "declined": self.declined}


@dataclass(frozen=True, slots=True)
class SurveyNode(Node):
    """A satisfaction question answered 1-5 by key or voice; the answer is stored."""

    prompt: Prompt
    question: str
    next: str
    #: spoken answers per language: score -> phrases
    say: Mapping[str, Mapping[int, tuple[str, ...]]] = field(default_factory=dict)
    retry: Retry = Retry()
    min_confidence: float = 0.5
    kind: str = field(init=False, default="survey")

    def targets(self) -> dict[str, str]:
        return {"next": self.next}

    def phrases(self, language: str) -> tuple[str, ...]:
        return tuple(p for ps in self.say.get(language, {}).values() for p in ps)


@dataclass(frozen=True, slots=True)
class HangupNode(Node):
    prompt: Prompt | None = None
    kind: str = field(init=False, default="hangup")


@dataclass(frozen=True, slots=True)
class Language:
    """A language a flow speaks: its code and the text-to-speech voice for its prompts."""

    code: str
    voice: str


@dataclass(frozen=True, slots=True)
class Flow:
    """A whole flow: where it starts, its nodes and languages (the first is the default)."""

    name: str
    start: str
    nodes: Mapping[str, Node]
    languages: tuple[Language, ...]
    source: str = ""
    description: str = ""

    @property
    def default_language(self) -> str:
        return self.languages[0].code

    def language(self, code: str) -> Language:
        return next((lang for lang in self.languages if lang.code == code), self.languages[0])
