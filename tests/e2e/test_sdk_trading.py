"""Bots on the SDK against the real server over loopback: fills stream to both sides with
the right amounts; a dropped connection reconnects, resubscribes, detects the gap it missed
and resyncs from a snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk import Backoff, BookSnapshot, BookUpdate, Client, Fill, Signer, UserUpdate
from tests.e2e.raw import E6, E18, LOT, MKT, TICK, USDC, WETH
from tests.servers import Server, start

MAKER = Signer("0x" + "e5" * 32)
TAKER = Signer("0x" + "f6" * 32)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    srv = await asyncio.to_thread(start, tmp_path, "dev_operator = true\n")
    try:
        async with await Client.connect(srv.ws_url) as op:
            await op.call("dev_list_token", {"token": WETH, "symbol": "WETH", "decimals": 18})
            await op.call("dev_list_token", {"token": USDC, "symbol": "USDC", "decimals": 6})
            await op.call(
                "dev_list_market",
                {"market": MKT, "base": WETH, "quote": USDC, "tick": str(TICK),
                 "lot": str(LOT), "min_qty": str(LOT), "lit": True},
            )  # fmt: skip
            for s in (MAKER, TAKER):
                for token, amount in ((WETH, 10 * E18), (USDC, 100_000 * E6)):
                    await op.call(
                        "dev_deposit", {"account": s.address, "token": token, "amount": str(amount)}
                    )
        yield srv
    finally:
        code, stderr = await asyncio.to_thread(srv.stop)
        assert code == 0, stderr


async def next_fills(sub: Any) -> list[Fill]:
    while True:
        msg = await sub.get(timeout=5)
        if isinstance(msg, UserUpdate):
            fills = [e for e in msg.events if isinstance(e, Fill)]
            if fills:
                return fills


async def test_two_bots_trade_and_both_see_their_fills(server: Server) -> None:
    maker = await Client.connect(server.ws_url, signer=MAKER, session=True)
    taker = await Client.connect(server.ws_url, signer=TAKER)  # signs every action
    try:
        maker_user = await maker.subscribe("user")
        taker_user = await taker.subscribe("user")
        trades = await taker.subscribe("trades", MKT)
        for sub in (maker_user, taker_user, trades):
            await sub.get(timeout=5)  # the snapshots

        price = 2_500 * E6
        await maker.place(MKT, "sell", price, 2 * E18, client_order_id="ask")
        taken = await taker.place(MKT, "buy", price + 10 * TICK, 3 * E18 // 4, tif="IOC")

        quote = 3 * E18 // 4 * price // E18  # 1875 USDC, exactly
        (ack_fill,) = taken.of_type(Fill)
        assert (ack_fill.price, ack_fill.qty, ack_fill.quote_qty) == (price, 3 * E18 // 4, quote)
        (taker_fill,) = await next_fills(taker_user)
        (maker_fill,) = await next_fills(maker_user)
        assert (taker_fill.side, taker_fill.liquidity, taker_fill.quote_qty) == (
            "buy",
            "taker",
            quote,
        )
        assert (maker_fill.side, maker_fill.liquidity, maker_fill.quote_qty) == (
            "sell",
            "maker",
            quote,
        )
        assert maker_fill.remaining == 2 * E18 - 3 * E18 // 4
        public = await trades.get(timeout=5)
        assert [(t.price, t.qty, t.taker_side) for t in public.trades] == [
            (price, 3 * E18 // 4, "buy")
        ]

        balances = {b.token: b for b in await maker.balances()}
        assert balances[USDC].balance == 100_000 * E6 + quote
        assert balances[WETH].balance == 10 * E18 - 3 * E18 // 4
        assert balances[WETH].locked == 2 * E18 - 3 * E18 // 4
    finally:
        await maker.close()
        await taker.close()


async def test_a_dropped_connection_reconnects_resubscribes_and_resyncs_the_gap(
    server: Server,
) -> None:
    watcher = await Client.connect(
        server.ws_url, signer=TAKER, backoff=Backoff(initial=1.0, maximum=1.0, jitter=0.0)
    )
    maker = await Client.connect(server.ws_url, signer=MAKER, session=True)
    try:
        book = await watcher.subscribe("book", MKT)
        user = await watcher.subscribe("user")
        first = await book.get(timeout=5)
        assert isinstance(first, BookSnapshot) and not first.resync
        await user.get(timeout=5)
        await maker.place(MKT, "sell", 2_600 * E6, E18)
        assert isinstance(await book.get(timeout=5), BookUpdate)

        # Cut the watcher's TCP connection; while it waits to reconnect the book moves on.
        assert watcher._ws is not None
        watcher._ws.transport.abort()
        await asyncio.sleep(0.2)
        for i in range(3):
            await maker.place(MKT, "sell", 2_601 * E6 + i * TICK, E18)

        resynced = await book.get(timeout=10)
        assert isinstance(resynced, BookSnapshot) and resynced.resync
        assert book.gaps >= 1 and book.resyncs >= 1
        assert resynced.seq == book.last_seq
        # The resynced snapshot is the server's book, and updates continue after it.
        assert (resynced.bids, resynced.asks) == (
            (now := await watcher.book(MKT)).bids,
            now.asks,
        )
        assert len(resynced.asks) == 4
        await maker.place(MKT, "sell", 2_700 * E6, E18)
        update = await book.get(timeout=5)
        assert isinstance(update, BookUpdate) and update.seq == resynced.seq + 1
        # The private channel came back too (the client logged in again by itself).
        assert watcher.logged_in
        assert (await user.get(timeout=5)).resync
    finally:
        await watcher.close()
        await maker.close()
