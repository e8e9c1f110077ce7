"""Rate limits and abuse limits (sans-I/O: the caller passes the time in seconds)."""

from __future__ import annotations

from collections import deque

__all__ = ["ERROR_WINDOW_S", "ErrorWindow", "TokenBucket"]

ERROR_WINDOW_S = 10.0


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; starts full."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now

    def take(self, now: float, n: float = 1.0) -> bool:
        """Spend ``n`` tokens if there are that many; whether it did."""
        tokens = self.tokens + (now - self.last) * self.rate
        self.last = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens < n:
            self.tokens = tokens
            return False
        self.tokens = tokens - n
        return True


class ErrorWindow:
    """Counts refused requests in a sliding window; ``add`` says when the limit is passed."""

    __slots__ = ("limit", "times", "window")

    def __init__(self, limit: int, window: float = ERROR_WINDOW_S) -> None:
        self.limit = limit
        self.window = window
        self.times: deque[float] = deque()

    def add(self, now: float) -> bool:
        """Record one error at ``now``; True when more than ``limit`` fell in the window."""
        times = self.times
        times.append(now)
        low = now - self.window
        while times[0] < low:
            times.popleft()
        return len(times) > self.limit
