"""The IVR on Asterisk: the AudioSocket listener, the flows in service and one
:class:`~callcenter.ivr_media.call.IvrCall` per caller.

A caller in ``[ivr]`` connects with the UUID the dialplan put in ``CC_IVR_UUID``; the AMI
link reports that variable on the caller's channel (usually before the connection, at worst a
moment after), which is how the socket is matched to the call, its caller id and its
``CC_IVR_FLOW`` / ``CC_LANGUAGE``. A connection that cannot be matched, or that names a flow
not in service, is closed at once: the dialplan carries the caller on to ``[holding]`` and an
agent takes the call, so a broken IVR loses no caller.

Speech models load once, off the event loop, when the service starts (seconds); every listen
gets its own recogniser on the shared worker threads (:class:`SpeechWorkers`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os

from callcenter.audiosocket.server import AudioSocketServer
from callcenter.audiosocket.session import AudioSocketSession
from callcenter.config import AudioSocketSettings, IvrSettings, SpeechSettings
from callcenter.core.clock import Clock
from callcenter.core.pbx import ChannelInfo, Pbx
from callcenter.events import EventBus
from callcenter.ivr import steps as s
from callcenter.ivr.engine import IvrSession
from callcenter.ivr.model import Flow, Prompt, Retry
from callcenter.ivr.registry import FlowRegistry, UnknownFlow
from callcenter.ivr_media.call import IvrCall, IvrEffects
from callcenter.ivr_media.exchange import ExchangeSettings
from callcenter.ivr_media.heartbeat import IvrHeartbeat
from callcenter.ivr_media.speech_stream import SpeechStream
from callcenter.speech.backend import SpeechBackend, SpeechUnavailable
from callcenter.speech.prompts import PromptError, PromptLibrary
from callcenter.speech.utterance import EndpointSettings
from callcenter.speech.vosk_backend import VoskBackend, packaged_models
from callcenter.speech.workers import LIVE, SpeechWorkers
from callcenter.tasks import BackgroundTasks

log = logging.getLogger(__name__)

UUID_VARIABLE = "CC_IVR_UUID"
#: how long a connection waits for the AMI link to report its channel
MATCH_TIMEOUT_S = 3.0


def prompts_of(flow: Flow) -> list[Prompt]:
    """Every prompt a flow can play (node prompts, apologies, retries)."""
    found: list[Prompt] = []
    for node in flow.nodes.values():
        for name in ("prompt", "no_input", "no_match", "low_confidence", "invalid"):
            value = getattr(node, name, None)
            if isinstance(value, Prompt):
                found.append(value)
        retry = getattr(node, "retry", None)
        if isinstance(retry, Retry):
            found.extend(p for p in (retry.no_input, retry.no_match) if p is not None)
    return found


def speech_backend(settings: SpeechSettings) -> VoskBackend:
    """vosk with the configured models, plus the packaged Korean one unless ``ko`` is set."""
    return VoskBackend({**packaged_models(), **settings.models})


def exchange_settings(settings: SpeechSettings) -> ExchangeSettings:
    return ExchangeSettings(
        EndpointSettings(threshold=settings.speech_threshold,
                         end_silence_ms=settings.end_silence_ms),
        max_utterance_s=settings.max_utterance_s)


class IvrMediaService:
    def __init__(self, *, pbx: Pbx, bus: EventBus, clock: Clock, ivr: IvrSettings,
                 audiosocket: AudioSocketSettings, speech: SpeechSettings,
                 effects: IvrEffects, backend: SpeechBackend | None = None,
                 registry: FlowRegistry | None = None) -> None:
        self.pbx = pbx
        self.bus = bus
        self.clock = clock
        self.ivr = ivr
        self.effects = effects
        self.backend = backend if backend is not None else speech_backend(speech)
        prompt_root = speech.prompt_files if speech.prompt_files.is_dir() else None
        self.registry = registry or FlowRegistry(ivr.flows_dir, prompt_root)
        self.prompts = PromptLibrary(speech.prompt_cache, speech.prompt_files)
        self.exchange = exchange_settings(speech)
        self.server = AudioSocketServer(self.handle, audiosocket.host, audiosocket.port)
        self.workers = SpeechWorkers(max(2, os.cpu_count() or 2))
        self.calls: dict[str, IvrCall] = {}
        self.unmatched = 0
        #: why the listener is not running ("" while it is)
        self.listen_error = ""
        self._tasks = BackgroundTasks("ivr-media")
        self.advertise = audiosocket.advertise
        #: tells the dialplan the listener is up and where (set once listening)
        self.heartbeat: IvrHeartbeat | None = None

    async def start(self) -> None:
        """Listen, then load the speech models and render the prompts in the background (a
        caller arriving meanwhile waits for them; the server's start-up does not).

        A port that cannot be listened on is logged as an error and the server runs without
        its IVR: no heartbeat, so the dialplan takes callers straight on to ``[holding]``,
        where agents answer them — better than no server at all."""
        report = self.registry.reload()
        for issue in report.errors:
            log.error("ivr flow rejected: %s", issue)
        log.info("ivr flows in service: %s", ", ".join(self.registry.names()) or "none")
        try:
            await self.server.start()
        except OSError as exc:
            self.listen_error = f"cannot listen on {self.server.host}:{self.server.port}: {exc}"
            log.error("ivr disabled: %s; callers go straight to the queues", self.listen_error)
            return
        self.heartbeat = IvrHeartbeat(self.pbx, self.bus, self.clock, self.address())
        await self.heartbeat.start()
        self._tasks.spawn(self._load_speech())
        self._tasks.spawn(self._watch_flows())
        self._tasks.spawn(self._render_prompts())

    def address(self) -> str:
        """host:port Asterisk connects to (the advertised one, else the listener's own)."""
        if self.advertise:
            return self.advertise
        host = self.server.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"{host}:{self.server.port}"

    async def _load_speech(self) -> None:
        for language in sorted(self.backend.languages()):
            try:
                await self.workers.run(LIVE, functools.partial(self.backend.load, language))
            except SpeechUnavailable as exc:
                log.error("speech for %s unavailable: %s", language, exc)
                continue
            await self.workers.run(LIVE, functools.partial(self._check_phrases, language))
            log.info("speech model for %s loaded", language)

    async def stop(self) -> None:
        if self.heartbeat is not None:
            await self.heartbeat.stop()
        await self._tasks.close()
        await self.server.stop()
        self.workers.shutdown()

    def _check_phrases(self, language: str) -> None:
        """A phrase with a word the model does not know can never be heard: say so now."""
        for name in self.registry.names():
            flow = self.registry.get(name)
            for node in flow.nodes.values():
                phrases = getattr(node, "phrases", None)
                if not callable(phrases):
                    continue
                for word in self.backend.unknown_words(language, phrases(language)):
                    log.warning("ivr flow %s node %s: %r is not in the %s speech model's "
                                "vocabulary: it can never be recognised", name, node.node_id,
                                word, language)

    async def _watch_flows(self) -> None:
        """Hot reload: edited flow files serve the calls that start after the edit."""
        while True:
            await asyncio.sleep(self.ivr.reload_interval_s)
            if self.registry.changed():
                report = await asyncio.to_thread(self.registry.reload)
                for issue in report.errors:
                    log.error("ivr flow rejected (the previous version stays): %s", issue)
                log.info("ivr flows reloaded: %s", ", ".join(report.loaded) or "none")

    async def _render_prompts(self) -> None:
        """Render every fixed prompt of the flows now, so no caller waits for espeak-ng (a
        prompt with call data in it, ``{name}``, is rendered when it is first played)."""
        rendered = 0
        for name in self.registry.names():
            flow = self.registry.get(name)
            for prompt in prompts_of(flow):
                for code, part in prompt.parts.items():
                    if part.text and "{" not in part.text:
                        try:
                            await self.prompts.speech(part.text, flow.language(code).voice)
                            rendered += 1
                        except PromptError as exc:
                            log.error("ivr flow %s: prompt not rendered: %s", name, exc)
        log.info("ivr prompts ready: %d", rendered)

    # --- one caller ------------------------------------------------------------------------

    async def handle(self, session: AudioSocketSession) -> None:
        channel = await self._channel_of(session)
        if channel is None:
            self.unmatched += 1
            log.warning("audiosocket %s: no channel with %s=%s; the caller goes on to holding",
                        session.call_uuid, UUID_VARIABLE, session.call_uuid)
            return
        variables = channel.variables
        name = variables.get("CC_IVR_FLOW") or self.ivr.default_flow
        try:
            flow = self.registry.get(name)
        except UnknownFlow as exc:
            log.error("ivr %s: %s; the caller goes on to holding", channel.call_id, exc)
            return
        caller = s.CallerInfo(channel.call_id, channel.channel_id, channel.caller_num,
                              variables.get("CC_LANGUAGE", ""))
        call = IvrCall(IvrSession(flow, caller, self.clock), session, pbx=self.pbx,
                       bus=self.bus, prompts=self.prompts, streams=self._stream,
                       effects=self.effects, settings=self.exchange)
        self.calls[session.call_uuid] = call
        try:
            await call.run()
        finally:
            del self.calls[session.call_uuid]

    async def _channel_of(self, session: AudioSocketSession) -> ChannelInfo | None:
        loop = asyncio.get_running_loop()
        until = loop.time() + MATCH_TIMEOUT_S
        while not session.ended.is_set():
            for channel in self.pbx.calls.live_channels():
                if channel.variables.get(UUID_VARIABLE) == session.call_uuid:
                    return channel
            if loop.time() >= until:
                return None
            await asyncio.sleep(0.02)
        return None

    def _stream(self, listen: s.Listen) -> SpeechStream | None:
        if listen.language not in self.backend.languages():
            return None  # keys only in a language without a model
        backend = self.backend
        return SpeechStream(lambda: backend.recognizer(listen.language, listen.phrases),
                            self.workers)
