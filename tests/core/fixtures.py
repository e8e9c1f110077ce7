"""Shared set-up for core tests: two tokens, one market, funded accounts."""

from __future__ import annotations

from server.core import Core, Deposit, ListMarket, ListToken

WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
MKT = "WETH-USDC"
E18 = 10**18
E6 = 10**6
TICK = 10_000  # 0.01 USDC
LOT = 10**14  # 0.0001 WETH
MIN_QTY = 10**15  # 0.001 WETH

# lot * tick = 10**18: every notional is an exact number of USDC base units.


def new_core(ts: int = 0) -> Core:
    core = Core()
    core.apply(ListToken(WETH, "WETH", 18), ts)
    core.apply(ListToken(USDC, "USDC", 6), ts)
    core.apply(ListMarket(MKT, WETH, USDC, TICK, LOT, MIN_QTY), ts)
    return core


class Funder:
    """Credits deposits with consecutive deposit ids."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def __call__(self, account: str, token: str, amount: int, ts: int = 0) -> None:
        events = self.core.apply(Deposit(account, token, amount, self.core.last_deposit_id + 1), ts)
        assert type(events[0]).__name__ == "DepositCredited", events


def funded_core(
    accounts: tuple[str, ...] = ("alice", "bob", "carol"),
    weth: int = 1_000 * E18,
    usdc: int = 10_000_000 * E6,
) -> Core:
    core = new_core()
    fund = Funder(core)
    for a in accounts:
        fund(a, WETH, weth)
        fund(a, USDC, usdc)
    return core
