"""What goes into an IVR session (inputs) and what comes out (actions): the engine's whole
interface with the media side, as plain frozen data.

A runner (AudioSocket on Asterisk, or the simulator's caller) feeds inputs to
:meth:`IvrSession.handle <callcenter.ivr.engine.IvrSession.handle>` and carries out the
actions it returns, in order. The contract:

- :class:`Play` then :class:`Listen`: play the prompts; when ``barge_in`` the caller may
  interrupt (a key or speech stops the prompt and is the input), else input during the prompt
  is ignored. The no-input timer (``Listen.timeout_s``) starts when the prompts end. A
  :class:`Play` alone (no :class:`Listen` after it) waits for :class:`PromptDone`.
- :class:`Lookup`: ask the CRM, answer with :class:`LookupDone`.
- :class:`SetCallData` then :class:`Transfer` or :class:`HangUp`: the call leaves the IVR; the
  runner stores the call data on the channel (``CC_*`` variables) before it lets go.
- :class:`Publish`: put the event on the bus (IVR events for the wallboard and history).
- :class:`StoreRating`, :class:`RequestCallback`: store the survey answer / the callback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from callcenter import events as ev

# --- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromptDone:
    """The prompts of the last :class:`Play` finished (or were interrupted)."""


@dataclass(frozen=True, slots=True)
class Digit:
    """One DTMF key."""

    key: str


@dataclass(frozen=True, slots=True)
class Speech:
    """What the recogniser heard, with its confidence (0..1); empty text: nothing matched."""

    text: str
    confidence: float


@dataclass(frozen=True, slots=True)
class NoInput:
    """Nothing (or not enough) was entered within the listen timeout."""


@dataclass(frozen=True, slots=True)
class LookupDone:
    """The answer to a :class:`Lookup`: the values found (``customer_id``, ``priority``,
    ``tier``, ``complaint_status``...) or None when nothing matched."""

    found: Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class HungUp:
    """The caller hung up."""


Input = PromptDone | Digit | Speech | NoInput | LookupDone | HungUp

# --- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromptRef:
    """One prompt to play: text to render in ``voice``, or a recorded file."""

    language: str
    voice: str
    text: str | None = None
    file: str | None = None


@dataclass(frozen=True, slots=True)
class Play:
    prompts: tuple[PromptRef, ...]
    barge_in: bool


@dataclass(frozen=True, slots=True)
class Listen:
    """Wait for the caller: up to ``max_digits`` keys (``terminator`` ends early), and speech
    matched against ``phrases`` (the grammar, in ``language``) when there are any."""

    max_digits: int
    timeout_s: float
    language: str
    phrases: tuple[str, ...] = ()
    terminator: str = ""


@dataclass(frozen=True, slots=True)
class Lookup:
    """``kind``: ``customer`` (``by``: ``number`` or ``code``) or ``complaint`` (``ticket``)."""

    kind: str
    by: str
    value: str


@dataclass(frozen=True, slots=True)
class SetCallData:
    """Channel variables for routing, the screen pop and the interaction (``CC_*``)."""

    variables: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Transfer:
    queue: str
    priority: int
    skills: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoreRating:
    question: str
    score: int


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """Call this number back from ``queue`` when its turn comes (its place: from now)."""

    number: str
    queue: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class HangUp:
    reason: str


@dataclass(frozen=True, slots=True)
class Publish:
    event: ev.DomainEvent


Action = Play | Listen | Lookup | SetCallData | Transfer | StoreRating | RequestCallback | \
    HangUp | Publish


@dataclass(frozen=True, slots=True)
class CallerInfo:
    """Who is in the IVR: the call and channel ids, the calling number, a language hint."""

    call_id: str
    channel_id: str
    number: str = ""
    language: str = ""
    data: Mapping[str, str] = field(default_factory=dict)
