"""Record a raw AMI transcript from the real Asterisk sandbox into tests/fixtures/ami/.

Places a known mix of calls through Local channels into the ``cc-test`` dialplan, records
every byte Asterisk sent on our AMI connection, and writes beside it a JSON file with what
each call is expected to do (from the scenario, not from our model), so unit tests can replay
the transcript and check the call model against it.

    python bench/record_ami_transcript.py [--name mixed] [--scale 1]

Needs the sandbox running (``callcenter sandbox up``).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
from pathlib import Path
from typing import Any

from callcenter.config import AmiSettings, Settings
from callcenter.cti.ami import AmiClient
from callcenter.cti.asterisk_pbx import AsteriskPbx
from callcenter.cti.model import CallModel
from callcenter.events import EventBus
from callcenter.pbx import OriginateRequest

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"

#: exten in cc-test -> (expected call hangup cause, answered)
SCENARIO = {"answer": (16, True), "hangup16": (16, True), "busy": (17, False),
            "congestion": (34, False), "dtmf": (16, True), "park": (16, True)}


async def record(name: str, scale: int) -> None:
    sandbox = Settings().sandbox
    settings = AmiSettings(port=sandbox.ami_port, ping_interval_s=30)
    raw = io.BytesIO()
    bus = EventBus()
    model = CallModel(emit=bus.publish)
    ami = AmiClient(settings, model, bus, recorder=raw)
    pbx = AsteriskPbx(ami)
    await ami.start()
    await ami.wait_ready(10)
    await ami.send({"Action": "Command", "Command": "channel request hangup all"})
    for _ in range(100):
        if not model.channels:
            break
        await asyncio.sleep(0.1)
    raw.seek(0)
    raw.truncate()  # the transcript starts on an idle PBX
    rng = random.Random(7)
    plan: list[tuple[str, dict[str, str]]] = []
    for _ in range(scale):
        plan += [("answer", {"CC_TALK_S": str(rng.choice([1, 2, 3]))}) for _ in range(20)]
        plan += [("busy", {}), ("congestion", {}), ("hangup16", {})] * 5
        plan += [("dtmf", {"CC_DTMF": "123#"}) for _ in range(5)]
    rng.shuffle(plan)
    expected: dict[str, Any] = {}
    handles = []
    for exten, variables in plan:
        handle = await pbx.originate(OriginateRequest(
            endpoint=f"Local/{exten}@cc-test", application="Wait", data="600",
            variables=variables, timeout_s=10))
        cause, answered = SCENARIO[exten]
        expected[handle.channel_id] = {"exten": exten, "cause": cause, "answered": answered,
                                       "dtmf": variables.get("CC_DTMF", "")}
        handles.append(handle)
        await asyncio.sleep(0.02)
    await asyncio.gather(*(h.outcome for h in handles))
    # DTMF calls and bridged pairs are ended by us, over AMI
    await asyncio.sleep(2.0)
    pairs = []
    for _ in range(3 * scale):
        a = await pbx.originate(OriginateRequest(endpoint="Local/park@cc-test",
                                                 application="Wait", data="600"))
        b = await pbx.originate(OriginateRequest(endpoint="Local/park@cc-test",
                                                 application="Wait", data="600"))
        await asyncio.gather(a.outcome, b.outcome)
        await pbx.bridge(a.channel_id, b.channel_id)
        pairs.append((a, b))
        for h in (a, b):
            expected[h.channel_id] = {"exten": "park", "cause": 16, "answered": True,
                                      "dtmf": "", "bridged": True}
    await asyncio.sleep(1.0)
    for call_id, info in expected.items():
        if info["exten"] == "dtmf":
            await pbx.hangup(call_id)
    for a, b in pairs:
        await pbx.hangup(a.channel_id)
        if b.channel_id in model.channels:
            await pbx.hangup(b.channel_id)
    for _ in range(200):
        if not model.channels:
            break
        await asyncio.sleep(0.1)
    await ami.stop()
    if model.channels:
        raise SystemExit(f"calls still up at the end: {sorted(model.channels)}")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / f"{name}.ami").write_bytes(raw.getvalue())
    (FIXTURES / f"{name}.expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"recorded {len(raw.getvalue())} bytes, {ami.stats.events_received} events, "
          f"{len(expected)} calls -> {FIXTURES / name}.ami")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="mixed")
    parser.add_argument("--scale", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(record(args.name, args.scale))


if __name__ == "__main__":
    main()
