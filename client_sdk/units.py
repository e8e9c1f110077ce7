"""Exact conversion between decimal amounts and integer token base units.

The exchange speaks integers only. Decimals exist at this edge, for people: every conversion
here is exact, and input that does not fit (too many decimal places, off the market's tick or
lot, a float) is rejected, never rounded.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = [
    "OffGridError",
    "UnitsError",
    "format_units",
    "from_units",
    "price_to_units",
    "qty_to_units",
    "to_units",
]


class UnitsError(ValueError):
    """The value is not an exact decimal amount (a float, NaN, garbage, too many places)."""


class OffGridError(UnitsError):
    """The value is exact but not on the market's grid (tick or lot) or not positive."""


def _decimal(value: str | int | Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise UnitsError(
            f"amounts must be str, int or Decimal, not {type(value).__name__} "
            "(floats are not exact)"
        )
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise UnitsError(f"not a decimal number: {value!r}") from None
    if not d.is_finite():
        raise UnitsError(f"not a finite number: {value!r}")
    return d


def to_units(value: str | int | Decimal, decimals: int) -> int:
    """``value`` whole tokens as base units, exactly: to_units("1.5", 6) == 1_500_000."""
    d = _decimal(value)
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    n = int("".join(map(str, digits))) if digits else 0
    shift = exponent + decimals
    units: int
    if shift >= 0:
        units = n * 10**shift
    else:
        units, rest = divmod(n, 10**-shift)
        if rest:
            raise UnitsError(f"{value} has more than {decimals} decimal places")
    return -units if sign else units


def from_units(units: int, decimals: int) -> Decimal:
    """Base units as an exact Decimal: from_units(1_500_000, 6) == Decimal("1.500000")."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise UnitsError(f"units must be int, not {type(units).__name__}")
    digits = tuple(int(c) for c in str(abs(units)))
    return Decimal((1 if units < 0 else 0, digits, -decimals))


def format_units(units: int, decimals: int) -> str:
    """Base units as a plain decimal string without trailing zeros: "1.5", "3000"."""
    s = f"{from_units(units, decimals):f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def _on_grid(units: int, step: int, what: str, value: str | int | Decimal) -> int:
    if units <= 0:
        raise OffGridError(f"{what} must be positive, got {value}")
    if units % step:
        raise OffGridError(f"{what} {value} is not a multiple of the market's step ({step} units)")
    return units


def price_to_units(value: str | int | Decimal, quote_decimals: int, tick: int) -> int:
    """A price (quote tokens per whole base token) in quote base units, on the tick."""
    return _on_grid(to_units(value, quote_decimals), tick, "price", value)


def qty_to_units(value: str | int | Decimal, base_decimals: int, lot: int) -> int:
    """A quantity in base tokens, in base units, on the lot."""
    return _on_grid(to_units(value, base_decimals), lot, "quantity", value)
