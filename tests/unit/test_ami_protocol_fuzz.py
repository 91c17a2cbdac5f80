"""Property-based tests: nothing a peer sends can crash the AMI reader or lose good events."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.cti.link import LinkStats
from callcenter.cti.model import CallModel
from callcenter.cti.protocol import TERMINATOR, AmiProtocol, parse_block

pytestmark = pytest.mark.unit


class Sink:
    def __init__(self) -> None:
        self.stats = LinkStats()
        self.events: list[dict[str, Any]] = []
        self.model = CallModel()
        self.lost = 0

    def on_event(self, headers: dict[str, Any]) -> None:
        self.events.append(headers)
        self.model.apply(headers)

    def on_connection_lost(self, exc: BaseException | None) -> None:
        self.lost += 1


def feed(chunks: list[bytes], max_bytes: int | None = None) -> Sink:
    sink = Sink()
    protocol = AmiProtocol(sink)
    if max_bytes is not None:
        protocol.max_message_bytes = max_bytes
    for chunk in chunks:
        protocol.data_received(chunk)
    return sink


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(data[last:point])
        last = point
    pieces.append(data[last:])
    return pieces


header_key = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                   exclude_characters=":"), min_size=1, max_size=20)
header_value = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40).map(
    lambda v: v.strip())
event_names = st.sampled_from(["Newchannel", "Newstate", "Hangup", "VarSet", "BridgeEnter",
                               "BridgeLeave", "DTMFEnd", "Rename", "SomethingNew", "FullyBooted"])


@st.composite
def events(draw: st.DrawFn) -> dict[str, str]:
    headers = {"Event": draw(event_names)}
    for key, value in draw(st.dictionaries(header_key, header_value, max_size=8)).items():
        if key not in ("Event", "ActionID"):
            headers[key] = value
    if draw(st.booleans()):
        headers["Uniqueid"] = draw(st.sampled_from(["1.1", "1.2", "2.1"]))
        headers["Linkedid"] = draw(st.sampled_from(["1.1", "2.1"]))
    return headers


def encode(headers: dict[str, str]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000), st.lists(st.integers(0, 5000), max_size=10))
def test_arbitrary_bytes_never_crash(data: bytes, cuts: list[int]) -> None:
    sink = feed(split_at(b"Asterisk Call Manager/9.0.0\r\n" + data, cuts))
    assert sink.lost == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(events(), min_size=1, max_size=20), st.lists(st.integers(0, 10_000), max_size=15))
def test_good_events_arrive_whole_and_in_order_whatever_the_chunking(
        evs: list[dict[str, str]], cuts: list[int]) -> None:
    stream = b"Asterisk Call Manager/9.0.0\r\n" + b"".join(encode(e) for e in evs)
    sink = feed(split_at(stream, cuts))
    assert [e["Event"] for e in sink.events] == [e["Event"] for e in evs]
    for got, sent in zip(sink.events, evs, strict=True):
        assert got == sent


garbage = st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",)),
                  min_size=1, max_size=200).filter(
    lambda t: TERMINATOR not in t and t.strip("\r\n"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(events(), garbage), min_size=1, max_size=20))
def test_malformed_frames_are_counted_and_skipped(items: list[Any]) -> None:
    stream = "".join(encode(i).decode() if isinstance(i, dict) else i + TERMINATOR
                     for i in items).encode()
    sink = feed([stream])
    good = [i for i in items if isinstance(i, dict)]
    assert sink.events == good
    assert sink.stats.frames_malformed == len(items) - len(good)


def test_huge_header_is_discarded_and_the_stream_recovers() -> None:
    huge = {"Event": "Newchannel", "Uniqueid": "9.9", "CallerIDName": "x" * 50_000}
    after = {"Event": "Hangup", "Uniqueid": "1.1", "Cause": "16"}
    data = encode(huge) + encode(after)
    sink = feed([data[i:i + 1000] for i in range(0, len(data), 1000)], max_bytes=10_000)
    assert sink.events == [after]
    assert sink.stats.frames_oversized == 1


def test_truncated_message_waits_for_its_end() -> None:
    sink = Sink()
    protocol = AmiProtocol(sink)
    protocol.data_received(b"Asterisk Call Manager/9.0.0\r\nEvent: Newchannel\r\nUniq")
    assert sink.events == []
    protocol.data_received(b"ueid: 1.1\r\n\r\n")
    assert sink.events == [{"Event": "Newchannel", "Uniqueid": "1.1"}]
    assert protocol.version == "9.0.0"


def test_repeated_headers_become_lists_and_repeated_event_is_malformed() -> None:
    assert parse_block("Response: Success\r\nOutput: a\r\nOutput: b") == {
        "Response": "Success", "Output": ["a", "b"]}
    assert parse_block("Event: X\r\nEmpty:\r\nno colon here") == {"Event": "X", "Empty": ""}
    sink = feed([b"Event: A\r\nEvent: B\r\n\r\nEvent: C\r\n\r\n"])
    assert sink.events == [{"Event": "C"}]
    assert sink.stats.frames_malformed == 1


model_keys = st.sampled_from(["Event", "Uniqueid", "Linkedid", "ChannelState", "Channel",
                              "Cause", "Cause-txt", "BridgeUniqueid", "Variable", "Value",
                              "Digit", "Direction", "Timestamp", "Newname", "CallerIDNum"])
model_values = st.one_of(
    st.sampled_from(["Newchannel", "Newstate", "Hangup", "VarSet", "BridgeEnter", "BridgeLeave",
                     "BridgeCreate", "BridgeDestroy", "DTMFEnd", "Rename", "NewCallerid",
                     "NewExten", "NewConnectedLine", "1.1", "1.2", "6", "5", "CC_X", "b1",
                     "1", "nan", "-", ""]),
    st.text(max_size=10),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.dictionaries(model_keys, model_values, max_size=10), max_size=40))
def test_call_model_never_crashes_on_odd_headers(stream: list[dict[str, Any]]) -> None:
    model = CallModel()
    model.apply_all(stream)
    for call in model.calls.values():
        assert call.live == sum(1 for leg in call.legs.values() if leg.channel_id in model.channels)
