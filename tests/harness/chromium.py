"""Chromium (Debian's package) driven over the DevTools protocol: a page that lives in real
time, read with JavaScript and photographed.

``--remote-debugging-port=0`` and a WebSocket rather than ``--dump-dom``: pages that read
``/ws/events`` must run in real time for a while (``--dump-dom`` runs on virtual time, which
does not wait for a WebSocket), and the same page is read several times and screenshotted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp


def write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class DevTools:
    """The few DevTools-protocol calls the test needs, on one page target."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=30)
            if message.get("id") == ident:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def screenshot(self, path: Path) -> None:
        result = await self.call("Page.captureScreenshot", format="png")
        await asyncio.to_thread(write_file, path, base64.b64decode(result["data"]))


@contextlib.asynccontextmanager
async def chromium_page(chromium: str, url: str, profile: Path, lang: str,
                        extra_args: tuple[str, ...] = ()) -> AsyncIterator[DevTools]:
    await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--hide-scrollbars", "--window-size=1920,1080", f"--accept-lang={lang}",
        f"--user-data-dir={profile}", "--remote-debugging-port=0", *extra_args, url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            assert process.returncode is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium opened no DevTools port"
            await asyncio.sleep(0.1)
        port = port_file.read_text().split()[0]
        async with aiohttp.ClientSession() as session:
            target = None
            while target is None:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    pages = [t for t in await resp.json() if t["type"] == "page"]
                target = pages[0] if pages else None
                assert time.monotonic() < deadline, "no page in chromium"
                if target is None:
                    await asyncio.sleep(0.1)
            async with session.ws_connect(target["webSocketDebuggerUrl"],
                                          max_msg_size=0) as ws:
                page = DevTools(ws)
                # a wall screen: full HD
                await page.call("Emulation.setDeviceMetricsOverride", width=1920,
                                height=1080, deviceScaleFactor=1, mobile=False)
                yield page
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def wait_for(page: DevTools, expression: str, timeout_s: float = 15.0) -> Any:
    """Poll ``expression`` in the page until it is truthy; its value. An expression that throws
    counts as not yet (the next page may still be loading: its elements are not there); the
    last error is in the failure message."""
    deadline = time.monotonic() + timeout_s
    error = ""
    while True:
        try:
            value = await page.evaluate(expression)
        except AssertionError as exc:  # the page threw (see DevTools.evaluate)
            value, error = None, str(exc)[:500]
        if value:
            return value
        assert time.monotonic() < deadline, \
            f"page never satisfied: {expression}" + (f" (last error: {error})" if error else "")
        await asyncio.sleep(0.1)


async def sign_in_page(page: DevTools, username: str, password: str,
                       screenshot: Path | None = None, *, back: bool = True) -> None:
    """On the sign-in page the server sent the browser to: type the login, submit, and wait
    until the browser is back on the page it asked for (``?next=``). ``back=False``: do not
    wait for that page (an account it turns away at once may never be seen there)."""
    await wait_for(page, "location.pathname === '/login/' && "
                         "document.getElementById('form') !== null && "
                         "document.getElementById('form').dataset.ready === 'yes' && "
                         "document.getElementById('submit').textContent.length > 0")
    target = await page.evaluate("new URLSearchParams(location.search).get('next')")
    if screenshot is not None:
        await page.screenshot(screenshot)
    await page.evaluate(
        f"document.getElementById('username').value = {json.dumps(username)};"
        f"document.getElementById('password').value = {json.dumps(password)};"
        "document.getElementById('submit').click();")
    if back:
        await wait_for(page, f"location.pathname + location.search === {json.dumps(target)}")


FAKE_MEDIA = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              "--autoplay-policy=no-user-gesture-required")
"""A microphone that plays a test tone, allowed without asking (softphone tests)."""
