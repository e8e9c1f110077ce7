"""The error tree: every code a client can see has one category, rooted at ExchangeError."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.auth import agents, eip712, nonces
from server.core import RejectCode
from server.gateway.errors import (
    CATEGORY_OF,
    GATEWAY_CODES,
    PARENT,
    Category,
    ancestry,
    category_of,
)

DOC = (Path(__file__).parent.parent.parent / "docs" / "PROTOCOL.md").read_text()


def _auth_error_classes() -> list[type[eip712.AuthError]]:
    out = []
    for module in (agents, eip712, nonces):
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, eip712.AuthError):
                out.append(obj)
    return out


def test_every_reject_code_has_a_category() -> None:
    assert all(isinstance(category_of(c.value), Category) for c in RejectCode)


def test_every_auth_error_code_has_a_category() -> None:
    classes = _auth_error_classes()
    assert len(classes) >= 10
    assert {c.code for c in classes} <= set(CATEGORY_OF)


def test_codes_are_unique_across_sources() -> None:
    rejects = {c.value for c in RejectCode}
    auth = {c.code for c in _auth_error_classes()}
    assert not rejects & auth and not rejects & set(GATEWAY_CODES) and not auth & set(GATEWAY_CODES)


def test_the_tree_is_rooted_and_acyclic() -> None:
    assert set(PARENT) == set(Category)
    for c in Category:
        chain = ancestry(c)
        assert chain[-1] is Category.EXCHANGE and len(chain) == len(set(chain))


def test_ccxt_style_grouping() -> None:
    assert ancestry(category_of("ORDER_NOT_FOUND"))[:2] == [
        Category.ORDER_NOT_FOUND,
        Category.INVALID_ORDER,
    ]
    assert Category.AUTHENTICATION in ancestry(category_of("NONCE_REUSED"))
    assert category_of("INSUFFICIENT_BALANCE") is Category.INSUFFICIENT_FUNDS


def test_unknown_code_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown error code 'NOPE'"):
        category_of("NOPE")


def test_protocol_doc_lists_every_code_and_category() -> None:
    missing = [c for c in [*CATEGORY_OF, *(c.value for c in Category)] if f"`{c}`" not in DOC]
    assert not missing
