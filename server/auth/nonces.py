"""Replay protection: nonces are millisecond timestamps (the Hyperliquid rule).

A signer's nonce is accepted only if

1. it lies in the window ``now - back_ms <= nonce <= now + forward_ms`` (defaults: 2 days
   back, 1 day forward), ``now`` being the sequencer's time, passed in;
2. that signer has not used it before;
3. once ``keep`` nonces (default 100) are stored for that signer, it is greater than the
   smallest of them; it then replaces that smallest one.

So each signer costs at most ``keep`` integers, a replay is refused by rule 2 while its nonce
is stored and by rule 3 (or, later, rule 1) once it has been pushed out, and a bot may send up
to ``keep`` actions concurrently in any order. The nonce is the signer's (an agent has its
own), whatever account it acts for. Pure logic: no clock is read here.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Final

from server.auth.eip712 import AuthError

__all__ = [
    "DAY_MS",
    "NonceError",
    "NonceOutOfWindow",
    "NonceReused",
    "NonceTooLow",
    "Nonces",
]

DAY_MS: Final = 86_400_000


class NonceError(AuthError):
    code = "BAD_NONCE"


class NonceOutOfWindow(NonceError):
    code = "NONCE_OUT_OF_WINDOW"


class NonceReused(NonceError):
    code = "NONCE_REUSED"


class NonceTooLow(NonceError):
    code = "NONCE_TOO_LOW"


class _Signer:
    """One signer's highest ``keep`` nonces: a min-heap and a set of the same values."""

    __slots__ = ("heap", "used")

    def __init__(self) -> None:
        self.heap: list[int] = []
        self.used: set[int] = set()


class Nonces:
    """The nonces used per signer. Not thread-safe: the sequencer's single writer owns it."""

    def __init__(
        self, *, back_ms: int = 2 * DAY_MS, forward_ms: int = DAY_MS, keep: int = 100
    ) -> None:
        if back_ms < 0 or forward_ms < 0:
            raise ValueError("the window bounds must not be negative")
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.back_ms: Final = back_ms
        self.forward_ms: Final = forward_ms
        self.keep: Final = keep
        self._signers: dict[str, _Signer] = {}

    def __len__(self) -> int:
        """The number of signers with stored nonces."""
        return len(self._signers)

    def check(self, signer: str, nonce: int, now_ms: int) -> None:
        """Raise a ``NonceError`` unless ``use`` would accept ``nonce`` now; change nothing."""
        if type(nonce) is not int or not now_ms - self.back_ms <= nonce <= now_ms + self.forward_ms:
            raise NonceOutOfWindow(
                f"nonce {nonce!r:.30} is outside [now - {self.back_ms}, now + {self.forward_ms}]"
                f" ms, now = {now_ms}"
            )
        s = self._signers.get(signer)
        if s is None:
            return
        if nonce in s.used:
            raise NonceReused(f"nonce {nonce} was already used by {signer}")
        if len(s.heap) >= self.keep and nonce <= s.heap[0]:
            raise NonceTooLow(
                f"nonce {nonce} is not above {s.heap[0]}, the lowest of the {self.keep}"
                f" highest nonces of {signer}"
            )

    def use(self, signer: str, nonce: int, now_ms: int) -> None:
        """Accept ``nonce`` for ``signer`` and record it, or raise a ``NonceError``."""
        self.check(signer, nonce, now_ms)
        s = self._signers.get(signer)
        if s is None:
            s = self._signers[signer] = _Signer()
        if len(s.heap) < self.keep:
            heapq.heappush(s.heap, nonce)
        else:
            s.used.discard(heapq.heapreplace(s.heap, nonce))
        s.used.add(nonce)

    def highest(self, signer: str) -> list[int]:
        """The stored nonces of ``signer``, ascending (at most ``keep``)."""
        s = self._signers.get(signer)
        return sorted(s.heap) if s else []

    def prune(self, now_ms: int) -> int:
        """Forget the signers whose every stored nonce is below the window; return how many.

        Safe only because the sequencer's time never goes back: such nonces can never be in
        the window again, so forgetting them cannot let one be replayed.
        """
        low = now_ms - self.back_ms
        stale = [k for k, s in self._signers.items() if max(s.heap) < low]
        for k in stale:
            del self._signers[k]
        return len(stale)

    def snapshot(self) -> dict[str, list[int]]:
        """The whole state as plain data (signer -> stored nonces, ascending)."""
        return {k: sorted(s.heap) for k, s in sorted(self._signers.items())}

    @classmethod
    def restore(
        cls,
        state: Mapping[str, Iterable[int]],
        *,
        back_ms: int = 2 * DAY_MS,
        forward_ms: int = DAY_MS,
        keep: int = 100,
    ) -> Nonces:
        """The inverse of ``snapshot`` (with the same settings)."""
        n = cls(back_ms=back_ms, forward_ms=forward_ms, keep=keep)
        for signer, nonces in state.items():
            values = sorted(set(nonces))[-keep:]
            if values:
                s = n._signers[signer] = _Signer()
                s.heap = values  # an ascending list is a valid min-heap
                s.used = set(values)
        return n
