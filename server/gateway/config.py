"""The gateway's configuration: defaults, then a TOML file, then ``MYRTLE_<FIELD>`` variables.

Every field can be set in the file (``port = 9000``) and overridden by the environment
(``MYRTLE_PORT=9000``). Anything wrong fails at start with one ``ConfigError`` that names the
field, the value, where it came from and what is expected.

Relative paths are taken relative to the working directory of the server process.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from server.sequencer.sequencer import DEFAULT_SNAPSHOT_EVERY

__all__ = ["ENV_PREFIX", "Config", "ConfigError", "load_config"]

ENV_PREFIX = "MYRTLE_"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = Path("data")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_frame_bytes: int = 1 << 20
    outbound_queue: int = 4096  # messages; a connection that falls further behind is closed
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    # The EIP-712 domain every action is signed under (DESIGN.md, "Authentication"). The
    # default registry is the address anvil gives the first contract its first account
    # deploys, where the devnet puts the DepositRegistry.
    chain_id: int = 31337
    registry_address: str = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
    allow_sessions: bool = True
    rate_per_connection: int = 5000  # requests/s, bursts of twice as many
    rate_per_account: int = 10000  # actions/s, bursts of twice as many
    max_errors: int = 1000  # refused requests per connection within 10 s before closing it
    verify_workers: int = 2  # processes that recover signers; 0: on the event loop
    # Development only: dev_list_token / dev_list_market / dev_deposit, on loopback only.
    dev_operator: bool = False
    # Development only: in the TEE the storage key comes from the dstack guest agent.
    storage_key_hex: str | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def storage_key(self) -> bytes:
        if self.storage_key_hex is None:
            raise ConfigError(
                "storage_key_hex is not set: expected 64 hex characters (a 32-byte key); "
                f"set it in the config file or with {ENV_PREFIX}STORAGE_KEY_HEX"
            )
        return bytes.fromhex(self.storage_key_hex)


# --- parsing one value --------------------------------------------------------------------

# (field name, value, where it came from, whether it is an environment string) -> value
_Parser = Callable[[str, object, str, bool], object]


def _fail(name: str, value: object, source: str, expected: str) -> ConfigError:
    return ConfigError(f"{name} = {value!r} (from {source}): expected {expected}")


def _int_range(lo: int, hi: int | None) -> _Parser:
    expected = f"an integer from {lo} to {hi}" if hi is not None else f"an integer >= {lo}"

    def parse(name: str, value: object, source: str, from_env: bool) -> object:
        if isinstance(value, str) and from_env:
            try:
                number = int(value.strip(), 10)
            except ValueError:
                raise _fail(name, value, source, expected) from None
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise _fail(name, value, source, expected)
        if number < lo or (hi is not None and number > hi):
            raise _fail(name, value, source, expected)
        return number

    return parse


def _nonempty_str(name: str, value: object, source: str, from_env: bool) -> object:
    if not isinstance(value, str) or not value.strip():
        raise _fail(name, value, source, "a non-empty string")
    return value.strip()


def _path(name: str, value: object, source: str, from_env: bool) -> object:
    if not isinstance(value, str) or not value.strip():
        raise _fail(name, value, source, "a non-empty path string")
    return Path(value.strip())


def _bool(name: str, value: object, source: str, from_env: bool) -> object:
    if isinstance(value, bool):
        return value
    if from_env and isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
    raise _fail(name, value, source, "true or false")


def _address(name: str, value: object, source: str, from_env: bool) -> object:
    text = value.strip() if isinstance(value, str) else ""
    if len(text) != 42 or not text.startswith("0x"):
        raise _fail(name, value, source, "a 0x address (40 hex digits)")
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        raise _fail(name, value, source, "a 0x address (40 hex digits)") from None
    return text.lower()


def _hex_key(name: str, value: object, source: str, from_env: bool) -> object:
    expected = "64 hex characters (a 32-byte key)"
    if not isinstance(value, str):
        raise _fail(name, value, source, expected)
    text = value.strip().removeprefix("0x")
    if len(text) != 64:
        raise _fail(name, "<redacted>", source, f"{expected}, got {len(text)} characters")
    try:
        bytes.fromhex(text)
    except ValueError:
        raise _fail(name, "<redacted>", source, f"{expected}, got non-hex characters") from None
    return text.lower()


_PARSERS: dict[str, _Parser] = {
    "host": _nonempty_str,
    "port": _int_range(1, 65535),
    "data_dir": _path,
    "tls_cert": _path,
    "tls_key": _path,
    "max_frame_bytes": _int_range(1024, 64 << 20),
    "outbound_queue": _int_range(1, None),
    "snapshot_every": _int_range(1, None),
    "storage_key_hex": _hex_key,
    "chain_id": _int_range(1, 2**63 - 1),
    "registry_address": _address,
    "allow_sessions": _bool,
    "rate_per_connection": _int_range(1, None),
    "rate_per_account": _int_range(1, None),
    "max_errors": _int_range(1, None),
    "verify_workers": _int_range(0, 64),
    "dev_operator": _bool,
}
assert set(_PARSERS) == {f.name for f in fields(Config)}


# --- loading ------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except OSError as e:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {e}") from None


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Defaults, overridden by the TOML file at ``path``, overridden by ``env``
    (``os.environ`` when None). Raises ConfigError on the first problem."""
    environ = os.environ if env is None else env
    values: dict[str, object] = {}

    if path is not None:
        file = Path(path)
        data = _read_toml(file)
        for key in sorted(data):
            if key not in _PARSERS:
                known = ", ".join(_PARSERS)
                raise ConfigError(
                    f"unknown key {key!r} in config file {str(file)!r}: expected one of {known}"
                )
            values[key] = _PARSERS[key](key, data[key], f"config file {str(file)!r}", False)

    for key, parse in _PARSERS.items():
        var = ENV_PREFIX + key.upper()
        if var in environ:
            values[key] = parse(key, environ[var], var, True)

    config = Config(**values)  # type: ignore[arg-type]
    _check(config)
    return config


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _check(config: Config) -> None:
    """Rules that involve more than one field, or the file system."""
    if (config.tls_cert is None) != (config.tls_key is None):
        given, missing = (
            ("tls_cert", "tls_key") if config.tls_key is None else ("tls_key", "tls_cert")
        )
        raise ConfigError(
            f"{given} is set but {missing} is not: TLS needs both a certificate and a key "
            f"(or neither, for plain ws)"
        )
    for name in ("tls_cert", "tls_key"):
        value: Path | None = getattr(config, name)
        if value is not None and not value.is_file():
            raise ConfigError(f"{name} = {str(value)!r}: expected an existing file, none found")
    if config.data_dir.exists() and not config.data_dir.is_dir():
        raise ConfigError(
            f"data_dir = {str(config.data_dir)!r}: expected a directory, found something else"
        )
    if config.dev_operator and config.host not in _LOOPBACK:
        raise ConfigError(
            f"dev_operator = true with host = {config.host!r}: the development operator "
            f"methods credit deposits without a chain, so they are only served on loopback "
            f"({', '.join(sorted(_LOOPBACK))})"
        )
    config.storage_key  # noqa: B018  (raises ConfigError when missing)
