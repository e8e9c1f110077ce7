"""Agent keys: hot keys that an account approved to act for it (cf. Hyperliquid's agents).

An account approves an agent with a signed ``ApproveAgent{account, agent, name, validUntilMs,
nonce}`` (signed by the account's own key). Rules (docs/AUTH.md):

- ``validUntilMs == 0`` revokes ``agent``; otherwise it must be in the future, and the agent
  may act while ``now < validUntilMs``.
- Names are unique per account: approving a new agent under a name that another agent of the
  account holds replaces that agent (``""`` is a name like any other).
- Re-approving an agent updates its name and expiry.
- At most ``max_per_account`` live agents per account (default 4); expired ones are dropped
  first, and then ``TooManyAgents`` is raised.
- The agent can never be the account itself or the zero address.
- An agent may sign Place, Cancel, CancelAll, Replace, Batch and Login for the account; only
  the account's own key signs ApproveAgent and Withdraw.

Addresses are compared lower-case. Pure logic: the time is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple

from server.auth.eip712 import TYPES, AuthError, MalformedAction, normalize_address

__all__ = [
    "AGENT_ACTIONS",
    "OWNER_ONLY_ACTIONS",
    "Agent",
    "AgentError",
    "Agents",
    "InvalidAgent",
    "TooManyAgents",
    "Unauthorized",
]

AGENT_ACTIONS: Final = frozenset({"Place", "Cancel", "CancelAll", "Replace", "Batch", "Login"})
OWNER_ONLY_ACTIONS: Final = frozenset(TYPES) - AGENT_ACTIONS  # ApproveAgent, Withdraw

_ZERO_ADDRESS: Final = "0x" + "00" * 20


class AgentError(AuthError):
    code = "AGENT_ERROR"


class InvalidAgent(AgentError):
    code = "INVALID_AGENT"


class TooManyAgents(AgentError):
    code = "TOO_MANY_AGENTS"


class Unauthorized(AuthError):
    """The signer is neither the account nor a live agent allowed this action."""

    code = "UNAUTHORIZED_SIGNER"


class Agent(NamedTuple):
    address: str
    name: str
    valid_until_ms: int


class Agents:
    """The approved agents of every account. Not thread-safe: the single writer owns it."""

    def __init__(self, *, max_per_account: int = 4) -> None:
        if max_per_account < 1:
            raise ValueError("max_per_account must be at least 1")
        self.max_per_account: Final = max_per_account
        self._by_account: dict[str, dict[str, Agent]] = {}  # account -> agent address -> Agent

    def approve(
        self, account: str, agent: str, name: str, valid_until_ms: int, now_ms: int
    ) -> None:
        """Apply a verified ApproveAgent (``valid_until_ms == 0`` revokes ``agent``)."""
        account = normalize_address(account, "account")
        agent = normalize_address(agent, "agent")
        if not isinstance(name, str):
            raise MalformedAction("name: expected a string")
        if type(valid_until_ms) is not int or valid_until_ms < 0:
            raise MalformedAction("validUntilMs: expected a non-negative int")
        if agent == account:
            raise InvalidAgent("an account cannot be its own agent")
        if agent == _ZERO_ADDRESS:
            raise InvalidAgent("the zero address cannot be an agent")
        if valid_until_ms == 0:
            self.revoke(account, agent)
            return
        if valid_until_ms <= now_ms:
            raise InvalidAgent(f"validUntilMs {valid_until_ms} is not after now ({now_ms})")
        # Built aside, so that a refused approval changes nothing.
        agents = {
            k: a
            for k, a in self._by_account.get(account, {}).items()
            if a.name != name or k == agent  # the name moves to the new agent
        }
        if agent not in agents and len(agents) >= self.max_per_account:
            agents = {k: a for k, a in agents.items() if now_ms < a.valid_until_ms}
            if len(agents) >= self.max_per_account:
                raise TooManyAgents(
                    f"{account} already has {len(agents)} live agents (at most"
                    f" {self.max_per_account}); revoke one first"
                )
        agents[agent] = Agent(agent, name, valid_until_ms)
        self._by_account[account] = agents

    def revoke(self, account: str, agent: str) -> bool:
        """Remove ``agent`` from ``account``; whether it was there."""
        account = account.lower()
        agents = self._by_account.get(account)
        if agents is None or agents.pop(agent.lower(), None) is None:
            return False
        if not agents:
            del self._by_account[account]
        return True

    def is_allowed(self, account: str, signer: str, now_ms: int) -> bool:
        """Whether ``signer`` may act for ``account`` at ``now_ms`` (itself or a live agent)."""
        account = account.lower()
        signer = signer.lower()
        if signer == account:
            return True
        agents = self._by_account.get(account)
        if agents is None:
            return False
        a = agents.get(signer)
        return a is not None and now_ms < a.valid_until_ms

    def authorize(self, account: str, signer: str, action: str, now_ms: int) -> None:
        """Raise ``Unauthorized`` unless ``signer`` may sign ``action`` for ``account`` now."""
        if signer.lower() == account.lower():
            return
        if action not in AGENT_ACTIONS:
            raise Unauthorized(f"only the account's own key signs {action!r:.40}")
        if not self.is_allowed(account, signer, now_ms):
            raise Unauthorized(f"{signer} is not a live agent of {account}")

    def agents_of(self, account: str, now_ms: int) -> list[Agent]:
        """The live agents of ``account``, by address."""
        agents = self._by_account.get(account.lower(), {})
        return sorted(a for a in agents.values() if now_ms < a.valid_until_ms)

    def prune(self, now_ms: int) -> int:
        """Drop every expired agent; return how many."""
        dropped = 0
        for account in list(self._by_account):
            agents = self._by_account[account]
            for a in [a for a in agents.values() if a.valid_until_ms <= now_ms]:
                del agents[a.address]
                dropped += 1
            if not agents:
                del self._by_account[account]
        return dropped

    def snapshot(self) -> dict[str, list[Agent]]:
        """The whole state as plain data (account -> agents by address)."""
        return {k: sorted(v.values()) for k, v in sorted(self._by_account.items())}

    @classmethod
    def restore(
        cls,
        state: Mapping[str, Iterable[Agent | tuple[str, str, int]]],
        *,
        max_per_account: int = 4,
    ) -> Agents:
        """The inverse of ``snapshot``."""
        r = cls(max_per_account=max_per_account)
        for account, agents in state.items():
            entries = {a[0]: Agent(*a) for a in agents}
            if entries:
                r._by_account[account] = entries
        return r
