"""docs/PROTOCOL.md is the wire contract: it must name every code and message type, and its
examples must be what the server sends and what the server and the SDK read.

Every ```json block is one of: a request (``method``), an answer (``id`` with ``result`` or
``error``), a stream push (``channel`` and ``seq``), or a core command/event (``type``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from client_sdk.client import Answer
from client_sdk.errors import error_from
from client_sdk.models import (
    ActionResult,
    AgentApproval,
    BookSnapshot,
    BookUpdate,
    Info,
    LoginResult,
    Markets,
    SettlementsSnapshot,
    SettlementsUpdate,
    TradesSnapshot,
    TradesUpdate,
    UnknownEvent,
    UserSnapshot,
    UserUpdate,
    _BalancesRaw,
    _FillsRaw,
    _OrderRaw,
    _OrdersRaw,
    _SubscribeRaw,
    decode_user_update,
)
from server.core import RejectCode
from server.core.commands import Command
from server.core.events import Event
from server.gateway.errors import CATEGORY_OF
from server.gateway.wire import METHODS, WireError, decode_request
from tests import docs_examples

DOC = (Path(__file__).parent.parent / "docs" / "PROTOCOL.md").read_text()

CHANNELS = ("user", "trades", "book", "settlements")
PUSHING = ("user", "trades", "book")  # settlements pushes come with the CoW settlement issue
DECODE_CODES = ("BAD_JSON", "BAD_REQUEST", "UNKNOWN_METHOD")  # what decode_request raises

# What the SDK decodes each method's result as (the same types its Client uses).
RESULT_MODELS: dict[str, type[Any]] = {
    **dict.fromkeys(
        ("place", "cancel", "cancel_all", "replace", "batch", "withdraw"), ActionResult
    ),
    "login": LoginResult,
    "approve_agent": AgentApproval,
    "info": Info,
    "markets": Markets,
    "book": BookSnapshot,
    "balances": _BalancesRaw,
    "open_orders": _OrdersRaw,
    "order": _OrderRaw,
    "fills": _FillsRaw,
    "subscribe": _SubscribeRaw,
}
SNAPSHOTS: dict[str, type[Any]] = {
    "user": UserSnapshot,
    "trades": TradesSnapshot,
    "book": BookSnapshot,
    "settlements": SettlementsSnapshot,
}
UPDATES: dict[str, Any] = {
    "user": decode_user_update,
    "trades": msgspec.json.Decoder(TradesUpdate, strict=False).decode,
    "book": msgspec.json.Decoder(BookUpdate, strict=False).decode,
    "settlements": msgspec.json.Decoder(SettlementsUpdate, strict=False).decode,
}


def json_blocks(text: str) -> list[str]:
    return [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]


def kind(obj: dict[str, Any]) -> str:
    if "method" in obj:
        return "request"
    if "id" in obj and ("result" in obj) != ("error" in obj):
        return "answer"
    if "channel" in obj and "seq" in obj and "id" not in obj:
        return "push"
    if isinstance(obj.get("type"), str) and "id" not in obj and "channel" not in obj:
        return "core"
    return "unknown"


BLOCKS = json_blocks(DOC)
PARSED: list[tuple[str, str, dict[str, Any]]] = []  # (kind, text, object), in doc order
for _text in BLOCKS:
    _obj = msgspec.json.decode(_text.encode())
    PARSED.append((kind(_obj) if isinstance(_obj, dict) else "unknown", _text, _obj))


def of_kind(k: str) -> list[tuple[str, dict[str, Any]]]:
    return [(text, obj) for kk, text, obj in PARSED if kk == k]


def pairs() -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
    """Every answer with its request: the last request block before it with the same id
    (None for an answer whose request could not be read, ``"id": null``)."""
    out: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
    last: dict[Any, dict[str, Any]] = {}
    for k, _, obj in PARSED:
        if k == "request":
            last[obj["id"]] = obj
        elif k == "answer":
            request = last.get(obj["id"]) if obj["id"] is not None else None
            assert request is not None or obj["id"] is None, f"no request for {obj}"
            out.append((request, obj))
    return out


def error_code_of(request: dict[str, Any]) -> str | None:
    """The error code the doc shows for ``request``, if its answer is an error."""
    for req, answer in pairs():
        if req is request and "error" in answer:
            code: str = answer["error"]["code"]
            return code
    return None


# ---------------------------------------------------------------------- names


def _tags(union: object) -> list[str]:
    return [t.__struct_config__.tag for t in union.__args__]  # type: ignore[attr-defined]


def test_every_reject_code_is_documented() -> None:
    missing = [c.value for c in RejectCode if f"`{c.value}`" not in DOC]
    assert not missing


def test_every_command_and_event_type_is_documented() -> None:
    missing = [t for t in _tags(Command) + _tags(Event) if f"`{t}`" not in DOC]
    assert not missing


# ---------------------------------------------------------------------- examples


def test_every_json_block_is_a_known_kind() -> None:
    unknown = [text for k, text, _ in PARSED if k == "unknown"]
    assert not unknown
    assert len(PARSED) == len(BLOCKS) > 0


def test_core_examples_decode_as_core_types() -> None:
    decoded = [msgspec.json.decode(t.encode(), type=Command | Event) for t, _ in of_kind("core")]
    assert [type(d).__name__ for d in decoded] == ["Place", "Fill"]


def test_request_examples_decode_or_fail_as_their_answer_says() -> None:
    for text, obj in of_kind("request"):
        code = error_code_of(obj)
        if code in DECODE_CODES:
            with pytest.raises(WireError) as refused:
                decode_request(text)
            assert refused.value.code == code, text
        else:
            req, params = decode_request(text)
            assert type(params) is METHODS[req.method], text


def test_every_method_and_channel_has_an_example() -> None:
    requests = [obj for _, obj in of_kind("request") if error_code_of(obj) not in DECODE_CODES]
    assert set(METHODS) <= {r["method"] for r in requests}
    subscribed = {r["params"]["channel"] for r in requests if r["method"] == "subscribe"}
    assert set(CHANNELS) <= subscribed
    pushed = {p["channel"].split(":")[0] for _, p in of_kind("push")}
    assert set(PUSHING) <= pushed
    codes = {a["error"]["code"] for _, a in pairs() if "error" in a}
    assert "BAD_JSON" in codes  # the one answer without an id


def test_error_answers_carry_their_codes_category() -> None:
    errors = [a["error"] for _, a in pairs() if "error" in a]
    assert errors
    for e in errors:
        assert set(e) in (
            {"code", "category", "message"},
            {"code", "category", "message", "seq"},
        ), e
        assert e["code"] in CATEGORY_OF, e
        assert e["category"] == CATEGORY_OF[e["code"]].value, e
        assert type(error_from(e["code"], e["category"])).__name__ == e["category"]


def test_the_sdk_reads_every_result() -> None:
    for request, answer in pairs():
        if "error" in answer:
            continue
        assert request is not None
        method, params = request["method"], request["params"]
        frame = msgspec.json.decode(msgspec.json.encode(answer), type=Answer)
        model = RESULT_MODELS.get(method)
        if model is None:  # unsubscribe and the dev operator methods: no SDK model
            result = answer["result"]
            if method == "unsubscribe":
                assert result == {"channel": params["channel"]}
            elif method == "dev_state_hash":
                assert set(result) == {"seq", "state_hash", "core_state_hash"}
            else:
                assert method.startswith("dev_"), method
                assert set(result) == {"seq", "ts_ms", "events"}
            continue
        decoded = frame.decode(model)
        if isinstance(decoded, ActionResult):
            assert not [e for e in decoded.events if isinstance(e, UnknownEvent)], answer
        if isinstance(decoded, _SubscribeRaw):
            snapshot = msgspec.json.decode(
                decoded.snapshot, type=SNAPSHOTS[params["channel"]], strict=False
            )
            assert snapshot is not None


def test_the_sdk_reads_every_push() -> None:
    for text, push in of_kind("push"):
        update = UPDATES[push["channel"].split(":")[0]](text.encode())
        assert update.seq == push["seq"]
        if isinstance(update, UserUpdate):
            assert not [e for e in update.events if isinstance(e, UnknownEvent)], text


# ---------------------------------------------------------------------- against the server


def _masked(value: Any, key: str = "") -> Any:
    """``value`` with what varies from run to run replaced by its type's name."""
    if key in docs_examples.VARYING or key == "message":
        return type(value).__name__
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _shown(section: str) -> list[Any]:
    titles = [line for line in section.splitlines() if line.startswith("### ")]
    blocks = [_masked(msgspec.json.decode(b.encode())) for b in json_blocks(section)]
    return [titles, blocks]


def test_examples_are_what_the_server_sends(tmp_path: Path) -> None:
    """The Examples section equals a fresh capture, nonces, signatures, times, hashes and
    messages aside: the doc cannot fall behind the server (renew it with
    ``python -m tests.docs_examples --write``)."""
    shown = docs_examples.section(DOC)
    assert shown, "docs/PROTOCOL.md has no Examples section"
    fresh = docs_examples.render(docs_examples.capture(tmp_path))
    assert _shown(shown) == _shown(fresh)
