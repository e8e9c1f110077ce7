"""A bare WebSocket client for end-to-end tests: frames in, JSON out, nothing hidden.

The SDK is tested on its own; these helpers let a test send exactly the bytes it wants
(malformed ones included) to the real server and read exactly what comes back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from client_sdk.signing import Domain, Signer

__all__ = [
    "DARK",
    "E6",
    "E18",
    "LOT",
    "MKT",
    "TICK",
    "USDC",
    "WETH",
    "Raw",
    "dev_setup",
    "signed_params",
]

WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
MKT = "WETH-USDC"
DARK = "WETH-USDC-DARK"
E18 = 10**18
E6 = 10**6
TICK = 10_000  # 0.01 USDC
LOT = 10**15  # 0.001 WETH
DOMAIN = Domain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3")


class Raw:
    """One connection; ``call`` sends a request and returns its answer, keeping pushes."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 1
        self.pushes: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> Raw:
        return cls(await connect(url, **kwargs))

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, frame: str) -> None:
        await self.ws.send(frame)

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next answer (pushes on the way are kept in ``pushes``)."""
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if "channel" in msg and "id" not in msg:
                self.pushes.append(msg)
                continue
            return msg  # type: ignore[no-any-return]

    async def push(self, timeout: float = 10.0) -> dict[str, Any]:
        if self.pushes:
            return self.pushes.pop(0)
        msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        assert "channel" in msg, msg
        return msg  # type: ignore[no-any-return]

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        rid = self.next_id
        self.next_id += 1
        await self.ws.send(json.dumps({"id": rid, "method": method, "params": params or {}}))
        answer = await self.recv()
        assert answer["id"] == rid, answer
        return answer

    async def ok(self, method: str, params: dict[str, Any] | None = None) -> Any:
        answer = await self.call(method, params)
        assert "result" in answer, answer
        return answer["result"]

    async def error(self, method: str, params: dict[str, Any] | None = None) -> str:
        answer = await self.call(method, params)
        assert "error" in answer, answer
        return answer["error"]["code"]  # type: ignore[no-any-return]


def signed_params(signer: Signer, method: str, **fields: Any) -> dict[str, Any]:
    """Wire params for ``method`` signed by ``signer`` (amounts given as ints)."""
    nonce = fields.pop("nonce", None) or signer.next_nonce()
    if method == "place":
        f = {
            "tif": "GTC",
            "order_type": "limit",
            "client_order_id": "",
            "stp": "expire_maker",
            "expires_at_ms": 0,
            **fields,
        }
        sig = signer.sign_place(
            f["market"],
            f["side"],
            f["price"],
            f["qty"],
            tif=f["tif"],
            order_type=f["order_type"],
            client_order_id=f["client_order_id"],
            stp=f["stp"],
            expires_at_ms=f["expires_at_ms"],
            nonce=nonce,
        )
        params = {**f, "price": str(f["price"]), "qty": str(f["qty"])}
    elif method == "login":
        sig = signer.sign_login(nonce=nonce)
        params = {}
    elif method == "approve_agent":
        sig = signer.sign_approve_agent(
            fields["agent"], fields["name"], fields["valid_until_ms"], nonce=nonce
        )
        params = dict(fields)
    elif method == "withdraw":
        sig = signer.sign_withdraw(fields["token"], fields["amount"], nonce=nonce)
        params = {"token": fields["token"], "amount": str(fields["amount"])}
    elif method == "cancel":
        f = {"order_id": 0, "client_order_id": "", **fields}
        sig = signer.sign_cancel(
            f["market"], order_id=f["order_id"], client_order_id=f["client_order_id"], nonce=nonce
        )
        params = f
    else:
        raise ValueError(method)
    params.update(account=signer.account, nonce=nonce, signature=sig)
    if signer.is_agent:
        params["signer"] = signer.address
    return params


async def dev_setup(raw: Raw, funded: dict[str, tuple[int, int]]) -> None:
    """List WETH, USDC, a lit and a dark market; deposit (weth, usdc) to each account."""
    await raw.ok("dev_list_token", {"token": WETH, "symbol": "WETH", "decimals": 18})
    await raw.ok("dev_list_token", {"token": USDC, "symbol": "USDC", "decimals": 6})
    for market, lit in ((MKT, True), (DARK, False)):
        await raw.ok(
            "dev_list_market",
            {
                "market": market,
                "base": WETH,
                "quote": USDC,
                "tick": str(TICK),
                "lot": str(LOT),
                "min_qty": str(LOT),
                "lit": lit,
            },
        )
    for account, (weth, usdc) in funded.items():
        for token, amount in ((WETH, weth), (USDC, usdc)):
            if amount:
                await raw.ok(
                    "dev_deposit", {"account": account, "token": token, "amount": str(amount)}
                )
