"""Benchmark: AMI adapter + call model vs panoramisk's bare parsing of the same transcript.

The transcripts under tests/fixtures/ami/ were recorded from the real Asterisk sandbox
(bench/record_ami_transcript.py). Both contenders read the same bytes in the same TCP-sized
chunks in this one process; each repetition gets a fresh protocol (and, for ours, a fresh
model, because a transcript's calls end inside it).

    python bench/ami_events.py [--repeat N] [--chunk BYTES] [--json]

Prints events/s of both and the ratio (ours time / bare time). Targets (issue 2):
>= 50,000 events/s for ours on one core, ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from pathlib import Path
from typing import Any

from panoramisk.ami_protocol import AMIProtocol

from callcenter.app import build_services
from callcenter.config import Settings
from callcenter.cti.protocol import AmiProtocol

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"


class _NullTransport:
    def write(self, data: bytes) -> None:  # pragma: no cover - never called
        pass

    def close(self) -> None:
        pass


class _BareFactory:
    """What panoramisk's protocol needs from its Manager, doing nothing with the events."""

    forgetable_actions = ()
    awaiting_actions: list[Any] = []

    def __init__(self) -> None:
        self.count = 0

    def dispatch(self, message: Any) -> None:
        self.count += 1

    def connection_lost(self, exc: Any) -> None:
        pass


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def run_bare(chunks: list[bytes]) -> int:
    protocol = AMIProtocol()
    protocol.connection_made(_NullTransport())
    factory = _BareFactory()
    protocol.factory = factory
    for chunk in chunks:
        protocol.data_received(chunk)
    return factory.count


def run_ours(chunks: list[bytes]) -> int:
    """The production wiring (build_services): AMI client, call model, bus, metrics, and the
    contact center's handlers (agent phones, ACD, connector, screen-pop detection)."""
    from callcenter.sim.clock import VirtualClock

    services = build_services(Settings(), clock=VirtualClock())
    assert services.ami is not None
    protocol = AmiProtocol(services.ami)
    for chunk in chunks:
        protocol.data_received(chunk)
    assert services.model.skipped == 0
    return services.ami.stats.events_received


class _NullSink:
    def __init__(self) -> None:
        from callcenter.cti.link import LinkStats

        self.stats = LinkStats()

    def on_event(self, headers: dict[str, Any]) -> None:
        pass

    def on_connection_lost(self, exc: BaseException | None) -> None:
        pass


def run_our_parse(chunks: list[bytes]) -> int:
    """Our protocol alone (no model): shows what the model itself costs."""
    sink = _NullSink()
    protocol = AmiProtocol(sink)
    for chunk in chunks:
        protocol.data_received(chunk)
    return sink.stats.events_received


def measure(fn: Any, chunks: list[bytes], repeat: int) -> tuple[float, int]:
    """Best-of-5 seconds for ``repeat`` passes, and events per pass."""
    events = fn(chunks)
    times = []
    for _ in range(5):
        gc.collect()
        started = time.perf_counter()
        for _ in range(repeat):
            fn(chunks)
        times.append(time.perf_counter() - started)
    return min(times), events


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    files = sorted(FIXTURES.glob("*.ami"))
    if not files:
        raise SystemExit(f"no transcripts in {FIXTURES}; run bench/record_ami_transcript.py")
    data = b"".join(f.read_bytes() for f in files)
    chunks = chunks_of(data, args.chunk)
    bare_s, bare_events = measure(run_bare, chunks, args.repeat)
    ours_s, our_events = measure(run_ours, chunks, args.repeat)
    parse_s, _ = measure(run_our_parse, chunks, args.repeat)
    total = our_events * args.repeat
    result = {
        "transcripts": [f.name for f in files],
        "bytes": len(data),
        "events_per_pass": our_events,
        "bare_events_per_pass": bare_events,
        "repeat": args.repeat,
        "bare_events_per_s": round(bare_events * args.repeat / bare_s),
        "ours_events_per_s": round(total / ours_s),
        "ratio_ours_to_bare_time": round(ours_s / bare_s, 3),
        "our_parse_only_events_per_s": round(total / parse_s),
        "model_share_of_our_time": round(1 - parse_s / ours_s, 3),
        "chunk_bytes": args.chunk,
    }
    result["mean_event_bytes"] = round(len(data) / max(our_events, 1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=8192)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(result))
        return
    print(f"transcripts: {', '.join(result['transcripts'])} ({result['bytes']} bytes, "
          f"{result['events_per_pass']} events, x{result['repeat']})")
    print(f"panoramisk bare parse : {result['bare_events_per_s']:>10,} events/s")
    print(f"adapter + call model  : {result['ours_events_per_s']:>10,} events/s")
    print(f"our parser alone      : {result['our_parse_only_events_per_s']:>10,} events/s")
    print(f"ratio (ours/bare time): {result['ratio_ours_to_bare_time']}  (target <= 1.5)")
    print(f"model share of ours   : {result['model_share_of_our_time']:.0%}")


if __name__ == "__main__":
    main()
