"""Accounts: per token, a balance and the amount its open orders lock.

A taker account also has per-token credit limits: its balance may go negative down to
``-limit``. For everyone, ``available = balance - locked + credit >= 0`` holds after every
command (credit is 0 for non-takers).
"""

from __future__ import annotations

from server.core.book import Order

__all__ = ["Account", "Withdrawal"]


class Account:
    __slots__ = ("balances", "credit", "id", "locked", "orders")

    def __init__(self, id: str) -> None:
        self.id = id
        self.balances: dict[str, int] = {}
        self.locked: dict[str, int] = {}
        self.credit: dict[str, int] = {}  # taker credit limits; empty for non-takers
        self.orders: dict[int, Order] = {}  # open orders, by id, in placement order

    def available(self, token: str) -> int:
        return self.balances.get(token, 0) - self.locked.get(token, 0) + self.credit.get(token, 0)

    def free(self, token: str) -> int:
        """What may leave the exchange: available without any credit."""
        return self.balances.get(token, 0) - self.locked.get(token, 0)


class Withdrawal:
    """A withdrawal authorisation: debited already; signed and released by a later layer."""

    __slots__ = ("account", "amount", "id", "token")

    def __init__(self, id: int, account: str, token: str, amount: int) -> None:
        self.id = id
        self.account = account
        self.token = token
        self.amount = amount
