"""The wallboard in a real Chromium (headless) against ``callcenter demo`` built in-process: it
draws the demo's queue and agents, and at the moment it shows, its figures are the server's own.

"The moment it shows": the page writes the last event it applied (``type@at``) on its body;
the test records the server's state (agent board, the queue's ACD) after every run of events
(a ``call_soon`` after an event runs once the synchronous cascade of a change is over, so the
state then is exactly what the events published so far say). A page read whose last event
ends such a run is compared with the state recorded there; other reads are taken again.
The figures the page counts itself since it opened (offered, answered, abandoned, ASA, service
level) are recomputed here from the server's events between the page's first and last event.

Chromium is driven over the DevTools protocol (``--remote-debugging-port``, a WebSocket) rather
than ``--dump-dom``: the page must live in real time for a few seconds (its own counts fill up
while the demo runs), and the same page is read, switched to English and photographed.
Screenshots go to ``tmp_path``, or to ``$CALLCENTER_SCREENSHOTS`` when set (the committed
``docs/screenshots/wallboard-{en,zh}.png`` come from ``CALLCENTER_SCREENSHOTS=docs/screenshots``).

Chinese needs a CJK font in the machine (Debian's ``fonts-noto-cjk``, installed by
``scripts/test.sh``): without one the glyphs are boxes, which this test cannot see but a
screenshot shows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.acd.agents import AgentBoard
from callcenter.config import Settings
from callcenter.events import DomainEvent, EventBus
from callcenter.sim.demo import DEMO_KEY, DemoOptions, build_demo_app, prepare_crm
from callcenter.web.state import BUS
from tests.accounts import PASSWORD, add_user, sign_in
from tests.harness.chromium import DevTools, chromium_page, sign_in_page
from tests.harness.require import require, require_binary

pytestmark = pytest.mark.browser

SL_SECONDS = 20.0  # the page's default service-level threshold


def require_cjk_font() -> None:
    """Chinese labels need a CJK font, or Chromium draws boxes (the DOM text is still right)."""
    fc_list = shutil.which("fc-list")
    found = fc_list is not None and subprocess.run(
        [fc_list, ":lang=zh"], capture_output=True, text=True, check=False).stdout.strip()
    if not found:
        require("A CJK font", "no font covers Chinese; apt-get install fonts-noto-cjk")


def js_number(value: float) -> str:
    """``String(x)`` in JavaScript for an epoch time (both print the shortest round trip)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def key_of(event: DomainEvent) -> str:
    return f"{event.type}@{js_number(event.at)}"


@dataclass
class Moment:
    agents: dict[str, str]
    registered: dict[str, bool]
    waiting: int
    answered: int
    abandoned: int


@dataclass
class ServerRecord:
    """Every event published (in order) and the server's state after each run of events."""

    bus: EventBus
    board: AgentBoard
    acd: Any
    events: list[DomainEvent] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    moments: dict[str, Moment] = field(default_factory=dict)
    pending: bool = False

    def __post_init__(self) -> None:
        self.bus.add_handler(self.on_event)

    def on_event(self, event: DomainEvent) -> None:
        self.index[key_of(event)] = len(self.events)
        self.events.append(event)
        if not self.pending:
            self.pending = True
            asyncio.get_running_loop().call_soon(self.record)

    def record(self) -> None:
        self.pending = False
        if not self.events:
            return
        self.moments[key_of(self.events[-1])] = Moment(
            agents={a.agent_id: a.state.value for a in self.board},
            registered={a.agent_id: a.registered for a in self.board},
            waiting=self.acd.waiting, answered=self.acd.answered, abandoned=self.acd.abandoned)

    def between(self, first: str, last: str) -> list[DomainEvent]:
        return self.events[self.index[first]:self.index[last] + 1]


READ_PAGE = """(() => {
  if (!document.body) return {};  // still loading
  const body = document.body.dataset;
  const tile = document.querySelector('.qtile[data-queue="support"]');
  const cell = (name) => tile?.querySelector(`[data-figure="${name}"] .value`)?.textContent;
  const totals = tile?.querySelector('.totals');
  return {
    ready: body.ready || "", last: body.lastEvent || "", from: body.countedFrom || "",
    lang: document.documentElement.lang,
    agents: Object.fromEntries([...document.querySelectorAll('[data-agent]')].map((a) => [
      a.dataset.agent, {state: a.dataset.state,
                        registered: a.querySelector('[data-registered]')?.dataset.registered,
                        label: a.querySelector('.state').textContent}])),
    counts: Object.fromEntries([...document.querySelectorAll('[data-count]')].map(
      (c) => [c.dataset.count, c.textContent])),
    queue: tile ? {
      waiting: tile.querySelector('[data-figure="waiting"]').textContent,
      answered: totals?.dataset.answered, abandoned: totals?.dataset.abandoned,
      sl: cell("service-level"), asa: cell("asa"), abandonedSince: cell("abandoned"),
      offeredAnswered: cell("offered-answered"), readyPaused: cell("agents-ready-paused"),
    } : null,
    ivr: Object.fromEntries([...document.querySelectorAll('.ivr-tile')].map((tile) => [
      tile.dataset.ivrFlow, {
        now: tile.querySelector('[data-figure="in-ivr"]').textContent,
        contained: tile.querySelector('[data-figure="contained"] .value').textContent,
        toAgents: tile.querySelector('[data-figure="to-agents"] .value').textContent,
        hungUp: tile.querySelector('[data-figure="hung-up-in-ivr"] .value').textContent}])),
    history: {
      loading: document.getElementById('history-charts')?.dataset.loading,
      intervals: [...document.querySelectorAll('[data-chart="calls"] g[data-interval]')].map(
        (g) => [Number(g.dataset.interval), Number(g.dataset.offered),
                Number(g.dataset.answered), Number(g.dataset.abandoned)]),
      sl: Object.fromEntries([...document.querySelectorAll(
        '[data-chart="service-level"] [data-sl]')].map(
        (d) => [d.dataset.interval, Number(d.dataset.sl)])),
    },
    text: document.body.innerText,
  };
})()"""


async def read_consistent(page: DevTools, record: ServerRecord) -> tuple[dict[str, Any], Moment]:
    """A read of the page whose last event ends a recorded run of the server's events."""
    for _ in range(400):
        seen = await page.evaluate(READ_PAGE)
        if (seen.get("ready") == "yes" and seen.get("queue") is not None
                and seen.get("last") in record.moments and seen.get("from") in record.index):
            return seen, record.moments[seen["last"]]
        await asyncio.sleep(0.02)
    raise AssertionError(f"the page never showed the end of a run of events: {seen}")


async def server_intervals(client: TestClient[Any, Any], start: float,
                           last_at: float) -> dict[float, list[int]]:
    """Per interval from ``start`` to ``last_at`` (inclusive), all queues: offered, answered,
    abandoned, answered within and abandoned within the threshold, from the queue_log."""
    iso = lambda epoch: dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()  # noqa: E731
    resp = await client.get("/api/queues/stats", params={
        "interval": "900", "threshold": str(int(SL_SECONDS)), "from": iso(start),
        "to": iso(last_at + 0.001)})
    assert resp.status == 200, await resp.text()
    server: dict[float, list[int]] = {}
    for queue in (await resp.json())["queues"]:
        for row in queue["intervals"]:
            key = dt.datetime.fromisoformat(row["start"]).timestamp()
            sums = server.setdefault(key, [0, 0, 0, 0, 0])
            for i, name in enumerate(("offered", "answered", "abandoned",
                                      "answered_within_threshold",
                                      "abandoned_within_threshold")):
                sums[i] += row[name]
    return server


async def quiet_queues(record: ServerRecord, demo: Any, calm_s: float = 1.5,
                       limit_s: float = 30.0) -> None:
    """Stop new callers and wait until no queue event came for ``calm_s``: then "the page's
    events" and "the queue_log rows" are the same set, whatever order their times are in
    (events are not published in time order: a cut by time is no cut of the stream)."""
    await demo.stop()
    deadline = time.monotonic() + limit_s
    while True:
        count = sum(1 for e in record.events if e.type.startswith("queue."))
        await asyncio.sleep(calm_s)
        if sum(1 for e in record.events if e.type.startswith("queue.")) == count:
            return
        assert time.monotonic() < deadline, "the queues never went quiet"


async def check_history(page: DevTools, record: ServerRecord,
                        client: TestClient[Any, Any]) -> dict[str, Any]:
    """With the queues quiet, the page's intervals (rows read at its snapshot + events
    counted since) equal the server's figures recomputed from the whole queue_log."""
    for _ in range(100):  # the page has every event the server published
        seen = await page.evaluate(READ_PAGE)
        if seen.get("last") == key_of(record.events[-1]):
            break
        await asyncio.sleep(0.05)
    history = seen["history"]
    assert history["loading"] == "no" and history["intervals"], history
    page_sums = {start: [offered, answered, abandoned]
                 for start, offered, answered, abandoned in history["intervals"]}
    assert sum(sum(v) for v in page_sums.values()) > 0, "no call in today's chart"
    until = max(e.at for e in record.events) + 1
    deadline = time.monotonic() + 5
    while True:  # the queue-log writer may be a moment behind the events
        server = await server_intervals(client, history["intervals"][0][0], until)
        if all(page_sums.get(key, [0, 0, 0]) == sums[:3] for key, sums in server.items()) or (
                time.monotonic() > deadline):
            break
        await asyncio.sleep(0.2)
    for key, sums in server.items():
        assert page_sums.get(key, [0, 0, 0]) == sums[:3], (key, page_sums.get(key), sums)
        judged = sums[1] + sums[2] - sums[4]
        if judged:
            assert abs(history["sl"][str(int(key))] - 100 * sums[3] / judged) < 0.06, key
    assert all(key in server or v == [0, 0, 0] for key, v in page_sums.items())
    return seen


def duration(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}"


def check_against_server(seen: dict[str, Any], moment: Moment, record: ServerRecord,
                         state_labels: dict[str, str]) -> None:
    # agents: every one, in the server's state, with its phone's registration
    assert {a: v["state"] for a, v in seen["agents"].items()} == moment.agents
    for agent_id, shown in seen["agents"].items():
        assert shown["registered"] == ("yes" if moment.registered[agent_id] else "no"), agent_id
        assert shown["label"] == state_labels[moment.agents[agent_id]]
    per_state: dict[str, int] = {}
    for state in moment.agents.values():
        per_state[state] = per_state.get(state, 0) + 1
    chips = {state: int(re.findall(r"\d+", text)[-1]) for state, text in seen["counts"].items()
             if state != "no_phone"}
    assert chips == per_state
    unregistered = sum(1 for a, r in moment.registered.items()
                       if not r and moment.agents[a] != "offline")
    if unregistered:
        assert re.findall(r"\d+", seen["counts"]["no_phone"]) == [str(unregistered)]
    # the queue: the ACD's own figures
    queue = seen["queue"]
    assert int(queue["waiting"]) == moment.waiting
    assert (int(queue["answered"]), int(queue["abandoned"])) == (moment.answered,
                                                                 moment.abandoned)
    assert queue["readyPaused"] == f"{per_state.get('ready', 0)} / {per_state.get('paused', 0)}"
    # what the page counted since it opened, from the server's events over the same span
    # the IVR tile: callers in the flow at the page's last event, exits counted since
    in_ivr: set[str] = set()
    for event in record.events[:record.index[seen["last"]] + 1]:
        if event.type in ("ivr.started", "ivr.node"):
            in_ivr.add(event.call_id)  # type: ignore[attr-defined]
        elif event.type in ("ivr.exit", "call.ended"):
            in_ivr.discard(event.call_id)  # type: ignore[attr-defined]
    exits = [e.to_dict() for e in record.between(seen["from"], seen["last"])
             if e.type == "ivr.exit"]
    if in_ivr or exits:
        tile = seen["ivr"]["main"]
        assert int(tile["now"]) == len(in_ivr), (tile, in_ivr)
        assert int(tile["toAgents"]) == sum(1 for e in exits if e["outcome"] == "queue")
        assert int(tile["hungUp"]) == sum(1 for e in exits if e["outcome"] == "hung_up")
        done = sum(1 for e in exits if e["outcome"] == "completed")
        if exits:  # rounded by the page (half up) to a whole per cent
            assert abs(int(tile["contained"].split()[0]) - 100 * done / len(exits)) <= 0.5
        else:
            assert tile["contained"] == "—"
    events = [e.to_dict() for e in record.between(seen["from"], seen["last"])
              if getattr(e, "queue", "support") == "support"]  # the tile read is support's
    entered = [e for e in events if e["type"] == "queue.entered" and not e["requeued"]]
    connected = [e["waited_s"] for e in events if e["type"] == "queue.connected"]
    abandoned = [e["waited_s"] for e in events if e["type"] == "queue.abandoned"]
    assert queue["offeredAnswered"] == f"{len(entered)} / {len(connected)}"
    assert queue["abandonedSince"].split(" ")[0] == str(len(abandoned))
    if connected:
        assert queue["asa"] == duration(sum(connected) / len(connected))
    else:
        assert queue["asa"] == "—"
    base = len(connected) + sum(1 for w in abandoned if w > SL_SECONDS)
    if base:
        level = 100 * sum(1 for w in connected if w <= SL_SECONDS) / base
        assert abs(int(queue["sl"].split()[0]) - level) <= 0.5, (queue["sl"], level)
    else:
        assert queue["sl"] == "—"


ZH_STATES = {"ready": "就绪", "reserved": "振铃中", "on_call": "通话中", "wrap_up": "话后处理",
             "paused": "暂停", "offline": "离线"}
EN_STATES = {"ready": "Ready", "reserved": "Ringing", "on_call": "On call",
             "wrap_up": "Wrap-up", "paused": "Paused", "offline": "Offline"}


async def test_the_wallboard_shows_the_demo_as_the_server_sees_it(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "Chromium", "apt-get install chromium")
    require_cjk_font()
    shots = Path(os.environ.get("CALLCENTER_SCREENSHOTS") or tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await prepare_crm(url, 200)
    options = DemoOptions(agents=8, calls_per_minute=12, speed=10, talk_s=30, wrap_up_s=20,
                          patience_s=90, break_every_s=15, break_s=30)
    app = await build_demo_app(Settings(database_url=url), options)
    demo = app[DEMO_KEY]
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    record = ServerRecord(app[BUS], demo.board, demo.acd)
    try:
        await asyncio.sleep(1.5)  # 15 simulated seconds: callers are in line, agents busy
        await sign_in(client, "supervisor")  # the test reads the same figures over REST
        name = await add_user(client, "supervisor")
        # no ?lang=: the page takes the browser's language (navigator.language: zh-CN)
        async with chromium_page(chromium, str(client.make_url("/wallboard/")),
                                 tmp_path / "profile", "zh-CN") as page:
            # signed in on the sign-in page, in Chinese as well
            await sign_in_page(page, name, PASSWORD, screenshot=shots / "login-zh.png")
            await read_consistent(page, record)
            demo.pbx.unregister_endpoint("PJSIP/1003")  # its phone goes: the board shows it
            await asyncio.sleep(5.0)  # the page's own counts fill up (50 simulated seconds)
            seen, moment = await read_consistent(page, record)
            assert seen["lang"] == "zh-CN"
            assert moment.registered["1003"] is False
            check_against_server(seen, moment, record, ZH_STATES)
            for words in ("排队中", "最长等待", "服务水平", "平均应答时间", "坐席", "图例"):
                assert words in seen["text"], words
            assert re.search(r"自 \d\d:\d\d 起", seen["text"]), "counted figures say since when"
            assert seen["queue"]["offeredAnswered"] != "0 / 0", "nothing counted in 5 s"
            assert "为何选这位坐席" in seen["text"] and "fifo-longest-idle" in seen["text"]
            assert "每 15 分钟" in seen["text"] and seen["history"]["intervals"]
            await page.screenshot(shots / "wallboard-zh.png")

            await page.evaluate("document.getElementById('lang').click()")
            await asyncio.sleep(0.5)
            seen, moment = await read_consistent(page, record)
            assert seen["lang"] == "en"
            check_against_server(seen, moment, record, EN_STATES)
            for words in ("waiting", "longest wait", "Service level", "ASA", "Legend",
                          "why this agent"):
                assert words in seen["text"], words
            assert re.search(r"since \d\d:\d\d", seen["text"])
            assert "排队中" not in seen["text"]
            assert "Today by 15 minutes" in seen["text"]
            await page.screenshot(shots / "wallboard-en.png")
            # the page's listen button is a write: its session's CSRF token goes with it
            spied = len([e for e in record.events if e.type == "spy.started"])
            # the demo runs 10x: a conversation can end between the page's render and the
            # click, and the server then refuses with that reason; only that is tried again
            await page.evaluate("""(() => {
              window.__spyAnswers = [];
              const send = window.fetch;
              window.fetch = async (...args) => {
                const resp = await send(...args);
                if (String(args[0]).endsWith('/spy')) {
                  const body = await resp.clone().json().catch(() => ({}));
                  window.__spyAnswers.push({ status: resp.status, body });
                }
                return resp;
              };
            })()""")
            for attempt in range(3):
                clicked = await page.evaluate("""(() => {
                  document.getElementById('spy-phone').value = 'PJSIP/1008';
                  const button = document.querySelector('button[data-spy="listen"]');
                  if (button) button.click();
                  return button !== null;
                })()""")
                assert clicked, "no agent on a call to listen to"
                answers: list[dict[str, Any]] = []
                for _ in range(50):
                    answers = await page.evaluate("window.__spyAnswers")
                    if len(answers) > attempt:
                        break
                    await asyncio.sleep(0.1)
                assert len(answers) == attempt + 1, f"the click sent no request: {answers}"
                message = json.dumps(answers[-1]["body"])
                if answers[-1]["status"] != 409 or not re.search(
                        r"not talking yet|not on a call", message):
                    break
                await asyncio.sleep(0.5)
            for _ in range(50):  # the server accepted it: spy.started
                if len([e for e in record.events if e.type == "spy.started"]) > spied:
                    break
                await asyncio.sleep(0.1)
            status = await page.evaluate("document.getElementById('spy-status').textContent")
            assert len([e for e in record.events if e.type == "spy.started"]) == spied + 1, \
                status
            assert "refused" not in status, status
            await quiet_queues(record, demo)
            seen = await check_history(page, record, client)
    finally:
        await client.close()
    for name in ("wallboard-zh.png", "wallboard-en.png"):
        assert (shots / name).stat().st_size > 20_000, name
    assert json.dumps(seen)  # the last read is plain data
