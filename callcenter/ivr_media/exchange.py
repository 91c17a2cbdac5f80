"""One turn of the conversation on an AudioSocket session: play a prompt, listen, return
what the caller did as one engine input.

The engine's contract (docs/IVR.md) carried out on audio: with ``barge_in`` a key or the start
of speech stops the prompt; without it, keys and speech during the prompt are ignored. The
no-input timer starts when the prompt ends and stops while the caller speaks. Speech is
recognised only when the listen has phrases and there is a model for its language (otherwise
keys only). The caller hanging up ends any turn with :class:`HungUp`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callcenter.audiosocket.session import AudioSocketSession
from callcenter.ivr import steps as s
from callcenter.ivr_media.speech_stream import SpeechStream
from callcenter.speech.utterance import Boundary, EndpointSettings, UtteranceDetector

log = logging.getLogger(__name__)

#: makes the speech stream of a listen, or None when it is keys only
StreamFactory = Callable[[s.Listen], SpeechStream | None]


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    #: the longest utterance: a caller who never stops (or noise) is cut here
    max_utterance_s: float = 8.0


async def play(session: AudioSocketSession, audio: bytes) -> s.Input:
    """A prompt nobody can interrupt: PromptDone when it ended, HungUp if the caller left."""
    done = session.play(audio)
    ended = asyncio.ensure_future(session.ended.wait())
    waiting: set[asyncio.Future[Any]] = {done, ended}
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
    return s.HungUp() if session.ended.is_set() else s.PromptDone()


async def exchange(session: AudioSocketSession, audio: bytes | None, barge_in: bool,
                   listen: s.Listen, streams: StreamFactory,
                   settings: ExchangeSettings | None = None) -> s.Input:
    """Play ``audio`` (None: keep listening, e.g. for the next key of a code) and wait for
    one input of ``listen``."""
    settings = settings or ExchangeSettings()
    loop = asyncio.get_running_loop()
    prompt = session.play(audio) if audio else None
    stream = streams(listen) if listen.phrases else None
    detector = UtteranceDetector(settings.endpoint)
    speech: asyncio.Queue[Boundary] = asyncio.Queue()

    def hear(pcm: bytes) -> None:
        if prompt is not None and not prompt.done() and not barge_in:
            return  # input during a prompt that cannot be interrupted is ignored
        assert stream is not None
        stream.feed(pcm)
        boundary = detector.push(pcm)
        if boundary is Boundary.STARTED:
            stream.speech_started()
        if boundary is not None:
            speech.put_nowait(boundary)

    if stream is not None:
        session.audio_sink = hear
    key_wait: asyncio.Task[str] | None = None
    speech_wait: asyncio.Task[Boundary] | None = None
    hangup_wait = asyncio.ensure_future(session.ended.wait())
    try:
        deadline: float | None = None if prompt is not None else loop.time() + listen.timeout_s
        speaking = False
        while True:
            if prompt is not None and prompt.done() and deadline is None and not speaking:
                deadline = loop.time() + listen.timeout_s
                if not barge_in:
                    _drop_keys(session)  # pressed while the prompt could not be interrupted
            key_wait = key_wait or asyncio.ensure_future(session.digits.get())
            speech_wait = speech_wait or asyncio.ensure_future(speech.get())
            waiting: set[asyncio.Future[Any]] = {key_wait, speech_wait, hangup_wait}
            if prompt is not None and not prompt.done():
                waiting.add(prompt)
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait(waiting, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if session.ended.is_set():
                return s.HungUp()
            if not done:  # the timer
                if speaking:
                    assert stream is not None
                    return await _recognised(stream)  # the longest utterance was reached
                return s.NoInput()
            if key_wait in done:
                key, key_wait = key_wait.result(), None
                if prompt is not None and not prompt.done():
                    if not barge_in:
                        continue
                    session.stop_playing()
                return s.Digit(key)
            if speech_wait in done:
                boundary, speech_wait = speech_wait.result(), None
                if boundary is Boundary.STARTED:
                    speaking = True
                    if barge_in and prompt is not None:
                        session.stop_playing()
                    deadline = loop.time() + settings.max_utterance_s
                else:
                    assert stream is not None
                    return await _recognised(stream)
    finally:
        session.audio_sink = None
        for waiter in (key_wait, speech_wait, hangup_wait):
            if waiter is not None:
                waiter.cancel()
        if key_wait is not None and key_wait.done() and not key_wait.cancelled():
            session.digits.put_nowait(key_wait.result())  # a key that raced the end: kept
        if stream is not None:
            await stream.close()


async def _recognised(stream: SpeechStream) -> s.Input:
    heard = await stream.finish()
    return s.Speech(heard.text, heard.confidence)


def _drop_keys(session: AudioSocketSession) -> None:
    while not session.digits.empty():
        session.digits.get_nowait()
