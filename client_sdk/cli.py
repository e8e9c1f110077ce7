"""``myrtle``: the exchange from a terminal.

    myrtle --key 0x... balances
    myrtle --key 0x... place WETH-USDC buy 3000.5 0.25 --tif POST_ONLY
    myrtle --key 0x... orders --market WETH-USDC
    myrtle --key 0x... cancel WETH-USDC 17
    myrtle watch WETH-USDC

Prices and quantities are typed as people write them and converted to base units exactly;
a value off the market's tick or lot is refused (exit code 2), never rounded. An error from
the exchange prints ``category code: message`` on stderr and exits with 1.

Options come from the environment too: ``MYRTLE_URL``, ``MYRTLE_KEY`` (a 0x hex private
key) and ``MYRTLE_ACCOUNT`` (the account an agent key trades for).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from client_sdk.client import Client, Subscription
from client_sdk.errors import ExchangeError
from client_sdk.models import (
    ActionResult,
    BookSnapshot,
    BookUpdate,
    Fill,
    Level,
    Markets,
    MarketSpec,
    StreamMessage,
    Trade,
    TradesSnapshot,
    TradesUpdate,
    UserUpdate,
)
from client_sdk.signing import Signer, SigningError
from client_sdk.units import OffGridError, UnitsError, format_units

__all__ = ["DEFAULT_URL", "WatchState", "app", "main"]

DEFAULT_URL = "ws://127.0.0.1:8765/ws"

app = typer.Typer(
    name="myrtle",
    help="Trade on a Myrtle Wyckoff exchange.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_T = TypeVar("_T")


@dataclass
class Settings:
    url: str = DEFAULT_URL
    key: str | None = None
    account: str | None = None
    timeout: float = 10.0


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _run(ctx: typer.Context, work: Callable[[Client], Awaitable[_T]], *, key: bool) -> _T:
    """Connect (signed in when ``key``), run ``work``, and turn failures into exit codes."""
    s: Settings = ctx.obj
    if key and not s.key:
        _fail("this command needs a key: --key or MYRTLE_KEY", 2)
    signer: Signer | None = None
    if s.key:
        try:
            signer = Signer(s.key, account=s.account)
        except SigningError as e:
            _fail(f"bad key or account: {e}", 2)

    async def go() -> _T:
        async with await Client.connect(
            s.url, signer=signer, session=True, request_timeout=s.timeout
        ) as client:
            return await work(client)

    try:
        return asyncio.run(go())
    except UnitsError as e:  # OffGridError too
        _fail(str(e), 2)
    except SigningError as e:
        _fail(f"signing: {e}", 2)
    except ExchangeError as e:
        _fail(f"{e.category} {e.code}: {e.message}", 1)


@app.callback()
def _options(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", envvar="MYRTLE_URL", help="The exchange's WebSocket URL.")
    ] = DEFAULT_URL,
    key: Annotated[
        str | None,
        typer.Option("--key", envvar="MYRTLE_KEY", help="0x hex private key.", show_default=False),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            envvar="MYRTLE_ACCOUNT",
            help="The account an agent key trades for (default: the key's own).",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per request.")] = 10.0,
) -> None:
    ctx.obj = Settings(url, key, account, timeout)


def _console() -> Console:
    return Console()


def _token_label(markets: Markets, token: str) -> tuple[str, int | None]:
    t = markets.token(token)
    return (t.symbol, t.decimals) if t is not None else (token, None)


def _fmt(units: int, decimals: int | None) -> str:
    return str(units) if decimals is None else format_units(units, decimals)


@app.command()
def balances(ctx: typer.Context) -> None:
    """The account's balances, in whole tokens."""

    async def work(c: Client) -> None:
        rows, markets = await c.balances(), await c.markets()
        table = Table(title="balances")
        for col in ("token", "balance", "locked", "available"):
            table.add_column(col, justify="left" if col == "token" else "right")
        for r in rows:
            label, dec = _token_label(markets, r.token)
            table.add_row(label, _fmt(r.balance, dec), _fmt(r.locked, dec), _fmt(r.available, dec))
        console = _console()
        if c.signer is not None:
            console.print(f"account {c.signer.account}", soft_wrap=True)
        console.print(table)

    _run(ctx, work, key=True)


@app.command()
def orders(
    ctx: typer.Context,
    market: Annotated[str, typer.Option("--market", help="Only this market.")] = "",
) -> None:
    """The account's open orders."""

    async def work(c: Client) -> None:
        rows, markets = await c.open_orders(market), await c.markets()
        table = Table(title="open orders")
        for col in ("id", "market", "side", "price", "open", "filled", "tif", "type", "client id"):
            table.add_column(col, justify="right" if col in ("id", "price", "open") else "left")
        for o in rows:
            spec = markets.spec(o.market)
            price = spec.format_price(o.price) if spec else str(o.price)
            qty = spec.format_qty(o.qty) if spec else str(o.qty)
            filled = spec.format_qty(o.filled) if spec else str(o.filled)
            table.add_row(
                str(o.order_id),
                o.market,
                o.side,
                price,
                qty,
                filled,
                o.tif,
                o.order_type,
                o.client_order_id,
            )
        _console().print(table)

    _run(ctx, work, key=True)


def _print_result(spec: MarketSpec, r: ActionResult) -> None:
    console = _console()
    console.print(f"seq {r.seq}")
    for e in r.events:
        name = type(e).__name__.lower()
        fields = {
            k: (
                spec.format_price(v)
                if k == "price" and isinstance(v, int)
                else spec.format_qty(v)
                if k in ("qty", "remaining") and isinstance(v, int)
                else v
            )
            for k, v in _struct_items(e)
        }
        console.print(f"  {name} " + " ".join(f"{k}={v}" for k, v in fields.items()))


def _struct_items(obj: Any) -> list[tuple[str, Any]]:
    return [(f, getattr(obj, f)) for f in getattr(obj, "__struct_fields__", ())]


@app.command()
def place(
    ctx: typer.Context,
    market: Annotated[str, typer.Argument(help="e.g. WETH-USDC")],
    side: Annotated[str, typer.Argument(help="buy or sell")],
    price: Annotated[str, typer.Argument(help="quote tokens per base token, e.g. 3000.5")],
    qty: Annotated[str, typer.Argument(help="base tokens, e.g. 0.25")],
    tif: Annotated[str, typer.Option("--tif", help="GTC, IOC, FOK or POST_ONLY")] = "GTC",
    order_type: Annotated[str, typer.Option("--type", help="limit or market")] = "limit",
    client_order_id: Annotated[str, typer.Option("--client-order-id")] = "",
) -> None:
    """Place an order; PRICE and QTY are exact decimals on the market's tick and lot."""
    if side not in ("buy", "sell"):
        _fail(f"side must be buy or sell, not {side!r}", 2)
    if tif not in ("GTC", "IOC", "FOK", "POST_ONLY"):
        _fail(f"--tif must be GTC, IOC, FOK or POST_ONLY, not {tif!r}", 2)
    if order_type not in ("limit", "market"):
        _fail(f"--type must be limit or market, not {order_type!r}", 2)

    async def work(c: Client) -> None:
        spec = await c.market_spec(market)
        try:
            price_units = spec.price_units(price)
        except OffGridError as e:
            tick = spec.format_price(spec.market.tick)
            raise OffGridError(
                f"{e}: {market} prices are multiples of {tick} {spec.quote.symbol}"
            ) from None
        try:
            qty_units = spec.qty_units(qty)
        except OffGridError as e:
            lot = spec.format_qty(spec.market.lot)
            raise OffGridError(
                f"{e}: {market} quantities are multiples of {lot} {spec.base.symbol}"
            ) from None
        r = await c.place(
            market,
            side,
            price_units,
            qty_units,
            tif=tif,
            order_type=order_type,
            client_order_id=client_order_id,
        )
        _print_result(spec, r)

    _run(ctx, work, key=True)


@app.command()
def cancel(
    ctx: typer.Context,
    market: Annotated[str, typer.Argument()],
    order_id: Annotated[int, typer.Argument(help="the order's id (or --client-order-id)")] = 0,
    client_order_id: Annotated[str, typer.Option("--client-order-id")] = "",
) -> None:
    """Cancel one order."""
    if (order_id == 0) == (client_order_id == ""):
        _fail("give either ORDER_ID or --client-order-id", 2)

    async def work(c: Client) -> None:
        spec = await c.market_spec(market)
        r = await c.cancel(market, order_id=order_id, client_order_id=client_order_id)
        _print_result(spec, r)

    _run(ctx, work, key=True)


# --- watch ---


@dataclass
class WatchState:
    """What ``watch`` shows: the top of the book, recent trades and the account's fills."""

    spec: MarketSpec
    depth: int = 10
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    trades: deque[tuple[int, Trade]] = field(default_factory=lambda: deque(maxlen=15))
    fills: deque[tuple[int, Fill]] = field(default_factory=lambda: deque(maxlen=15))
    resyncs: int = 0

    def apply(self, msg: StreamMessage) -> None:
        if isinstance(msg, BookSnapshot):
            self.bids, self.asks = dict(msg.bids), dict(msg.asks)
            self.resyncs += msg.resync
        elif isinstance(msg, BookUpdate):
            _levels(self.bids, msg.bids)
            _levels(self.asks, msg.asks)
        elif isinstance(msg, TradesSnapshot):
            self.trades.clear()
            self.trades.extend((t.ts_ms, t) for t in reversed(msg.trades))  # oldest first
            self.resyncs += msg.resync
        elif isinstance(msg, TradesUpdate):
            self.trades.extend((msg.ts_ms, t) for t in msg.trades)
        elif isinstance(msg, UserUpdate):
            for e in msg.events:
                if isinstance(e, Fill) and e.market == self.spec.name:
                    self.fills.append((msg.ts_ms, e))

    def render(self) -> Group:
        s = self.spec
        book = Table(title=f"{s.name}", expand=False)
        for col in ("bid qty", "bid", "ask", "ask qty"):
            book.add_column(col, justify="right")
        bids = sorted(self.bids.items(), reverse=True)[: self.depth]
        asks = sorted(self.asks.items())[: self.depth]
        for i in range(max(len(bids), len(asks))):
            b = bids[i] if i < len(bids) else None
            a = asks[i] if i < len(asks) else None
            book.add_row(
                s.format_qty(b[1]) if b else "",
                Text(s.format_price(b[0]), style="green") if b else "",
                Text(s.format_price(a[0]), style="red") if a else "",
                s.format_qty(a[1]) if a else "",
            )
        trades = Table(title="trades")
        for col in ("price", "qty", "taker"):
            trades.add_column(col, justify="right")
        for _, t in reversed(self.trades):
            style = "green" if t.taker_side == "buy" else "red"
            trades.add_row(
                Text(s.format_price(t.price), style=style), s.format_qty(t.qty), t.taker_side
            )
        parts: list[Any] = [book, trades]
        if self.fills:
            fills = Table(title="your fills")
            for col in ("order", "side", "price", "qty", "liquidity"):
                fills.add_column(col, justify="right")
            for _, f in reversed(self.fills):
                fills.add_row(
                    str(f.order_id),
                    f.side,
                    s.format_price(f.price),
                    s.format_qty(f.qty),
                    f.liquidity,
                )
            parts.append(fills)
        return Group(*parts)


def _levels(side: dict[int, int], changes: list[Level]) -> None:
    for price, qty in changes:
        if qty:
            side[price] = qty
        else:
            side.pop(price, None)


@app.command()
def watch(
    ctx: typer.Context,
    market: Annotated[str, typer.Argument()],
    depth: Annotated[int, typer.Option("--depth", help="Levels shown per side.")] = 10,
    updates: Annotated[
        int, typer.Option("--updates", help="Stop after this many stream messages (0: never).")
    ] = 0,
) -> None:
    """Follow a market live: top of book, recent trades, and your fills when a key is given."""

    async def work(c: Client) -> None:
        spec = await c.market_spec(market)
        state = WatchState(spec, depth)
        subs = [await c.subscribe("book", market), await c.subscribe("trades", market)]
        if c.signer is not None:
            subs.append(await c.subscribe("user"))
        queue: asyncio.Queue[StreamMessage | BaseException] = asyncio.Queue()

        async def pump(sub: Subscription) -> None:
            try:
                async for msg in sub:
                    queue.put_nowait(msg)
            except BaseException as e:
                queue.put_nowait(e)

        tasks = [asyncio.create_task(pump(s)) for s in subs]
        seen = 0
        try:
            with Live(state.render(), console=_console(), auto_refresh=False) as live:
                while updates == 0 or seen < updates:
                    item = await queue.get()
                    if isinstance(item, BaseException):
                        raise item
                    state.apply(item)
                    seen += 1
                    live.update(state.render(), refresh=True)
        finally:
            for t in tasks:
                t.cancel()

    try:
        _run(ctx, work, key=False)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def main() -> None:
    """The ``myrtle`` console script."""
    app(prog_name="myrtle")


if __name__ == "__main__":
    main()
