"""Recogniser worker threads: the caller who stopped speaking is served first."""

from __future__ import annotations

import asyncio
import threading

import pytest

from callcenter.speech.workers import FINISH, LIVE, SpeechWorkers

pytestmark = pytest.mark.unit


async def test_a_finishing_utterance_goes_ahead_of_calls_still_speaking() -> None:
    workers = SpeechWorkers(threads=1)
    gate = threading.Event()
    order: list[str] = []
    busy = workers.run(LIVE, gate.wait)  # the one thread is busy
    live = [workers.run(LIVE, lambda i=i: order.append(f"live{i}")) for i in range(3)]
    finish = workers.run(FINISH, lambda: order.append("finish") or "result")
    gate.set()
    assert await finish == "result"
    await asyncio.gather(busy, *live)
    assert order == ["finish", "live0", "live1", "live2"]
    workers.shutdown()


async def test_errors_reach_the_awaiting_coroutine_and_shutdown_refuses_new_work() -> None:
    workers = SpeechWorkers(threads=2)

    def broken() -> None:
        raise ValueError("bad audio")

    with pytest.raises(ValueError, match="bad audio"):
        await workers.run(LIVE, broken)
    assert await workers.run(LIVE, lambda: 42) == 42
    workers.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        await workers.run(LIVE, lambda: 1)
