"""Nonces: the time window, no reuse, the highest-N rule, bounded memory, snapshots."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.auth.nonces import (
    DAY_MS,
    NonceError,
    NonceOutOfWindow,
    NonceReused,
    Nonces,
    NonceTooLow,
)

NOW = 1_767_139_200_000
A = "0x" + "aa" * 20
B = "0x" + "bb" * 20


def test_window_bounds_are_inclusive_and_default_2_days_back_1_forward() -> None:
    n = Nonces()
    n.use(A, NOW - 2 * DAY_MS, NOW)
    n.use(A, NOW + DAY_MS, NOW)
    with pytest.raises(NonceOutOfWindow):
        n.use(A, NOW - 2 * DAY_MS - 1, NOW)
    with pytest.raises(NonceOutOfWindow):
        n.use(A, NOW + DAY_MS + 1, NOW)
    assert n.highest(A) == [NOW - 2 * DAY_MS, NOW + DAY_MS]


def test_window_is_configurable() -> None:
    n = Nonces(back_ms=1000, forward_ms=0)
    n.use(A, NOW - 1000, NOW)
    n.use(A, NOW, NOW)
    for bad in (NOW + 1, NOW - 1001):
        with pytest.raises(NonceOutOfWindow):
            n.check(A, bad, NOW)


@pytest.mark.parametrize("bad", [None, "1767139200000", 1.5e12, True])
def test_non_int_nonce_is_refused(bad: object) -> None:
    with pytest.raises(NonceOutOfWindow):
        Nonces().use(A, bad, NOW)  # type: ignore[arg-type]


def test_reuse_is_refused_per_signer() -> None:
    n = Nonces()
    n.use(A, NOW, NOW)
    with pytest.raises(NonceReused):
        n.use(A, NOW, NOW + 5)
    n.use(B, NOW, NOW)  # another signer's nonces are its own
    assert n.highest(B) == [NOW]
    assert len(n) == 2


def test_out_of_order_nonces_are_fine_until_the_set_is_full() -> None:
    n = Nonces(keep=3)
    for nonce in (NOW + 5, NOW + 1, NOW + 3):
        n.use(A, nonce, NOW)
    assert n.highest(A) == [NOW + 1, NOW + 3, NOW + 5]
    # Full: a new nonce must be above the lowest kept (NOW + 1), and it evicts it.
    with pytest.raises(NonceTooLow):
        n.use(A, NOW, NOW)
    with pytest.raises(NonceReused):
        n.use(A, NOW + 1, NOW)
    n.use(A, NOW + 2, NOW)
    assert n.highest(A) == [NOW + 2, NOW + 3, NOW + 5]
    # The evicted one can never come back: it is below the new lowest.
    with pytest.raises(NonceTooLow):
        n.use(A, NOW + 1, NOW)
    n.use(A, NOW + 4, NOW)
    assert n.highest(A) == [NOW + 3, NOW + 4, NOW + 5]


def test_check_changes_nothing() -> None:
    n = Nonces(keep=2)
    n.check(A, NOW, NOW)
    assert len(n) == 0
    n.use(A, NOW, NOW)
    n.check(A, NOW + 1, NOW)
    assert n.highest(A) == [NOW]


def test_memory_is_bounded_per_signer() -> None:
    n = Nonces(keep=100)
    for i in range(1000):
        n.use(A, NOW + i, NOW)
    kept = n.highest(A)
    assert kept == list(range(NOW + 900, NOW + 1000))
    state = n._signers[A]
    assert len(state.heap) == 100 and state.used == set(kept)


def test_prune_forgets_only_signers_wholly_below_the_window() -> None:
    n = Nonces()
    n.use(A, NOW, NOW)
    n.use(B, NOW + 10 * DAY_MS, NOW + 10 * DAY_MS)
    assert n.prune(NOW + 2 * DAY_MS) == 0  # A's nonce is still exactly at the edge
    assert n.prune(NOW + 2 * DAY_MS + 1) == 1
    assert n.highest(A) == [] and n.highest(B) == [NOW + 10 * DAY_MS]
    # A's old nonce is outside every window that can come now: still refused.
    with pytest.raises(NonceOutOfWindow):
        n.use(A, NOW, NOW + 2 * DAY_MS + 1)


def test_snapshot_restore_round_trip() -> None:
    n = Nonces(keep=3)
    for nonce in (NOW + 1, NOW + 7, NOW + 4, NOW + 9):
        n.use(A, nonce, NOW)
    n.use(B, NOW, NOW)
    snap = n.snapshot()
    assert snap == {A: [NOW + 4, NOW + 7, NOW + 9], B: [NOW]}
    r = Nonces.restore(snap, keep=3)
    assert r.snapshot() == snap
    with pytest.raises(NonceTooLow):
        r.use(A, NOW + 4 - 1, NOW)
    with pytest.raises(NonceReused):
        r.use(B, NOW, NOW)
    r.use(A, NOW + 5, NOW)
    assert r.highest(A) == [NOW + 5, NOW + 7, NOW + 9]
    # Restoring into a smaller keep keeps the highest.
    assert Nonces.restore(snap, keep=1).snapshot() == {A: [NOW + 9], B: [NOW]}


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Nonces(keep=0)
    with pytest.raises(ValueError):
        Nonces(back_ms=-1)


def test_errors_have_codes() -> None:
    assert {NonceOutOfWindow.code, NonceReused.code, NonceTooLow.code} == {
        "NONCE_OUT_OF_WINDOW",
        "NONCE_REUSED",
        "NONCE_TOO_LOW",
    }
    assert issubclass(NonceTooLow, NonceError)


@settings(max_examples=200, deadline=None)
@given(
    keep=st.integers(1, 6),
    attempts=st.lists(st.integers(-5, 40), max_size=60),
)
def test_never_accepts_a_nonce_twice_and_matches_a_model(keep: int, attempts: list[int]) -> None:
    """Against a model: an accepted nonce is new, in the window and above the kept minimum."""
    n = Nonces(back_ms=3, forward_ms=30, keep=keep)
    now = 0
    accepted: list[int] = []
    for nonce in attempts:
        kept = sorted(accepted)[-keep:]
        should = (
            -3 <= nonce <= 30 and nonce not in accepted and (len(kept) < keep or nonce > kept[0])
        )
        try:
            n.use(A, nonce, now)
            ok = True
        except NonceError:
            ok = False
        assert ok == should
        if ok:
            accepted.append(nonce)
        assert n.highest(A) == sorted(accepted)[-keep:]
    assert len(set(accepted)) == len(accepted)
