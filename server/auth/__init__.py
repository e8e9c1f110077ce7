"""Authentication: EIP-712 digests, signer recovery, replay protection and agent keys.

- ``eip712``: the hand-written digest of every action type (a few µs), and the errors;
- ``recovery``: the signer's address from a digest and a 65-byte r||s||v signature;
- ``verifier``: batched recovery (on the gateway's worker processes), results in input order;
- ``nonces``: millisecond-timestamp nonces, a time window and the highest-N set per signer;
- ``agents``: hot keys an account approved to trade for it.

The flow for one action: digest (gateway) -> ``VerifierPool`` (worker processes) -> in
sequence order, ``Agents.authorize`` then ``Nonces.use`` -> the core command. docs/AUTH.md
has the details.
"""

from server.auth.agents import (
    AGENT_ACTIONS,
    Agent,
    AgentError,
    Agents,
    InvalidAgent,
    TooManyAgents,
    Unauthorized,
)
from server.auth.eip712 import (
    TYPE_STRINGS,
    AuthError,
    BadSignature,
    Domain,
    MalformedAction,
    command_hash,
    digest,
    hash_struct,
    typed_digest,
)
from server.auth.nonces import NonceError, NonceOutOfWindow, NonceReused, Nonces, NonceTooLow
from server.auth.recovery import recover
from server.auth.verifier import Verified, VerifierPool, chunked, recover_batch, verify_one

__all__ = [
    "AGENT_ACTIONS",
    "TYPE_STRINGS",
    "Agent",
    "AgentError",
    "Agents",
    "AuthError",
    "BadSignature",
    "Domain",
    "InvalidAgent",
    "MalformedAction",
    "NonceError",
    "NonceOutOfWindow",
    "NonceReused",
    "NonceTooLow",
    "Nonces",
    "TooManyAgents",
    "Unauthorized",
    "Verified",
    "VerifierPool",
    "chunked",
    "command_hash",
    "digest",
    "hash_struct",
    "recover",
    "recover_batch",
    "typed_digest",
    "verify_one",
]
