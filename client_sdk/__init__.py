"""Myrtle Wyckoff's Python client SDK.

For now: exact conversion between human decimals and integer base units (``units``). The
async client, signing and attestation verification follow with the gateway.
"""

from client_sdk.units import (
    OffGridError,
    UnitsError,
    format_units,
    from_units,
    price_to_units,
    qty_to_units,
    to_units,
)

__all__ = [
    "OffGridError",
    "UnitsError",
    "format_units",
    "from_units",
    "price_to_units",
    "qty_to_units",
    "to_units",
]
