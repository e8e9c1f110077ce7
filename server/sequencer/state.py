"""The sequenced state: the core plus the auth state that must survive a restart.

Signatures are checked before sequencing (in parallel, they are pure functions of the
request), but whether a signer may act for an account and whether its nonce is fresh depend
on every earlier action: those checks run here, in sequence order, inside the same
deterministic step as the core. The journal records the entry (who signed, which nonce,
which command), so a replay rebuilds nonces and agents exactly: after a restart a replayed
nonce is still refused and an approved agent is still approved.

Nothing here reads a clock or verifies a signature: the gateway recovered the signer
already, and the journal is sealed, so replay trusts it.
"""

from __future__ import annotations

import hashlib
from typing import Final

import msgspec

from server.auth.agents import Agent, Agents
from server.auth.eip712 import AuthError
from server.auth.nonces import Nonces
from server.core import Core
from server.core.commands import (
    Batch,
    Cancel,
    CancelAll,
    Command,
    Place,
    Replace,
    Withdraw,
)
from server.core.events import Event

__all__ = [
    "AgentApproved",
    "ApproveAgent",
    "AuthEvent",
    "Entry",
    "ExchangeState",
    "LoggedIn",
    "Login",
    "Refused",
    "Signed",
    "SignedCommand",
]

SignedCommand = Place | Cancel | CancelAll | Replace | Batch | Withdraw
"""The core commands a user signs (the rest come from the operator and the chain)."""

# The EIP-712 primary type of each signed command: what Agents.authorize is asked about.
ACTION_TYPE: Final[dict[type, str]] = {
    Place: "Place",
    Cancel: "Cancel",
    CancelAll: "CancelAll",
    Replace: "Replace",
    Batch: "Batch",
    Withdraw: "Withdraw",
}


class Signed(msgspec.Struct, frozen=True, gc=False, tag="signed"):
    """A user's command, with the signer the gateway recovered.

    ``nonce`` is None in session mode: the connection's login (which used a nonce) vouches
    for it, and the signer's rights are still checked here.
    """

    signer: str
    nonce: int | None
    command: SignedCommand


class Login(msgspec.Struct, frozen=True, gc=False, tag="login"):
    account: str
    signer: str
    nonce: int


class ApproveAgent(msgspec.Struct, frozen=True, gc=False, tag="approve_agent"):
    account: str
    signer: str
    agent: str
    name: str
    valid_until_ms: int
    nonce: int


Entry = Command | Signed | Login | ApproveAgent
"""What the sequencer journals and applies."""


class Refused(msgspec.Struct, frozen=True, gc=False, tag="refused"):
    """An entry the auth checks refused: nothing changed (not even the nonce)."""

    action: str  # the EIP-712 type: "Place", "Login", "ApproveAgent", ...
    account: str
    code: str  # an auth code (server.gateway.errors)
    message: str


class LoggedIn(msgspec.Struct, frozen=True, gc=False, tag="logged_in"):
    account: str
    signer: str


class AgentApproved(msgspec.Struct, frozen=True, gc=False, tag="agent_approved"):
    """``valid_until_ms == 0``: the agent was revoked."""

    account: str
    agent: str
    name: str
    valid_until_ms: int


AuthEvent = Refused | LoggedIn | AgentApproved


class _Snapshot(msgspec.Struct, frozen=True):
    core: msgspec.Raw
    nonces: dict[str, list[int]]
    agents: dict[str, list[tuple[str, str, int]]]


_snapshot_decoder = msgspec.json.Decoder(_Snapshot)


class ExchangeState:
    """Core + agents + nonces, driven one entry at a time by the sequencer."""

    def __init__(
        self, core: Core | None = None, agents: Agents | None = None, nonces: Nonces | None = None
    ) -> None:
        self.core = core if core is not None else Core()
        self.agents = agents if agents is not None else Agents()
        self.nonces = nonces if nonces is not None else Nonces()

    def apply(self, entry: Entry, ts_ms: int) -> list[Event | AuthEvent]:
        """Apply one entry at ``ts_ms``; a refused entry changes nothing and yields Refused."""
        if type(entry) is Signed:
            command = entry.command
            action = ACTION_TYPE[type(command)]
            try:
                self.agents.authorize(command.account, entry.signer, action, ts_ms)
                if entry.nonce is not None:
                    self.nonces.use(entry.signer, entry.nonce, ts_ms)
            except AuthError as e:
                return [Refused(action, command.account, e.code, str(e))]
            return self.core.apply(command, ts_ms)  # type: ignore[return-value]
        if type(entry) is Login:
            try:
                self.agents.authorize(entry.account, entry.signer, "Login", ts_ms)
                self.nonces.use(entry.signer, entry.nonce, ts_ms)
            except AuthError as e:
                return [Refused("Login", entry.account, e.code, str(e))]
            return [LoggedIn(entry.account, entry.signer)]
        if type(entry) is ApproveAgent:
            try:
                self.agents.authorize(entry.account, entry.signer, "ApproveAgent", ts_ms)
                self.nonces.check(entry.signer, entry.nonce, ts_ms)
                self.agents.approve(
                    entry.account, entry.agent, entry.name, entry.valid_until_ms, ts_ms
                )
                self.nonces.use(entry.signer, entry.nonce, ts_ms)
            except AuthError as e:
                return [Refused("ApproveAgent", entry.account, e.code, str(e))]
            return [
                AgentApproved(
                    entry.account.lower(), entry.agent.lower(), entry.name, entry.valid_until_ms
                )
            ]
        return self.core.apply(entry, ts_ms)  # type: ignore[arg-type,return-value]

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> bytes:
        """Canonical bytes of the whole state (core, nonces, agents)."""
        return msgspec.json.encode(
            _Snapshot(
                core=msgspec.Raw(self.core.snapshot()),
                nonces=self.nonces.snapshot(),
                agents={
                    k: [(a.address, a.name, a.valid_until_ms) for a in v]
                    for k, v in self.agents.snapshot().items()
                },
            )
        )

    @classmethod
    def restore(cls, data: bytes) -> ExchangeState:
        """The inverse of ``snapshot``; raises msgspec.DecodeError or SnapshotError."""
        s = _snapshot_decoder.decode(data)
        agents = Agents.restore({k: [Agent(*a) for a in v] for k, v in s.agents.items()})
        return cls(Core.restore(bytes(s.core)), agents, Nonces.restore(s.nonces))

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot()).hexdigest()
