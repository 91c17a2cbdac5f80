"""BackgroundTasks: held until done, failures logged when they happen, the rest cancelled."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.tasks import BackgroundTasks


async def test_failures_are_logged_and_close_cancels_the_rest(
        caplog: pytest.LogCaptureFixture) -> None:
    tasks = BackgroundTasks("test service")
    finished: list[str] = []

    async def ok() -> None:
        finished.append("ok")

    async def boom() -> None:
        raise RuntimeError("lost the line")

    async def forever() -> None:
        await asyncio.sleep(3600)

    tasks.spawn(ok())
    tasks.spawn(boom())
    sleeper = tasks.spawn(forever())
    await asyncio.sleep(0.01)
    assert finished == ["ok"] and len(tasks) == 1
    assert "test service: background task failed" in caplog.text
    assert "lost the line" in caplog.text
    await tasks.close()
    assert sleeper.cancelled() and len(tasks) == 0
