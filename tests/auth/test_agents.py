"""Agents: approve, replace by name, expire, revoke, limits and what an agent may sign."""

from __future__ import annotations

import pytest

from server.auth.agents import (
    AGENT_ACTIONS,
    OWNER_ONLY_ACTIONS,
    Agent,
    Agents,
    InvalidAgent,
    TooManyAgents,
    Unauthorized,
)
from server.auth.eip712 import TYPES, MalformedAction

NOW = 1_767_139_200_000
HOUR = 3_600_000
OWNER = "0x" + "aa" * 20
BOT = "0x" + "b1" * 20
BOT2 = "0x" + "b2" * 20
OTHER = "0x" + "cc" * 20


def test_owner_is_always_allowed() -> None:
    a = Agents()
    assert a.is_allowed(OWNER, OWNER, NOW)
    assert a.is_allowed(OWNER, OWNER.upper().replace("0X", "0x"), NOW)
    a.authorize(OWNER, OWNER, "Withdraw", NOW)
    a.authorize(OWNER, OWNER, "ApproveAgent", NOW)


def test_approved_agent_acts_until_valid_until() -> None:
    a = Agents()
    assert not a.is_allowed(OWNER, BOT, NOW)
    a.approve(OWNER, BOT, "bot", NOW + HOUR, NOW)
    assert a.is_allowed(OWNER, BOT, NOW)
    assert a.is_allowed(OWNER, BOT, NOW + HOUR - 1)
    assert not a.is_allowed(OWNER, BOT, NOW + HOUR)
    assert not a.is_allowed(OTHER, BOT, NOW)  # only for the account that approved it
    assert not a.is_allowed(BOT, OWNER, NOW)  # and not the other way round
    assert a.agents_of(OWNER, NOW) == [Agent(BOT, "bot", NOW + HOUR)]
    assert a.agents_of(OWNER, NOW + HOUR) == []


def test_addresses_are_compared_lower_case() -> None:
    a = Agents()
    a.approve(OWNER.replace("aa", "AA"), BOT.replace("b", "B"), "bot", NOW + HOUR, NOW)
    assert a.is_allowed(OWNER, BOT, NOW)
    assert a.is_allowed(OWNER.upper().replace("0X", "0x"), BOT.upper().replace("0X", "0x"), NOW)


def test_agent_may_trade_and_log_in_but_not_withdraw_or_approve() -> None:
    a = Agents()
    a.approve(OWNER, BOT, "bot", NOW + HOUR, NOW)
    assert set(TYPES) == AGENT_ACTIONS | OWNER_ONLY_ACTIONS
    assert {"ApproveAgent", "Withdraw"} == OWNER_ONLY_ACTIONS
    for action in AGENT_ACTIONS:
        a.authorize(OWNER, BOT, action, NOW)
    for action in OWNER_ONLY_ACTIONS:
        with pytest.raises(Unauthorized, match="own key"):
            a.authorize(OWNER, BOT, action, NOW)
    with pytest.raises(Unauthorized, match="not a live agent"):
        a.authorize(OWNER, BOT, "Place", NOW + HOUR)
    with pytest.raises(Unauthorized):
        a.authorize(OWNER, OTHER, "Place", NOW)


def test_same_name_replaces_the_previous_agent() -> None:
    a = Agents()
    a.approve(OWNER, BOT, "bot", NOW + HOUR, NOW)
    a.approve(OWNER, BOT2, "bot", NOW + 2 * HOUR, NOW)
    assert not a.is_allowed(OWNER, BOT, NOW)
    assert a.agents_of(OWNER, NOW) == [Agent(BOT2, "bot", NOW + 2 * HOUR)]
    # Re-approving the same agent updates its name and expiry.
    a.approve(OWNER, BOT2, "renamed", NOW + 3 * HOUR, NOW)
    assert a.agents_of(OWNER, NOW) == [Agent(BOT2, "renamed", NOW + 3 * HOUR)]
    # The empty name is a name like any other.
    a.approve(OWNER, BOT, "", NOW + HOUR, NOW)
    a.approve(OWNER, OTHER, "", NOW + HOUR, NOW)
    assert [x.address for x in a.agents_of(OWNER, NOW)] == [BOT2, OTHER]


def test_zero_valid_until_revokes() -> None:
    a = Agents()
    a.approve(OWNER, BOT, "bot", NOW + HOUR, NOW)
    a.approve(OWNER, BOT, "bot", 0, NOW)
    assert not a.is_allowed(OWNER, BOT, NOW)
    assert a.snapshot() == {}
    assert a.revoke(OWNER, BOT) is False


def test_revoke() -> None:
    a = Agents()
    a.approve(OWNER, BOT, "one", NOW + HOUR, NOW)
    a.approve(OWNER, BOT2, "two", NOW + HOUR, NOW)
    assert a.revoke(OWNER, BOT.upper().replace("0X", "0x")) is True
    assert not a.is_allowed(OWNER, BOT, NOW)
    assert a.is_allowed(OWNER, BOT2, NOW)
    assert a.revoke(OTHER, BOT2) is False


@pytest.mark.parametrize(
    ("agent", "until", "error", "why"),
    [
        (OWNER, NOW + HOUR, InvalidAgent, "own agent"),
        ("0x" + "00" * 20, NOW + HOUR, InvalidAgent, "zero address"),
        (BOT, NOW, InvalidAgent, "not after now"),
        (BOT, NOW - 1, InvalidAgent, "not after now"),
        ("0x1234", NOW + HOUR, MalformedAction, "agent"),
        (BOT, -1, MalformedAction, "validUntilMs"),
    ],
)
def test_invalid_approvals_are_refused(
    agent: str, until: int, error: type[Exception], why: str
) -> None:
    a = Agents()
    with pytest.raises(error, match=why):
        a.approve(OWNER, agent, "bot", until, NOW)
    assert a.snapshot() == {}


def test_at_most_max_live_agents_and_expired_ones_make_room() -> None:
    a = Agents(max_per_account=2)
    a.approve(OWNER, BOT, "one", NOW + HOUR, NOW)
    a.approve(OWNER, BOT2, "two", NOW + 2 * HOUR, NOW)
    before = a.snapshot()
    with pytest.raises(TooManyAgents):
        a.approve(OWNER, OTHER, "three", NOW + HOUR, NOW)
    assert a.snapshot() == before  # a refused approval changes nothing
    # A name already held is a replacement, not an addition.
    a.approve(OWNER, OTHER, "one", NOW + HOUR, NOW)
    assert {x.address for x in a.agents_of(OWNER, NOW)} == {OTHER, BOT2}
    # Once one has expired, it makes room.
    a.approve(OWNER, BOT, "four", NOW + 3 * HOUR, NOW + HOUR)
    assert {x.address for x in a.agents_of(OWNER, NOW + HOUR)} == {BOT, BOT2}


def test_refused_replacement_by_name_changes_nothing() -> None:
    a = Agents(max_per_account=1)
    a.approve(OWNER, BOT, "one", NOW + HOUR, NOW)
    a.approve(OWNER, BOT2, "one", NOW + HOUR, NOW)  # replaces by name: allowed
    assert [x.address for x in a.agents_of(OWNER, NOW)] == [BOT2]
    with pytest.raises(TooManyAgents):
        a.approve(OWNER, BOT, "two", NOW + HOUR, NOW)
    assert [x.address for x in a.agents_of(OWNER, NOW)] == [BOT2]


def test_prune_and_snapshot_round_trip() -> None:
    a = Agents()
    a.approve(OWNER, BOT, "one", NOW + HOUR, NOW)
    a.approve(OWNER, BOT2, "two", NOW + 2 * HOUR, NOW)
    a.approve(OTHER, BOT, "x", NOW + HOUR, NOW)
    snap = a.snapshot()
    r = Agents.restore(snap)
    assert r.snapshot() == snap
    assert r.is_allowed(OTHER, BOT, NOW)
    assert r.prune(NOW + HOUR) == 2
    assert r.snapshot() == {OWNER: [Agent(BOT2, "two", NOW + 2 * HOUR)]}
    assert Agents.restore({OWNER: [(BOT, "t", NOW + 1)]}).is_allowed(OWNER, BOT, NOW)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Agents(max_per_account=0)
