"""The IVR service around the sessions: a port already taken leaves the server running
without its IVR; a socket that matches no channel is closed (the caller goes on to holding)."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from callcenter.audiosocket.frames import FrameType
from callcenter.config import AudioSocketSettings, IvrSettings, SpeechSettings
from callcenter.core.clock import RealtimeClock
from callcenter.events import EventBus
from callcenter.ivr_media.service import IvrMediaService
from callcenter.speech.vosk_backend import VoskBackend
from tests.unit.test_audiosocket_server import FakeAsterisk

pytestmark = pytest.mark.unit

FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows"


class NoCalls:
    def live_channels(self) -> list[Any]:
        return []


class QuietPbx:
    name = "quiet"
    calls = NoCalls()

    def __init__(self) -> None:
        #: the dialplan globals the IVR's heartbeat set
        self.globals: dict[str, str] = {}

    async def set_global(self, name: str, value: str) -> None:
        self.globals[name] = value


def service(port: int, tmp_path: Path) -> IvrMediaService:
    return IvrMediaService(
        pbx=QuietPbx(), bus=EventBus(), clock=RealtimeClock(),  # type: ignore[arg-type]
        ivr=IvrSettings(flows_dir=FLOWS), audiosocket=AudioSocketSettings(port=port),
        speech=SpeechSettings(prompt_cache=tmp_path / "prompts"),
        effects=None,  # type: ignore[arg-type]
        backend=VoskBackend({}))


async def test_a_port_already_taken_leaves_the_server_running_without_ivr(
        tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ivr = service(taken.getsockname()[1], tmp_path)
        await ivr.start()  # no exception: the server goes on
        assert "cannot listen on 127.0.0.1" in ivr.listen_error
        await ivr.stop()
        assert ivr.pbx.globals == {}  # type: ignore[attr-defined]  # no beat: callers skip it


async def test_a_socket_matching_no_channel_is_closed(tmp_path: Path) -> None:
    ivr = service(0, tmp_path)
    await ivr.start()
    try:
        assert ivr.listen_error == "" and "main" in ivr.registry
        far = await FakeAsterisk.call(ivr.server.port, str(uuid.uuid4()))
        await far.receive_until(FrameType.HANGUP, timeout=6)
        assert await far.closed()
        assert ivr.unmatched == 1 and ivr.calls == {}
        # listening: the dialplan is told where, and that it is alive
        beat = ivr.pbx.globals  # type: ignore[attr-defined]
        assert beat["CALLCENTER_AUDIOSOCKET"] == f"127.0.0.1:{ivr.server.port}"
        assert beat["CC_IVR_ALIVE"].isdigit()
    finally:
        await ivr.stop()
    assert ivr.pbx.globals["CC_IVR_ALIVE"] == ""  # type: ignore[attr-defined]
