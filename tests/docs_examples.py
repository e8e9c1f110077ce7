"""Capture docs/PROTOCOL.md's "Examples" from the real server.

Starts the server (``dev_operator = true``) in a temporary directory, plays one short session
over four WebSocket connections (an operator, two traders and an anonymous observer) and
records, byte for byte, every request frame sent and every answer and push received. The
keys are fixed, so accounts, order ids, ``seq`` numbers and amounts come out the same on
every run; nonces, signatures, times and state hashes do not.

    .venv/bin/python -m tests.docs_examples          # print the section (Markdown)
    .venv/bin/python -m tests.docs_examples --write  # replace it in docs/PROTOCOL.md

``tests/test_docs.py`` imports ``capture`` and checks that the doc still shows what the
server sends (the varying fields aside).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from websockets.asyncio.client import ClientConnection, connect

from client_sdk.signing import Domain, Signer
from tests.servers import start

__all__ = [
    "DOC",
    "HEADING",
    "VARYING",
    "Example",
    "capture",
    "render",
    "render_json",
    "section",
    "write_doc",
]

DOC: Final = Path(__file__).resolve().parents[1] / "docs" / "PROTOCOL.md"
HEADING: Final = "## Examples\n"
NEXT_HEADING: Final = "## Commands\n"
WIDTH: Final = 96

VARYING: Final = frozenset(
    {"nonce", "signature", "ts_ms", "time_ms", "state_hash", "core_state_hash"}
)
"""Fields whose values change from run to run (clock-based nonces and what they feed)."""

ALICE: Final = Signer("0x" + "a1" * 32)  # buys USDC-funded
BOB: Final = Signer("0x" + "b2" * 32)  # sells WETH
AGENT: Final = Signer("0x" + "c3" * 32)  # an agent key alice approves
WETH: Final = "0x" + "11" * 20
USDC: Final = "0x" + "22" * 20
MKT: Final = "WETH-USDC"
E18: Final = 10**18
E6: Final = 10**6
AGENT_UNTIL_MS: Final = 4_102_444_800_000  # 2100-01-01: a fixed expiry in the future


@dataclass
class Example:
    """One subsection: a title, a sentence, and the frames (label, exact text) to show."""

    title: str
    text: str
    frames: list[tuple[str, str]] = field(default_factory=list)


class Conn:
    """One connection; request ids come from a counter shared by all connections so that
    each id in the doc names one request."""

    def __init__(self, ws: ClientConnection, ids: list[int]) -> None:
        self.ws = ws
        self.ids = ids
        self.pushes: list[str] = []

    async def send(self, frame: str) -> str:
        """Send ``frame`` as is and return the answer's text (pushes meanwhile are kept)."""
        await self.ws.send(frame)
        while True:
            text = await asyncio.wait_for(self.ws.recv(), 10)
            assert isinstance(text, str)
            msg = json.loads(text)
            if "id" in msg:
                return text
            self.pushes.append(text)

    async def call(self, method: str, params: dict[str, Any]) -> tuple[str, str]:
        """``(request frame, answer frame)``; the answer must be for this request."""
        self.ids[0] += 1
        rid = self.ids[0]
        frame = json.dumps({"id": rid, "method": method, "params": params}, separators=(",", ":"))
        answer = await self.send(frame)
        assert json.loads(answer)["id"] == rid, answer
        return frame, answer

    async def ok(self, method: str, params: dict[str, Any]) -> tuple[str, str]:
        frame, answer = await self.call(method, params)
        assert "result" in json.loads(answer), answer
        return frame, answer

    async def push(self) -> str:
        if self.pushes:
            return self.pushes.pop(0)
        text = await asyncio.wait_for(self.ws.recv(), 10)
        assert isinstance(text, str) and "channel" in json.loads(text), text
        return text


def _place(signer: Signer, nonce: int, **f: Any) -> dict[str, Any]:
    """Signed ``place`` params, every field spelled out, in the order the doc lists them."""
    p = {
        "account": signer.account,
        "market": f["market"],
        "side": f["side"],
        "price": str(f["price"]),
        "qty": str(f["qty"]),
        "tif": f.get("tif", "GTC"),
        "order_type": f.get("order_type", "limit"),
        "client_order_id": f.get("client_order_id", ""),
        "stp": f.get("stp", "expire_maker"),
        "expires_at_ms": f.get("expires_at_ms", 0),
    }
    sig = signer.sign_place(
        p["market"],
        p["side"],
        f["price"],
        f["qty"],
        tif=p["tif"],
        order_type=p["order_type"],
        client_order_id=p["client_order_id"],
        stp=p["stp"],
        expires_at_ms=p["expires_at_ms"],
        nonce=nonce,
    )
    return {**p, "nonce": nonce, "signature": sig}


def _login(signer: Signer) -> dict[str, Any]:
    nonce = signer.next_nonce()
    return {"account": signer.account, "nonce": nonce, "signature": signer.sign_login(nonce=nonce)}


async def _session(url: str) -> list[Example]:
    ids = [0]
    conns = [Conn(await connect(url), ids) for _ in range(4)]
    op, alice, bob, anon = conns
    ex: list[Example] = []

    def add(title: str, text: str, *frames: tuple[str, str]) -> None:
        ex.append(Example(title, text, list(frames)))

    def pair(call: tuple[str, str]) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("request", call[0]), ("answer", call[1])

    try:
        # --- setup and public queries (the operator's connection, never logged in)
        info = await op.ok("info", {})
        add("`info`", "The deployment: the EIP-712 domain, the clock and the limits.", *pair(info))
        d = json.loads(info[1])["result"]["domain"]
        domain = Domain(d["chain_id"], d["verifying_contract"], d["name"], d["version"])
        for s in (ALICE, BOB, AGENT):
            s.bind_domain(domain)

        listed = await op.ok("dev_list_token", {"token": WETH, "symbol": "WETH", "decimals": 18})
        add("`dev_list_token`", "The result carries the core's events.", *pair(listed))
        await op.ok("dev_list_token", {"token": USDC, "symbol": "USDC", "decimals": 6})
        market = await op.ok(
            "dev_list_market",
            {"market": MKT, "base": WETH, "quote": USDC, "tick": str(10_000),
             "lot": str(10**15), "min_qty": str(10**15), "lit": True},
        )  # fmt: skip
        add("`dev_list_market`", "A lit market; tick 0.01 USDC, lot 0.001 WETH.", *pair(market))
        deposit = await op.ok(
            "dev_deposit", {"account": ALICE.account, "token": USDC, "amount": str(10_000 * E6)}
        )
        add("`dev_deposit`", "10,000 USDC for alice (deposit id 1).", *pair(deposit))
        await op.ok("dev_deposit", {"account": BOB.account, "token": WETH, "amount": str(2 * E18)})
        add("`markets`", "Listed tokens and markets.", *pair(await op.ok("markets", {})))

        # --- bob: a signed login, a signed resting sell, then his user channel
        add(
            "`login`", "Signed by the account's own key.", *pair(await bob.ok("login", _login(BOB)))
        )
        sell = _place(BOB, BOB.next_nonce(), market=MKT, side="sell", price=3000 * E6, qty=E18,
                      client_order_id="ask-1")  # fmt: skip
        placed = await bob.ok("place", sell)
        add("`place`", "A signed GTC sell of 1 WETH at 3,000 USDC; it rests.", *pair(placed))
        add(
            "`subscribe` `user`",
            "The snapshot: the account's balances and open orders.",
            *pair(await bob.ok("subscribe", {"channel": "user"})),
        )

        # --- the anonymous observer: book query and the public book channel
        book = await anon.ok("book", {"market": MKT, "depth": 10})
        add("`book`", "A public query: no login needed; `seq` is the book channel's.", *pair(book))
        add(
            "`subscribe` `book`",
            "The snapshot: the top 50 levels per side.",
            *pair(await anon.ok("subscribe", {"channel": "book", "market": MKT})),
        )

        # --- alice: login, settlements, then a batch in session mode (no nonce, no signature)
        await alice.ok("login", _login(ALICE))
        add(
            "`subscribe` `settlements`",
            "Nothing is pushed on this channel yet; its snapshot is empty.",
            *pair(await alice.ok("subscribe", {"channel": "settlements"})),
        )
        batch = await alice.ok(
            "batch",
            {
                "account": ALICE.account,
                "actions": [
                    {"method": "place", "params": {"market": MKT, "side": "buy",
                     "price": str(3000 * E6), "qty": str(4 * 10**17), "tif": "IOC"}},
                    {"method": "place", "params": {"market": MKT, "side": "buy",
                     "price": str(2990 * E6), "qty": str(5 * 10**17),
                     "client_order_id": "bid-1"}},
                    {"method": "place", "params": {"market": MKT, "side": "buy",
                     "price": str(2980 * E6), "qty": str(5 * 10**17),
                     "client_order_id": "bid-2"}},
                ],
            },
        )  # fmt: skip
        add(
            "`batch`",
            "Unsigned (session mode, after alice's login): an IOC buy that takes 0.4 WETH of "
            "bob's sell, and two resting bids.",
            *pair(batch),
        )
        add(
            "`user` push",
            "What bob's `user` channel receives when alice's batch fills his order: his side "
            "of the fill (`maker`), then his balances.",
            ("push", await bob.push()),
        )
        add(
            "`book` push",
            "The levels alice's batch changed.",
            ("push", await anon.push()),
        )
        add(
            "`subscribe` `trades`",
            "The snapshot: the last 50 trades, newest first, without accounts or order ids.",
            *pair(await anon.ok("subscribe", {"channel": "trades", "market": MKT})),
        )
        replace = await alice.ok(
            "replace",
            {"account": ALICE.account, "market": MKT, "side": "buy", "price": str(3000 * E6),
             "qty": str(3 * 10**17), "client_order_id": "bid-1"},
        )  # fmt: skip
        add(
            "`replace`",
            "Unsigned (session mode): `bid-1` moves up to 3,000 USDC and 0.3 WETH; at its new "
            "price it trades like a new order and fills completely.",
            *pair(replace),
        )
        add("`trades` push", "The trade of alice's replace.", ("push", await anon.push()))
        await anon.push()  # the book push of the replace

        # --- alice's private queries
        add(
            "`balances`",
            "`available` is `balance - locked`.",
            *pair(await alice.ok("balances", {})),
        )
        add(
            "`open_orders`",
            "`qty` is the open quantity.",
            *pair(await alice.ok("open_orders", {"market": MKT})),
        )
        add(
            "`order`",
            "A closed order, by client order id.",
            *pair(await alice.ok("order", {"market": MKT, "client_order_id": "bid-1"})),
        )
        add(
            "`fills`",
            "Newest first, each with its command's `seq` and `ts_ms`.",
            *pair(await alice.ok("fills", {"market": MKT, "limit": 10})),
        )

        # --- alice's signed actions
        nonce = ALICE.next_nonce()
        approve = await alice.ok(
            "approve_agent",
            {"account": ALICE.account, "agent": AGENT.address, "name": "bot-1",
             "valid_until_ms": AGENT_UNTIL_MS, "nonce": nonce,
             "signature": ALICE.sign_approve_agent(AGENT.address, "bot-1", AGENT_UNTIL_MS,
                                                   nonce=nonce)},
        )  # fmt: skip
        add(
            "`approve_agent`",
            "Signed by the account's own key; it is never unsigned, even in session mode.",
            *pair(approve),
        )
        nonce = ALICE.next_nonce()
        withdraw = await alice.ok(
            "withdraw",
            {"account": ALICE.account, "token": USDC, "amount": str(100 * E6), "nonce": nonce,
             "signature": ALICE.sign_withdraw(USDC, 100 * E6, nonce=nonce)},
        )  # fmt: skip
        add(
            "`withdraw`",
            "Signed by the account's own key (an agent may not withdraw).",
            *pair(withdraw),
        )
        nonce = ALICE.next_nonce()
        bid2 = next(
            e["order_id"]
            for e in json.loads(batch[1])["result"]["events"]
            if e.get("client_order_id") == "bid-2"
        )
        cancel = await alice.ok(
            "cancel",
            {"account": ALICE.account, "market": MKT, "order_id": bid2, "nonce": nonce,
             "signature": ALICE.sign_cancel(MKT, order_id=bid2, nonce=nonce)},
        )  # fmt: skip
        add("`cancel`", "Signed, by order id (`bid-2`).", *pair(cancel))
        cancel_all = await bob.ok("cancel_all", {"account": BOB.account, "market": ""})
        add(
            "`cancel_all`",
            "Unsigned (session mode); `market` empty: every market.",
            *pair(cancel_all),
        )
        add(
            "`unsubscribe`",
            "The answer names the channel; nothing more is pushed on it.",
            *pair(await alice.ok("unsubscribe", {"channel": "settlements"})),
        )

        # --- errors
        too_big = await alice.call(
            "place",
            {"account": ALICE.account, "market": MKT, "side": "buy", "price": str(3000 * E6),
             "qty": str(10 * E18)},
        )  # fmt: skip
        add(
            "Error: a reject code",
            "Unsigned: a buy of 10 WETH needs 30,000 USDC; alice has 7,800. The core refuses it "
            "and nothing changes.",
            *pair(too_big),
        )
        ids[0] += 1
        again = json.dumps({**json.loads(placed[0]), "id": ids[0]}, separators=(",", ":"))
        add(
            "Error: an authentication code",
            "Bob's signed place above, sent again under a new id: the signature is still "
            "valid, but its nonce was used.",
            ("request", again),
            ("answer", await bob.send(again)),
        )
        add(
            "Error: a gateway code",
            "A private query on a connection that has not logged in.",
            *pair(await anon.call("balances", {})),
        )
        add(
            "Error: a malformed request",
            "An unknown field; the answer still carries the request's id.",
            *pair(await anon.call("book", {"market": MKT, "levels": 5})),
        )
        ids[0] += 1
        cut = f'{{"id":{ids[0]},"method":"info"'
        bad = await anon.send(cut)
        add(
            "Error: malformed JSON",
            f"The frame `{cut}` (cut short): the id cannot be read, so the answer's is `null`.",
            ("answer", bad),
        )

        add(
            "`dev_state_hash`",
            "For tests: hashes of the committed state.",
            *pair(await op.ok("dev_state_hash", {})),
        )
    finally:
        for c in conns:
            await c.ws.close()
    return ex


def capture(tmp_path: Path) -> list[Example]:
    """Start the real server under ``tmp_path``, play the session, stop the server."""
    server = start(tmp_path, "dev_operator = true\n")
    try:
        return asyncio.run(_session(server.ws_url))
    finally:
        code, stderr = server.stop()
        if code != 0:
            raise RuntimeError(f"the server exited with {code}: {stderr}")


# ---------------------------------------------------------------------- Markdown


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render_json(value: Any, col: int = 0, indent: int = 0, width: int = WIDTH) -> str:
    """Compact JSON starting at column ``col``, wrapped after commas where a line would pass
    ``width``: items are packed greedily, a line that continues a container at nesting depth
    ``indent`` starts with ``indent + 1`` spaces, and an item too long for a line is broken
    the same way. (Strings longer than a line, like signatures, stay whole.)"""
    compact = _compact(value)
    if col + len(compact) <= width or not isinstance(value, dict | list) or not value:
        return compact
    if isinstance(value, dict):
        items = [(_compact(k) + ":", v) for k, v in value.items()]
        out = "{"
    else:
        items = [("", v) for v in value]
        out = "["
    pad = " " * (indent + 1)
    at = col + 1  # the column the next character lands on
    broke = False  # the last item took several lines
    for i, (key, v) in enumerate(items):
        text = key + _compact(v)
        if i:
            out += ","
            at += 1
            if broke or at + len(text) > width:
                out += "\n" + pad
                at = len(pad)
        if at + len(text) <= width:
            out += text
            broke = False
        else:
            text = key + render_json(v, at + len(key), indent + 1, width)
            out += text
            broke = "\n" in text
        at = len(out) - out.rfind("\n") - 1 if "\n" in out else col + len(out)
    return out + ("}" if isinstance(value, dict) else "]")


INTRO: Final = (
    "One request of every method, one answer of every shape and one message of every stream "
    "that pushes yet (`settlements` has only its snapshot), captured byte for byte from the "
    "real server by `tests/docs_examples.py` (`python -m tests.docs_examples --write` renews "
    "this section, and `tests/test_docs.py` checks it against a fresh run). Only the line "
    "breaks are added.",
    "It is one session, shown in the order it ran: an operator lists WETH, USDC and a lit "
    "market and makes deposits; bob (private key `0xb2b2…b2`) sells 1 WETH; alice (key "
    "`0xa1a1…a1`) takes part of it, bids and trades again; an observer that never logs in "
    "watches the book and the trades. Request ids are unique across the four connections, "
    "so an answer's `id` names its request; the gaps are requests left out because they "
    "would only repeat an example (the USDC listing, bob's deposit, alice's login). Nonces, "
    "signatures, times, state hashes and error messages vary from run to run; everything "
    "else comes out the same.",
)


def _fill(text: str) -> str:
    return textwrap.fill(text, 92, break_on_hyphens=False, break_long_words=False)


def render(examples: list[Example]) -> str:
    """The whole "Examples" section, from its heading to the blank line before the next."""
    out = [HEADING, "\n"]
    out += [_fill(p) + "\n\n" for p in INTRO]
    for e in examples:
        out.append(f"### {e.title}\n\n")
        if e.text:
            out.append(_fill(e.text) + "\n\n")
        for label, frame in e.frames:
            body = render_json(json.loads(frame))
            out.append(f"{label.capitalize()}:\n\n```json\n{body}\n```\n\n")
    return "".join(out)


def section(doc: str) -> str:
    """The "Examples" section of ``doc`` ("" if it has none)."""
    start_at = doc.find(HEADING)
    if start_at < 0:
        return ""
    return doc[start_at : doc.index(NEXT_HEADING, start_at)]


def write_doc(examples: list[Example], path: Path = DOC) -> None:
    """Replace (or insert, before "## Commands") the section in ``path``."""
    doc = path.read_text()
    old = section(doc)
    new = render(examples)
    if old:
        doc = doc.replace(old, new, 1)
    else:
        at = doc.index(NEXT_HEADING)
        doc = doc[:at] + new + doc[at:]
    path.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"update {DOC}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        examples = capture(Path(tmp))
    if args.write:
        write_doc(examples)
    else:
        sys.stdout.write(render(examples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
