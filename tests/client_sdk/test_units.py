from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client_sdk import (
    OffGridError,
    UnitsError,
    format_units,
    from_units,
    price_to_units,
    qty_to_units,
    to_units,
)


@pytest.mark.parametrize(
    ("value", "decimals", "units"),
    [
        ("1.5", 6, 1_500_000),
        ("0.000001", 6, 1),
        (3000, 6, 3_000_000_000),
        (Decimal("2.10"), 18, 2_100_000_000_000_000_000),
        ("-1", 2, -100),
        ("1e3", 0, 1000),
        (
            "115792089237316195423570985008687907853269984665640564039457.584007913129639935",
            18,
            2**256 - 1,
        ),
    ],
)
def test_exact_conversions(value: str, decimals: int, units: int) -> None:
    assert to_units(value, decimals) == units


@pytest.mark.parametrize("bad", ["1.0000001", "abc", "NaN", "Infinity", "", "1.2.3"])
def test_inexact_or_garbage_is_rejected(bad: str) -> None:
    with pytest.raises(UnitsError):
        to_units(bad, 6)


@pytest.mark.parametrize("bad", [1.5, True, None, [1]])
def test_non_decimal_types_are_rejected(bad: object) -> None:
    with pytest.raises(UnitsError, match="str, int or Decimal"):
        to_units(bad, 6)  # type: ignore[arg-type]


def test_grid_checks() -> None:
    assert price_to_units("3000.01", 6, 10_000) == 3_000_010_000
    assert qty_to_units("0.0015", 18, 10**14) == 15 * 10**14
    with pytest.raises(OffGridError, match="multiple"):
        price_to_units("3000.001", 6, 10_000)
    with pytest.raises(OffGridError, match="multiple"):
        qty_to_units("0.00015", 18, 10**14)
    with pytest.raises(OffGridError, match="positive"):
        qty_to_units("0", 18, 10**14)


def test_formatting() -> None:
    assert format_units(1_500_000, 6) == "1.5"
    assert format_units(3_000_000_000, 6) == "3000"
    assert format_units(-1, 18) == "-0.000000000000000001"
    assert from_units(2**256 - 1, 18) == Decimal(
        "115792089237316195423570985008687907853269984665640564039457.584007913129639935"
    )


@given(st.integers(min_value=-(2**256), max_value=2**256), st.integers(0, 36))
def test_round_trip_is_exact(units: int, decimals: int) -> None:
    assert to_units(from_units(units, decimals), decimals) == units
    assert to_units(format_units(units, decimals), decimals) == units
