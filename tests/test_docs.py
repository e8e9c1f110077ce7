"""docs/PROTOCOL.md is the wire contract: it must name every code and message type."""

from pathlib import Path

import msgspec

from server.core import RejectCode
from server.core.commands import Command
from server.core.events import Event
from server.gateway.wire import decode_request

DOC = (Path(__file__).parent.parent / "docs" / "PROTOCOL.md").read_text()


def _tags(union: object) -> list[str]:
    return [t.__struct_config__.tag for t in union.__args__]  # type: ignore[attr-defined]


def test_every_reject_code_is_documented() -> None:
    missing = [c.value for c in RejectCode if f"`{c.value}`" not in DOC]
    assert not missing


def test_every_command_and_event_type_is_documented() -> None:
    missing = [t for t in _tags(Command) + _tags(Event) if f"`{t}`" not in DOC]
    assert not missing


def test_examples_decode_as_documented() -> None:
    blocks = [b.split("```", 1)[0] for b in DOC.split("```json\n")[1:]]
    requests = [decode_request(b)[1] for b in blocks if '"method"' in b]
    decoded = [
        msgspec.json.decode(b.encode(), type=Command | Event) for b in blocks if '"method"' not in b
    ]
    assert [type(r).__name__ for r in requests] == ["PlaceParams"]
    assert [type(d).__name__ for d in decoded] == ["Place", "Fill"]
