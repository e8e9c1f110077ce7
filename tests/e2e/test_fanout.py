"""Fan-out: a consumer that stops reading is dropped (4001) without slowing anyone else."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from client_sdk.signing import Signer
from tests.e2e.raw import DOMAIN, E6, E18, LOT, MKT, TICK, Raw, dev_setup, signed_params
from tests.servers import Server, start

MAKER = Signer("0x" + "d4" * 32, DOMAIN)
ROUNDS = 300
QUERIES = 1500


async def slow_consumer(server: Server) -> Any:
    """A connection with a tiny receive buffer that subscribes, asks for the deep book over
    and over (about 10 MB of answers, more than the kernel buffers) and never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    ws = await connect(server.ws_url, sock=sock, max_queue=1)
    await ws.send(
        json.dumps({"id": 1, "method": "subscribe", "params": {"channel": "book", "market": MKT}})
    )
    for i in range(QUERIES):
        await ws.send(
            json.dumps({"id": 2 + i, "method": "book", "params": {"market": MKT, "depth": 1000}})
        )
    return ws


async def flow(server: Server) -> tuple[list[int], int]:
    setup = await Raw.open(server.ws_url)
    await dev_setup(setup, {MAKER.account: (100 * E18, 10_000_000 * E6)})
    await setup.close()

    bot = await Raw.open(server.ws_url)
    await bot.ok("login", signed_params(MAKER, "login"))
    for i in range(200):  # a deep book: 200 levels
        price = 1000 * E6 + i * TICK
        await bot.ok(
            "place",
            {
                "account": MAKER.account,
                "market": MKT,
                "side": "buy",
                "price": str(price),
                "qty": str(LOT),
            },
        )

    fast = await Raw.open(server.ws_url)
    snap = await fast.ok("subscribe", {"channel": "book", "market": MKT})
    slow = await slow_consumer(server)
    seqs = [snap["seq"]]

    async def read_fast() -> None:
        while len(seqs) <= ROUNDS:
            seqs.append((await fast.push())["seq"])

    reader = asyncio.create_task(read_fast())
    for i in range(ROUNDS):  # each order moves the book: one book message per order
        # Adds to one of the best 50 levels (what the book channel shows): one message each.
        price = 1000 * E6 + (199 - i % 50) * TICK
        await bot.ok(
            "place",
            {
                "account": MAKER.account,
                "market": MKT,
                "side": "buy",
                "price": str(price),
                "qty": str(LOT),
            },
        )
    try:
        await asyncio.wait_for(reader, 30)
    except TimeoutError:
        raise AssertionError(
            f"fast subscriber got {len(seqs) - 1} of {ROUNDS}: {seqs[-5:]}"
        ) from None
    health = await bot.ok("info")
    assert health["domain"]["chain_id"] == 31337
    closed = 0
    try:
        while True:
            await asyncio.wait_for(slow.recv(), 10)
    except ConnectionClosed as e:
        closed = e.rcvd.code if e.rcvd is not None else 1006
    for r in (fast, bot):
        await r.close()
    return seqs, closed


def test_a_slow_consumer_is_dropped_and_the_others_get_everything(tmp_path: Path) -> None:
    srv = start(tmp_path, "dev_operator = true\noutbound_queue = 64\n")
    try:
        seqs, closed = asyncio.run(flow(srv))
    finally:
        code, stderr = srv.stop()
    assert code == 0, stderr
    # The fast subscriber saw every book message, one per order, with no gap.
    assert seqs == list(range(seqs[0], seqs[0] + ROUNDS + 1))
    # The slow one was closed: with 4001 when the close frame got through its full buffers,
    # else the TCP connection was cut after the closing timeout.
    assert closed in (4001, 1006)
    assert "4001 slow consumer" in stderr
