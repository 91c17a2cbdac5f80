"""A SIP agent phone played by SIPp inside the sandbox: registers, rings, answers one call."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

SCENARIOS = Path(__file__).resolve().parent / "sipp"
INNER_DIR = "/tmp/cc-sipp"


class SippAgent:
    """Agent ``agent_id`` (plain-SIP endpoints 2001..2010, password ``secret<id>``)."""

    def __init__(self, sandbox: Any, agent_id: str, port: int, ring_ms: int = 2000,
                 echo: bool = False) -> None:
        self.sandbox = sandbox
        self.agent_id = agent_id
        self.port = port
        self.ring_ms = ring_ms
        #: send the audio it hears back (SIPp -rtp_echo on media port ``port + 2``), like a
        #: phone whose user talks: without it the agent's leg carries audio one way only
        self.echo = echo
        self.process: asyncio.subprocess.Process | None = None

    def _install_scenarios(self) -> None:
        target = self.sandbox.path(INNER_DIR)
        target.mkdir(parents=True, exist_ok=True)
        for scenario in SCENARIOS.glob("*.xml"):
            shutil.copy(scenario, target / scenario.name)

    def _argv(self, scenario: str, *extra: str, calls: int = 1) -> list[str]:
        return self.sandbox.sipp_command(
            "-sf", f"{INNER_DIR}/{scenario}", "-i", "127.0.0.1", "-p", str(self.port),
            "-m", str(calls), "-nostdin", *extra, f"127.0.0.1:{self.sandbox.settings.sip_port}")

    async def start(self) -> None:
        """Register (the Contact is this port), then wait for one INVITE."""
        self._install_scenarios()
        registered = await asyncio.to_thread(
            subprocess.run,
            self._argv("register.xml", "-s", self.agent_id, "-au", self.agent_id,
                       "-ap", f"secret{self.agent_id}", "-key", "contact_port", str(self.port),
                       "-timeout", "10"),
            capture_output=True, text=True, timeout=20, check=False)
        if registered.returncode != 0:
            raise RuntimeError(f"SIPp registration of {self.agent_id} failed: "
                               f"{registered.stdout[-800:]} {registered.stderr[-800:]}")
        await self._wait_contact()
        self.process = await asyncio.create_subprocess_exec(
            # -aa answers stray OPTIONS/NOTIFY; a few "calls" so one stray request that
            # is not an INVITE cannot end the phone before the real call arrives
            *self._argv("answer.xml", "-d", str(self.ring_ms), "-timeout", "60", "-aa",
                        *(("-rtp_echo", "-mp", str(self.port + 2)) if self.echo else ()),
                        calls=5),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        await self._wait_listening()

    async def unregister(self, timeout: float = 5.0) -> None:
        """Remove every contact of this agent's AOR, whoever registered it (REGISTER with
        ``Contact: *`` and ``Expires: 0``), and wait until Asterisk shows none."""
        self._install_scenarios()
        done = await asyncio.to_thread(
            subprocess.run,
            self._argv("unregister.xml", "-s", self.agent_id, "-au", self.agent_id,
                       "-ap", f"secret{self.agent_id}", "-timeout", "10"),
            capture_output=True, text=True, timeout=20, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"SIPp unregistration of {self.agent_id} failed: "
                               f"{done.stdout[-800:]} {done.stderr[-800:]}")
        deadline = asyncio.get_running_loop().time() + timeout
        while f" {self.agent_id}/sip:" in await asyncio.to_thread(
                self.sandbox.cli, "pjsip show contacts"):
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"Asterisk still shows a contact of {self.agent_id}")
            await asyncio.sleep(0.05)

    async def _wait_contact(self, timeout: float = 5.0) -> None:
        """Until Asterisk's AOR holds this port as the contact. The 200 OK to REGISTER can
        come before the contact replaced the previous one (an earlier test's phone on another
        port): an INVITE sent then goes to the dead port and the ring fails."""
        if self.agent_id == "trunk":
            return  # the carrier's contact is static (pjsip.conf)
        wanted = f"{self.agent_id}/sip:{self.agent_id}@127.0.0.1:{self.port}"
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            shown = await asyncio.to_thread(self.sandbox.cli, "pjsip show contacts")
            if wanted in shown:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"Asterisk never showed the contact {wanted}")

    async def _wait_listening(self, timeout: float = 5.0) -> None:
        """Until SIPp holds its UDP port (an INVITE sent earlier would be lost)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            assert self.process is not None
            if self.process.returncode is not None:
                err = await self.process.stderr.read() if self.process.stderr else b""
                raise RuntimeError(f"SIPp agent exited: {err.decode()[-800:]}")
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                return  # taken: SIPp is listening
            finally:
                probe.close()
            await asyncio.sleep(0.05)
        raise RuntimeError(f"SIPp agent did not bind 127.0.0.1:{self.port}")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class SippCarrier(SippAgent):
    """The carrier's far end of the trunk (the called customers): answers every call the
    trunk sends after ``ring_ms`` and waits for the BYE. No registration: the trunk's AOR
    points at ``sandbox.settings.trunk_port``."""

    def __init__(self, sandbox: Any, ring_ms: int = 500, calls: int = 10) -> None:
        super().__init__(sandbox, "trunk", port=sandbox.settings.trunk_port, ring_ms=ring_ms)
        self.calls = calls

    async def start(self) -> None:
        self._install_scenarios()
        self.process = await asyncio.create_subprocess_exec(
            *self._argv("answer.xml", "-d", str(self.ring_ms), "-timeout", "60", "-aa",
                        calls=self.calls),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        await self._wait_listening()
