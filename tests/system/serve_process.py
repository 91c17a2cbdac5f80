"""``callcenter serve`` as an operator runs it: a subprocess on a free port, its log in a file,
waited for until ``/health`` says it is up (linked to Asterisk and resynced)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


def start_serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``callcenter serve`` with ``env``. Its IVR is off unless ``env`` turns it on: a server
    with an IVR beats ``CC_IVR_ALIVE`` and takes the sandbox's ``[inbound]`` callers into its
    flows (callcenter/ivr_media/heartbeat.py), which only the IVR's own tests want."""
    env = {"CALLCENTER_AUDIOSOCKET__ENABLED": "false", **env}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "callcenter", "serve"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)


async def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.poll() is not None:
                raise AssertionError(f"serve exited: {tail(log)}")
            try:
                async with session.get(f"{base}/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"serve never became healthy: {tail(log)}")


PASSWORD = "system test secret"


def add_account(env: dict[str, str], username: str, role: str,
                agent_id: str | None = None) -> None:
    """``callcenter user add`` on the server's database, as an operator provisions a login."""
    extra = ["--agent-id", agent_id] if agent_id else []
    done = subprocess.run([sys.executable, "-m", "callcenter", "user", "add", username,
                           "--role", role, "--password-stdin", *extra], env=env,
                          input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


async def login_headers(base: str, username: str) -> dict[str, str]:
    """Sign in over HTTP as a script does; the header that carries the session."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/api/auth/login",
            json={"username": username, "password": PASSWORD, "bearer": True}) as answer:
        assert answer.status == 200, await answer.text()
        return {"Authorization": f"Bearer {(await answer.json())['token']}"}
