"""A simulated caller in an IVR flow: the same engine as on Asterisk, in the simulator's time.

The demo's callers arrive in the ``ivr`` context of the simulated PBX and go through the
configured flow (``main``): they listen to prompts (about 14 characters a second), often
interrupt a menu they know (barge-in), press keys or speak (the simulated recogniser returns
the phrase with a random confidence: low ones make the engine ask for a key), sometimes say
nothing, sometimes hang up. What the flow decides happens on the simulated PBX as the
AudioSocket runner does it on Asterisk, with the same CRM and ACD effects
(:class:`~callcenter.ivr_media.crm.CrmEffects`): call data on the channel, then the caller
goes to ``[holding]`` for its queue, or is hung up.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from callcenter.core.errors import PbxError
from callcenter.events import EventBus
from callcenter.ivr import model as m
from callcenter.ivr import steps as s
from callcenter.ivr.engine import IvrSession
from callcenter.ivr_media.call import IvrEffects
from callcenter.sim.pbx import SimulatedPbx

log = logging.getLogger(__name__)

CHARS_PER_S = 14.0  # how fast a rendered prompt is spoken


class SleepingClock(Protocol):
    """The simulator's clock (``RealtimeClock`` fits): time and waiting in it."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


@dataclass(slots=True)
class IvrCallerBehaviour:
    """How simulated callers use a flow."""

    #: menu option weights by intent (options without one: by key); others are never chosen
    choices: Mapping[str, float] = field(default_factory=lambda: {
        "billing": 0.3, "support": 0.4, "complaint_status": 0.1, "agent": 0.2})
    #: a caller speaks rather than types when the menu has phrases in its language
    speaks: float = 0.4
    #: a caller who knows the menu interrupts the prompt
    barges_in: float = 0.5
    #: silence at a prompt (a no-input), and hanging up while in the IVR
    silent: float = 0.05
    hangs_up: float = 0.02
    think_s: tuple[float, float] = (0.8, 3.0)


class SimulatedIvrCaller:
    def __init__(self, session: IvrSession, effects: IvrEffects, bus: EventBus,
                 pbx: SimulatedPbx,
                 clock: SleepingClock, rng: random.Random, behaviour: IvrCallerBehaviour) -> None:
        self.session = session
        self.effects = effects
        self.bus = bus
        self.pbx = pbx
        self.clock = clock
        self.rng = rng
        self.behaviour = behaviour
        self._typing: list[str] = []  # keys still to press after the first of an entry
        self._timeout_s = 5.0  # of the last listen

    @property
    def channel_id(self) -> str:
        return self.session.caller.channel_id

    def _gone(self) -> bool:
        return self.pbx.calls.channel(self.channel_id) is None

    async def run(self) -> None:
        actions = self.session.start()
        while True:
            answer = await self._carry_out(actions)
            if answer is None or self.session.done:
                return
            if self._gone():
                answer = s.HungUp()
            actions = self.session.handle(answer)
            while not actions and self._typing and not self.session.done:
                await self.clock.sleep(self.rng.uniform(0.2, 0.6))
                actions = self.session.handle(s.Digit(self._typing.pop(0)))
            if not actions and not self.session.done:  # the engine waits for more: silence
                await self.clock.sleep(self._timeout_s)
                actions = self.session.handle(s.NoInput())

    async def _carry_out(self, actions: list[s.Action]) -> s.Input | None:
        """Do ``actions``; return what the caller (or the CRM) answers, None once the call
        left the IVR."""
        answer: s.Input | None = None
        play: s.Play | None = None
        for action in actions:
            if isinstance(action, s.Play):
                play = action
            elif isinstance(action, s.Listen):
                answer = await self._respond(play, action)
                play = None
            elif isinstance(action, s.Transfer):
                self._let_go()
            elif isinstance(action, s.HangUp):
                await self._leave()
            else:
                found = await self._effect(action)
                if found is not None:
                    answer = found
        if play is not None:  # a prompt alone: listened to the end
            await self.clock.sleep(_duration(play))
            answer = s.PromptDone()
        if self.session.done:
            return None
        return answer

    async def _effect(self, action: s.Action) -> s.Input | None:
        """What is neither audio nor keys, as the AudioSocket runner does it."""
        session = self.session
        if isinstance(action, s.Publish):
            self.bus.publish(action.event)
        elif isinstance(action, s.Lookup):
            return s.LookupDone(await self.effects.lookup(action))
        elif isinstance(action, s.SetCallData):
            for name, value in action.variables.items():
                try:
                    await self.pbx.set_variable(self.channel_id, name, value)
                except PbxError:  # hung up meanwhile
                    return None
        elif isinstance(action, s.StoreRating):
            await self.effects.store_rating(session.caller, session.data, action.question,
                                            action.score)
        elif isinstance(action, s.RequestCallback):
            await self.effects.request_callback(session.caller, action)
        return None

    def _let_go(self) -> None:
        """As the AudioSocket runner closes its socket: the dialplan takes the caller on (to
        ``[holding]`` with the call data just set)."""
        try:
            self.pbx.end_ivr(self.channel_id)
        except PbxError as exc:  # hung up meanwhile
            log.debug("IVR caller %s left already: %s", self.channel_id, exc)

    async def _leave(self) -> None:
        try:
            await self.pbx.hangup(self.channel_id)
        except PbxError as exc:  # hung up meanwhile
            log.debug("IVR caller %s left already: %s", self.channel_id, exc)

    async def _respond(self, play: s.Play | None, listen: s.Listen) -> s.Input:
        b, rng = self.behaviour, self.rng
        self._timeout_s = listen.timeout_s
        prompt_s = _duration(play) if play is not None else 0.0
        think = rng.uniform(*b.think_s)
        if rng.random() < b.hangs_up:
            await self.clock.sleep(rng.uniform(0.0, prompt_s + think))
            await self._leave()
            return s.HungUp()
        if rng.random() < b.silent:
            await self.clock.sleep(prompt_s + listen.timeout_s)
            return s.NoInput()
        if play is not None and play.barge_in and rng.random() < b.barges_in:
            await self.clock.sleep(min(prompt_s, think))
        else:
            await self.clock.sleep(prompt_s + think)
        return self._choice(listen)

    def _choice(self, listen: s.Listen) -> s.Input:
        node = self.session.node
        rng = self.rng
        if isinstance(node, m.MenuNode):
            options = [o for o in node.options
                       if self.behaviour.choices.get(o.intent or o.key or "", 0) > 0]
            if not options:
                return s.Digit(node.options[0].key or "1")
            option = rng.choices(options, weights=[
                self.behaviour.choices[o.intent or o.key or ""] for o in options])[0]
            phrases = option.say.get(listen.language, ())
            if listen.phrases and phrases and rng.random() < self.behaviour.speaks:
                return s.Speech(rng.choice(phrases), round(rng.uniform(0.35, 0.99), 2))
            return s.Digit(option.key or "0")
        if isinstance(node, m.CollectNode):
            # a ticket number from the seeded complaints (some unknown), key by key
            keys = [*str(rng.randint(1, 400)), *(listen.terminator or "")]
            self._typing = keys[1:]
            return s.Digit(keys[0])
        if isinstance(node, m.SurveyNode):
            return s.Digit(str(rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 4])[0]))
        if isinstance(node, m.CallbackNode):
            return s.Digit(node.accept_key if rng.random() < 0.5 else "2")
        return s.NoInput()


def _duration(play: s.Play) -> float:
    return sum(len(p.text or "") for p in play.prompts) / CHARS_PER_S + 0.3 * len(play.prompts)
