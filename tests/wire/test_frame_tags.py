"""The frame counters' label: a frame's wire tag, the same for a frame and its class."""

from __future__ import annotations

import msgspec

from ironplane.wire import agent_protocol as proto


def test_tag_of_a_frame_its_class_and_none() -> None:
    assert proto.tag_of(proto.Ping(at=1.0)) == "ping"
    assert proto.tag_of(proto.Ping) == "ping"
    assert proto.tag_of(proto.Error(code="x", message="y")) == "error"
    assert proto.tag_of(None) == "unknown"


def test_every_frame_tag_is_what_goes_on_the_wire() -> None:
    for cls in (*proto.AgentFrame.__args__, *proto.ServerFrame.__args__):
        info = msgspec.inspect.type_info(cls)
        assert proto.tag_of(cls) == info.tag
