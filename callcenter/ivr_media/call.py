"""One caller's IVR on an AudioSocket session: the engine's actions carried out.

:class:`IvrCall` feeds :class:`~callcenter.ivr.engine.IvrSession` the caller's inputs and does
what it answers: prompts rendered and played (:class:`~callcenter.speech.PromptLibrary`),
listens (:func:`~callcenter.ivr_media.exchange.exchange`), CRM look-ups and survey ratings
(:class:`IvrEffects`), call data written on the channel over the PBX (``CC_QUEUE``,
``CC_PRIORITY``, ``CC_INTENT``, ``CC_CUSTOMER_ID``, ``CC_CUSTOMER_CODE``, ``CC_LANGUAGE``,
``CC_IVR_PATH`` ...), events on the bus. When the flow sends the caller to a queue the session
is closed and the dialplan continues to ``[holding]`` with the variables already set (the ACD
reads ``CC_QUEUE`` there); when it hangs up, the channel is hung up over the PBX first — closing
the socket alone would let the dialplan carry the caller on to ``[holding]``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from callcenter.audiosocket.session import AudioSocketSession
from callcenter.core.errors import PbxError
from callcenter.core.pbx import Pbx
from callcenter.events import EventBus
from callcenter.ivr import steps as s
from callcenter.ivr.engine import IvrSession
from callcenter.ivr_media.exchange import ExchangeSettings, StreamFactory, exchange, play
from callcenter.speech.prompts import PromptError, PromptLibrary

log = logging.getLogger(__name__)


class IvrEffects(Protocol):
    """What the IVR asks of the CRM and the ACD."""

    async def lookup(self, action: s.Lookup) -> Mapping[str, str] | None: ...

    async def store_rating(self, caller: s.CallerInfo, data: Mapping[str, str],
                           question: str, score: int) -> None: ...

    async def request_callback(self, caller: s.CallerInfo,
                               action: s.RequestCallback) -> None: ...


class IvrCall:
    def __init__(self, engine: IvrSession, session: AudioSocketSession, *, pbx: Pbx,
                 bus: EventBus, prompts: PromptLibrary, streams: StreamFactory,
                 effects: IvrEffects, settings: ExchangeSettings | None = None) -> None:
        self.engine = engine
        self.session = session
        self.pbx = pbx
        self.bus = bus
        self.prompts = prompts
        self.streams = streams
        self.effects = effects
        self.settings = settings or ExchangeSettings()
        #: how the call left: "queue", "hangup", "" (the caller hung up, or an error)
        self.left = ""

    @property
    def channel_id(self) -> str:
        return self.engine.caller.channel_id

    async def run(self) -> None:
        """Walk the flow until the caller leaves it."""
        pending = list(self.engine.start())
        listening: s.Listen | None = None
        while True:
            if not pending:
                if self.engine.done or listening is None:
                    break
                # the engine wants more of the same listen (the next key of a code)
                pending = self.engine.handle(await exchange(
                    self.session, None, True, listening, self.streams, self.settings))
                continue
            action = pending.pop(0)
            answer: s.Input | None = None
            if isinstance(action, s.Publish):
                self.bus.publish(action.event)
            elif isinstance(action, s.Play):
                audio = await self._audio(action.prompts)
                following = pending[0] if pending else None
                if isinstance(following, s.Listen):
                    pending.pop(0)
                    listening = following
                    answer = await exchange(self.session, audio, action.barge_in, following,
                                            self.streams, self.settings)
                else:
                    listening = None
                    answer = await play(self.session, audio)
            elif isinstance(action, s.Listen):
                listening = action
                answer = await exchange(self.session, None, True, action, self.streams,
                                        self.settings)
            elif isinstance(action, s.Lookup):
                answer = s.LookupDone(await self.effects.lookup(action))
            elif isinstance(action, s.SetCallData):
                await self._set(action.variables)
            elif isinstance(action, s.Transfer):
                self.left = "queue"
            elif isinstance(action, s.HangUp):
                self.left = "hangup"
            elif isinstance(action, s.StoreRating):
                await self.effects.store_rating(self.engine.caller, self.engine.data,
                                                action.question, action.score)
            elif isinstance(action, s.RequestCallback):
                await self.effects.request_callback(self.engine.caller, action)
            if answer is not None:
                pending.extend(self.engine.handle(answer))
        if self.left == "hangup" and not self.session.ended.is_set():
            await self._hang_up()

    async def _audio(self, prompts: tuple[s.PromptRef, ...]) -> bytes:
        parts: list[bytes] = []
        for ref in prompts:
            try:
                if ref.file is not None:
                    parts.append(await self.prompts.recording(ref.file))
                elif ref.text:
                    parts.append(await self.prompts.speech(ref.text, ref.voice))
            except PromptError as exc:  # the caller hears silence there, the flow goes on
                log.error("ivr %s: prompt not played: %s", self.engine.caller.call_id, exc)
        return b"".join(parts)

    async def _set(self, variables: Mapping[str, str]) -> None:
        for name, value in variables.items():
            try:
                await self.pbx.set_variable(self.channel_id, name, value)
            except PbxError as exc:
                log.error("ivr %s: %s=%s not set on %s: %s", self.engine.caller.call_id,
                          name, value, self.channel_id, exc)

    async def _hang_up(self) -> None:
        try:
            await self.pbx.hangup(self.channel_id)
        except PbxError as exc:
            log.error("ivr %s: hang-up of %s failed: %s", self.engine.caller.call_id,
                      self.channel_id, exc)
