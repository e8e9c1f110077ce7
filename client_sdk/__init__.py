"""Myrtle Wyckoff's Python client SDK.

For now: exact conversion between human decimals and integer base units (``units``) and
EIP-712 signing of every action (``signing``). The async client and attestation
verification follow with the gateway.
"""

from client_sdk.signing import Domain, Signer, SigningError
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
    "Domain",
    "OffGridError",
    "Signer",
    "SigningError",
    "UnitsError",
    "format_units",
    "from_units",
    "price_to_units",
    "qty_to_units",
    "to_units",
]
