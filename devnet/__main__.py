"""``make run``: a local devnet with no configuration.

Starts the exchange server (a subprocess, loopback only, development operator on), lists
WETH/USDC and a lit and a dark market, credits deposits through the development operator
path (until the chain watcher replaces it), funds a few demo bots and one account for you,
and lets the bots trade through the SDK until Ctrl-C (or ``--duration``).

State lives in ``data/devnet`` (sealed with a development key kept next to it), so a restart
recovers where it stopped; ``rm -rf data/devnet`` starts over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from client_sdk import Client, ExchangeError, Signer
from devnet.bots import (
    DARK,
    E6,
    E18,
    LOT,
    MARKET,
    MIN_QTY,
    TICK,
    USDC,
    WETH,
    BotStats,
    MarketMaker,
    Taker,
    Trader,
    connect_bot,
)

# Deterministic development keys. YOU is anvil's first account, which the chain devnet will
# fund too; the bots' keys are just numbers. Never use any of them with real money.
YOU = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
BOT_KEYS = {
    "maker-1": "0x" + "b07" * 21 + "1",
    "maker-2": "0x" + "b07" * 21 + "2",
    "taker": "0x" + "b07" * 21 + "3",
    "trader": "0x" + "b07" * 21 + "4",
}
FUNDS = {WETH: 100 * E18, USDC: 1_000_000 * E6}
START_TIMEOUT = 15.0


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def storage_key(data_dir: Path) -> str:
    """The development storage key, made once and kept (0600) next to the state."""
    path = data_dir / "dev-storage.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def start_server(host: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYRTLE_")}
    env.update(
        MYRTLE_HOST=host,
        MYRTLE_PORT=str(port),
        MYRTLE_DATA_DIR=str(data_dir / "exchange"),
        MYRTLE_STORAGE_KEY_HEX=storage_key(data_dir),
        MYRTLE_DEV_OPERATOR="true",
    )
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115  (the child keeps it open)
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve"], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise SystemExit(
                f"the server exited with {proc.returncode}; see {data_dir / 'server.log'}"
            )
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=1):
                return proc
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"no /health after {START_TIMEOUT} s; see server.log") from None
            time.sleep(0.1)


def stop_server(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


async def _ok(client: Client, method: str, params: dict[str, object]) -> None:
    """A dev operator call; "already listed" is fine on a restart."""
    try:
        await client.call(method, params)
    except ExchangeError as e:
        if getattr(e, "code", "") not in ("TOKEN_EXISTS", "MARKET_EXISTS"):
            raise


async def setup(url: str) -> None:
    async with await Client.connect(url) as op:
        await _ok(op, "dev_list_token", {"token": WETH, "symbol": "WETH", "decimals": 18})
        await _ok(op, "dev_list_token", {"token": USDC, "symbol": "USDC", "decimals": 6})
        for market, lit in ((MARKET, True), (DARK, False)):
            await _ok(
                op,
                "dev_list_market",
                {
                    "market": market,
                    "base": WETH,
                    "quote": USDC,
                    "tick": str(TICK),
                    "lot": str(LOT),
                    "min_qty": str(MIN_QTY),
                    "lit": lit,
                },
            )
    for key in [YOU, *BOT_KEYS.values()]:
        signer = Signer(key)
        async with await Client.connect(url, signer=signer) as c:
            held = {row.token: row.balance for row in await c.balances()}
            for token, amount in FUNDS.items():
                if held.get(token, 0) < amount // 2:  # top up on a restart, do not pile up
                    await c.call(
                        "dev_deposit",
                        {"account": signer.account, "token": token, "amount": str(amount)},
                    )


def banner(url: str, host: str, port: int, data_dir: Path) -> str:
    you = Signer(YOU).account
    return f"""
Myrtle Wyckoff devnet is up: {url}
  health  http://{host}:{port}/health     metrics  http://{host}:{port}/metrics
  state   {data_dir}  (sealed; rm -rf it to start over)

Bots are trading {MARKET}. In another terminal, try:
  .venv/bin/myrtle --url {url} watch {MARKET}
  export MYRTLE_URL={url} MYRTLE_KEY={YOU}
  .venv/bin/myrtle balances            # your funded dev account {you}
  .venv/bin/myrtle place {MARKET} buy 2990.50 0.25
  .venv/bin/myrtle orders
Ctrl-C stops the bots and the server.
"""


async def trade(url: str, duration: float | None) -> BotStats:
    stats = BotStats()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    clients = {
        name: await connect_bot(url, key, session=name.startswith("maker"))
        for name, key in BOT_KEYS.items()
    }
    kinds = {"maker-1": MarketMaker, "maker-2": MarketMaker, "taker": Taker, "trader": Trader}
    bots = [kinds[name](name, c, stats, seed=i) for i, (name, c) in enumerate(clients.items())]
    tasks = [asyncio.create_task(b.run(stop)) for b in bots]
    started = time.monotonic()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)
            elapsed = time.monotonic() - started
            price = f"{stats.last_price / E6:.2f}" if stats.last_price else "-"
            print(
                f"  {elapsed:6.0f} s  orders {stats.orders:6d}  fills {stats.fills:6d}"
                f"  refused {stats.errors:4d}  last {price} USDC",
                flush=True,
            )
            if duration is not None and elapsed >= duration:
                stop.set()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in clients.values():
            await c.close()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devnet", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--data-dir", type=Path, default=Path("data/devnet"))
    parser.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    args = parser.parse_args()
    if not port_is_free(args.host, args.port):
        raise SystemExit(
            f"port {args.port} on {args.host} is taken (another devnet?); stop it or pass --port"
        )
    args.data_dir.mkdir(parents=True, exist_ok=True)
    url = f"ws://{args.host}:{args.port}/ws"
    proc = start_server(args.host, args.port, args.data_dir)
    try:
        asyncio.run(setup(url))
        print(banner(url, args.host, args.port, args.data_dir), flush=True)
        stats = asyncio.run(trade(url, args.duration))
        print(f"stopped: {stats.orders} orders, {stats.fills} fills", flush=True)
    finally:
        code = stop_server(proc)
    if code != 0:
        raise SystemExit(f"the server exited with {code}; see {args.data_dir / 'server.log'}")


if __name__ == "__main__":
    main()
