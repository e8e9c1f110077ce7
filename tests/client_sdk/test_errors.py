"""The SDK's exception tree mirrors the server's category tree exactly."""

from __future__ import annotations

import pytest

from client_sdk import errors
from client_sdk.errors import (
    CATEGORIES,
    PARENT,
    AuthenticationError,
    ExchangeError,
    InsufficientFunds,
    InvalidNonce,
    InvalidOrder,
    NetworkError,
    OrderNotFound,
    RequestTimeout,
    error_from,
)
from server.gateway import errors as server_errors


def test_the_mirror_equals_the_server_tree() -> None:
    server = {
        c.value: (p.value if p is not None else None) for c, p in server_errors.PARENT.items()
    }
    assert server == PARENT
    assert set(CATEGORIES) == {c.value for c in server_errors.Category}


def test_python_inheritance_follows_the_tree() -> None:
    for name, cls in CATEGORIES.items():
        assert cls.__name__ == name == cls.CATEGORY
        parent = PARENT[name]
        if parent is None:
            assert cls is ExchangeError
        else:
            assert cls.__bases__ == (CATEGORIES[parent],)


@pytest.mark.parametrize("code", sorted(server_errors.CATEGORY_OF))
def test_every_code_raises_a_class_catchable_as_each_ancestor(code: str) -> None:
    category = server_errors.CATEGORY_OF[code]
    e = error_from(code, category.value, "why")
    assert type(e) is CATEGORIES[category.value]
    for ancestor in server_errors.ancestry(category):
        assert isinstance(e, CATEGORIES[ancestor.value])
    assert (e.code, e.category, e.message, e.seq) == (code, category.value, "why", None)


def test_fields_and_message() -> None:
    e = error_from("INSUFFICIENT_BALANCE", "InsufficientFunds", "not enough", seq=42)
    assert isinstance(e, InsufficientFunds)
    assert e.seq == 42
    assert str(e) == "InsufficientFunds INSUFFICIENT_BALANCE: not enough"
    nf = error_from("ORDER_NOT_FOUND", "OrderNotFound", "")
    assert isinstance(nf, OrderNotFound) and isinstance(nf, InvalidOrder)
    nonce = error_from("NONCE_REUSED", "InvalidNonce", "")
    assert isinstance(nonce, InvalidNonce) and isinstance(nonce, AuthenticationError)


def test_unknown_category_is_the_root_and_keeps_its_name() -> None:
    e = error_from("SOMETHING_NEW", "ShinyNewCategory", "later")
    assert type(e) is ExchangeError
    assert (e.code, e.category) == ("SOMETHING_NEW", "ShinyNewCategory")


def test_sdk_side_errors() -> None:
    assert issubclass(RequestTimeout, NetworkError)
    assert issubclass(NetworkError, ExchangeError)
    assert "NetworkError" not in CATEGORIES  # not a server category
    e = NetworkError("gone", close_code=4001)
    assert (e.code, e.category, e.close_code) == ("NETWORK_ERROR", "NetworkError", 4001)
    t = RequestTimeout()
    assert (t.code, t.category) == ("REQUEST_TIMEOUT", "RequestTimeout")


def test_everything_is_exported() -> None:
    for name in errors.__all__:
        assert hasattr(errors, name)
