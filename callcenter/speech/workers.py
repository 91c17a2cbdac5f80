"""Worker threads for recognisers, with the callers who stopped speaking served first.

Decoding is CPU-bound and shared by every call on the machine. A caller who has finished an
utterance is waiting for the answer; a caller still speaking is not (their audio only has to
be decoded by the time they stop). With a plain first-in-first-out pool, a finished
utterance's last decode queues behind every other call's running audio, and under load that
queue is the latency. Here jobs have a priority (:data:`FINISH` before :data:`LIVE`, then in
order of submission) and run on ``threads`` daemon threads; vosk's C calls release the GIL,
so two threads use two cores.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

FINISH = 0
LIVE = 1

_Job = tuple[int, int, Callable[[], Any] | None, asyncio.AbstractEventLoop | None,
             "asyncio.Future[Any] | None"]


class SpeechWorkers:
    def __init__(self, threads: int = 2, name: str = "speech") -> None:
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._order = itertools.count()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(threads)]
        self._closed = False
        for thread in self._threads:
            thread.start()

    def run(self, priority: int, fn: Callable[[], T]) -> asyncio.Future[T]:
        """``fn()`` on a worker thread; the future completes on the calling loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._closed:
            future.set_exception(RuntimeError("speech workers are shut down"))
            return future
        self._jobs.put((priority, next(self._order), fn, loop, future))
        return future

    def shutdown(self) -> None:
        """Let the threads end once the jobs already queued are done."""
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._jobs.put((LIVE + 1, next(self._order), None, None, None))

    @property
    def waiting(self) -> int:
        return self._jobs.qsize()

    def _work(self) -> None:
        while True:
            _, _, fn, loop, future = self._jobs.get()
            if fn is None or loop is None or future is None:
                return
            if future.cancelled():
                continue
            try:
                result = fn()
            except BaseException as exc:  # handed to the awaiting coroutine
                _deliver(loop, future, None, exc)
            else:
                _deliver(loop, future, result, None)


def _deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
             exc: BaseException | None) -> None:
    def settle() -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass
