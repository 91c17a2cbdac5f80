"""The complaint pages in a real Chromium on the demo server (the whole assembly: the desk in
``build_app``, the ACD's complaints queue taking the callback): an agent registers a complaint
with the form module (category picked, submitted: the caller is filled in), a logistics
department member walks it through every step on the work-queue page, a supervisor's overview
shows an escalation live; hostile complaint text stays text. Screenshots:
``docs/screenshots/complaints-{form,queue,overview}-{en,zh}.png``
(``CALLCENTER_SCREENSHOTS=docs/screenshots``)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from callcenter.config import Settings
from callcenter.sim.demo import DemoOptions, build_demo_app, prepare_crm
from callcenter.web.routes.complaints import COMPLAINTS
from crm_bridge.models import Complaint, Customer
from tests.accounts import PASSWORD, add_user, login
from tests.harness.chromium import DevTools, chromium_page, sign_in_page, wait_for
from tests.harness.require import require_binary

pytestmark = pytest.mark.browser

READ = "document.body ? document.body.innerText : ''"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


async def words(page: DevTools) -> str:
    return " ".join(str(await page.evaluate(READ)).split())


async def take_step(page: DevTools, action: str, fields: dict[str, str], done: int) -> None:
    """Choose ``action`` in the step form, fill ``fields``, submit; wait for ``done`` rows."""
    await wait_for(page, "document.getElementById('step-action') !== null")
    await page.evaluate(
        f"(() => {{ const a = document.getElementById('step-action');"
        f" a.value = {json.dumps(action)}; a.dispatchEvent(new Event('change')); }})()")
    for name, value in fields.items():
        await page.evaluate(f"document.getElementById('step-{name}').value = {json.dumps(value)}")
    await page.evaluate("document.getElementById('step-submit').click()")
    await wait_for(page, f"document.querySelectorAll('#history tbody tr').length >= {done}")


async def test_register_work_and_oversee_a_complaint_in_the_browser(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "Chromium", "apt-get install chromium")
    shots = Path(os.environ.get("CALLCENTER_SCREENSHOTS") or tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await prepare_crm(url, 50)
    options = DemoOptions(agents=3, calls_per_minute=6, speed=1, talk_s=30, wrap_up_s=3)
    settings = Settings(database_url=url, complaints={
        "staff": {"logistics": ["dana"], "customer_service": ["dana"]}})
    client: TestClient[Any, Any] = TestClient(TestServer(await build_demo_app(settings,
                                                                              options)))
    await client.start_server()
    try:
        desk = client.app[COMPLAINTS]
        async with desk.store.sessions() as session:
            customer = (await session.execute(select(Customer).order_by(Customer.id)
                                              .limit(1))).scalar_one()
        await add_user(client, "agent", "1001", username="alice")
        await add_user(client, "agent", "1002", username="dana")
        await add_user(client, "supervisor", username="sam")

        # 1. the agent: the form from the screen pop, caller filled in; pick, submit
        form_url = f"/complaints/?view=new&customer={customer.id}&call=demo-call-1"
        async with chromium_page(chromium, str(client.make_url(form_url)),
                                 tmp_path / "p-alice", "en") as page:
            await sign_in_page(page, "alice", PASSWORD)
            await wait_for(page, "document.querySelectorAll('#cf-category option').length > 3")
            assert customer.name in await words(page)
            await page.evaluate("document.getElementById('cf-category').value = 'shipping'")
            await page.evaluate("document.getElementById('cf-object').value = "
                                "'Order 4411 arrived broken'")
            await page.evaluate("document.getElementById('cf-severity').value = 'high'")
            await page.evaluate("document.getElementById('cf-submit').click()")
            created_id = int(await wait_for(
                page, "document.querySelector('.complaint-form').dataset.complaintId"))
            await wait_for(page, "document.getElementById('open-created') !== null")
            await page.screenshot(shots / "complaints-form-en.png")
            shown = await words(page)
        assert f"Complaint #{created_id} registered" in shown, shown
        first = await desk.store.read(created_id, _all(), desk.now())
        assert (first["category"], first["severity"], first["request"]) == (
            "shipping", "high", "to be clarified")
        assert first["registered_by"] == "alice" and first["call_id"] == "demo-call-1"

        # a second complaint with hostile text, registered by the API
        token = (await login(client, "alice"))["token"]
        resp = await client.post("/api/complaints", headers={"Authorization": f"Bearer {token}"},
                                 json={"customer_id": customer.id, "category": "quality",
                                       "object": XSS, "request": XSS, "text": XSS})
        assert resp.status == 201, await resp.text()
        hostile_id = (await resp.json())["id"]

        # 2. the department: the work queue; every step on the page
        async with chromium_page(chromium, str(client.make_url(
                f"/complaints/?view=queue&id={created_id}")), tmp_path / "p-dana", "en") as page:
            await sign_in_page(page, "dana", PASSWORD)
            await wait_for(page, "document.getElementById('history') !== null")
            await take_step(page, "accept", {"text": "taken up"}, 2)
            await take_step(page, "assign", {}, 3)
            await take_step(page, "analyse", {"cause": "the carrier dropped the parcel",
                                              "responsible": "Dana Li"}, 4)
            await take_step(page, "propose_remedy", {"remedy": "compensation",
                                                     "amount": "25.50"}, 5)
            await page.screenshot(shots / "complaints-queue-en.png")
            await take_step(page, "carry_out", {"text": "paid to the card"}, 7)  # + notify
            await take_step(page, "collect_feedback", {"rating": "4"}, 8)
            await take_step(page, "evaluate", {"text": "carrier warned; refund paid"}, 9)
            final = await words(page)
            # the hostile complaint in the list: text, not markup
            await page.evaluate(f"location.search = '?view=queue&id={hostile_id}'")
            heading = "document.querySelector('#detail h2')"
            await wait_for(page, f"{heading} !== null && "
                                 f"{heading}.textContent.startsWith('#{hostile_id} ')")
            hostile_page = await words(page)
            assert await page.evaluate("window.__xss === undefined")
            assert await page.evaluate("document.querySelectorAll('#main img, #main script, "
                                       "#main svg').length") == 0
        assert "No further step" in final or "Closed" in final, final
        walked = await desk.store.read(created_id, _all(), desk.now())
        assert [s["kind"] for s in walked["history"]] == [
            "register", "accept", "assign", "analyse", "propose_remedy", "carry_out", "notify",
            "collect_feedback", "evaluate"]
        assert walked["status"] == "closed" and walked["department"] == "logistics"
        notify = walked["history"][6]["data"]
        assert notify["callback"] == "queued" and notify["queue"] == "complaints", notify
        assert XSS in hostile_page

        # 3. the supervisor: overview, live escalation (a deadline moved into the past)
        async with chromium_page(chromium, str(client.make_url("/complaints/?view=overview")),
                                 tmp_path / "p-sam", "en") as page:
            await sign_in_page(page, "sam", PASSWORD)
            await wait_for(page, "document.getElementById('live').className === 'pill on'")
            async with desk.store.sessions() as session, session.begin():
                await session.execute(update(Complaint).where(Complaint.id == hostile_id)
                                      .values(deadline_at=desk.now() - dt.timedelta(hours=3)))
            assert await desk.check_deadlines() == 1
            await wait_for(page, "document.querySelector('#feed .badge.esc') !== null")
            # still stuck after its new deadline; then a new complaint comes in (live)
            async with desk.store.sessions() as session, session.begin():
                await session.execute(update(Complaint).where(Complaint.id == hostile_id)
                                      .values(deadline_at=desk.now() - dt.timedelta(minutes=10)))
            resp = await client.post("/api/complaints", headers={
                "Authorization": f"Bearer {token}"}, json={
                "customer_id": customer.id, "category": "billing", "severity": "critical",
                "object": "Charged twice for November", "request": "refund the second charge"})
            assert resp.status == 201, await resp.text()
            await wait_for(page, "document.querySelector('#overdue') !== null")
            await page.screenshot(shots / "complaints-overview-en.png")
            overview = await words(page)
            await page.evaluate("document.getElementById('lang').click()")
            await wait_for(page, "document.body !== null && "
                                 "document.body.innerText.includes('各部门未结投诉')")
            await page.screenshot(shots / "complaints-overview-zh.png")
            overview_zh = await words(page)
            await page.evaluate(f"location.search = '?view=queue&id={created_id}&lang=zh-CN'")
            await wait_for(page, "document.body !== null && "
                                 "document.body.innerText.includes('处理记录')")
            await page.screenshot(shots / "complaints-queue-zh.png")
            assert await page.evaluate("window.__xss === undefined")
            # the wallboard lists the escalation as it happens
            await page.evaluate("location.assign('/wallboard/?lang=en')")
            await wait_for(page, "document.body !== null && document.body.dataset.ready === 'yes'")
            async with desk.store.sessions() as session, session.begin():
                await session.execute(update(Complaint).where(Complaint.id == hostile_id)
                                      .values(deadline_at=desk.now() - dt.timedelta(hours=1)))
            assert await desk.check_deadlines() == 1
            await wait_for(page, "document.querySelectorAll('#escalations li').length === 1")
            await page.screenshot(shots / "wallboard-escalation-en.png")
            board = await words(page)
            assert await page.evaluate("window.__xss === undefined")
        assert f"#{hostile_id} level 2: registered overdue" in board, board[-600:]
        assert "escalated" in overview and "Overdue now" in overview, overview
        assert "level 1" in overview
        assert "各部门未结投诉" in overview_zh and "升级" in overview_zh

        # the form in Chinese
        async with chromium_page(chromium, str(client.make_url(form_url + "&lang=zh-CN")),
                                 tmp_path / "p-alice-zh", "zh-CN") as page:
            await sign_in_page(page, "alice", PASSWORD)
            await wait_for(page, "document.querySelectorAll('#cf-category option').length > 3")
            # three clicks, nothing typed: pick the category, submit
            await page.evaluate("document.getElementById('cf-category').value = 'billing'")
            await page.evaluate("document.getElementById('cf-submit').click()")
            zh_id = int(await wait_for(
                page, "document.querySelector('.complaint-form').dataset.complaintId"))
            await page.screenshot(shots / "complaints-form-zh.png")
            assert "登记投诉" in await words(page)
        typed_nothing = await desk.store.read(zh_id, _all(), desk.now())
        assert (typed_nothing["object"], typed_nothing["request"]) == ("账单投诉", "待确认")
        assert typed_nothing["customer_id"] == customer.id
    finally:
        await client.close()


def _all() -> Any:
    from crm_bridge.complaints import Viewer

    return Viewer("", sees_all=True)
