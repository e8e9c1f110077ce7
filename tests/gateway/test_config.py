"""The gateway configuration: defaults, file, environment, and one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.gateway.config import Config, ConfigError, load_config

KEY = "ab" * 32
ENV = {"MYRTLE_STORAGE_KEY_HEX": KEY}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "myrtle.toml"
    path.write_text(text)
    return path


def test_defaults_are_for_local_development() -> None:
    config = load_config(None, ENV)
    assert (config.host, config.port, config.data_dir) == ("127.0.0.1", 8765, Path("data"))
    assert not config.tls
    assert config.storage_key == bytes.fromhex(KEY)


def test_file_values_are_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'host = "0.0.0.0"\nport = 9100\ndata_dir = "/var/myrtle"\nmax_frame_bytes = 65536\n'
        f'outbound_queue = 7\nsnapshot_every = 50\nstorage_key_hex = "{KEY}"\n',
    )
    assert load_config(path, {}) == Config(
        host="0.0.0.0",
        port=9100,
        data_dir=Path("/var/myrtle"),
        max_frame_bytes=65536,
        outbound_queue=7,
        snapshot_every=50,
        storage_key_hex=KEY,
    )


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, f'port = 9100\nhost = "0.0.0.0"\nstorage_key_hex = "{KEY}"\n')
    config = load_config(
        path, {"MYRTLE_PORT": "9200", "MYRTLE_DATA_DIR": "elsewhere", "MYRTLE_SNAPSHOT_EVERY": "3"}
    )
    assert (config.port, config.data_dir, config.snapshot_every) == (9200, Path("elsewhere"), 3)
    assert config.host == "0.0.0.0"  # not overridden: the file's value stays


def test_environment_key_overrides_file_key(tmp_path: Path) -> None:
    path = write(tmp_path, f'storage_key_hex = "{KEY}"\n')
    other = "CD" * 32
    assert load_config(path, {"MYRTLE_STORAGE_KEY_HEX": other}).storage_key_hex == other.lower()


def test_tls_files_are_accepted_together(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("y")
    config = load_config(None, {**ENV, "MYRTLE_TLS_CERT": str(cert), "MYRTLE_TLS_KEY": str(key)})
    assert config.tls and config.tls_cert == cert and config.tls_key == key


def expect_error(
    tmp_path: Path, toml: str | None, env: dict[str, str], *fragments: str
) -> ConfigError:
    path = write(tmp_path, toml) if toml is not None else None
    with pytest.raises(ConfigError) as info:
        load_config(path, env)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    return info.value


def test_unknown_key_is_named(tmp_path: Path) -> None:
    expect_error(tmp_path, "prot = 1\n", ENV, "unknown key 'prot'", "expected one of", "port")


def test_wrong_type_in_file(tmp_path: Path) -> None:
    expect_error(tmp_path, 'port = "8000"\n', ENV, "port = '8000'", "expected an integer")


def test_bool_is_not_an_integer(tmp_path: Path) -> None:
    expect_error(tmp_path, "outbound_queue = true\n", ENV, "outbound_queue = True")


def test_non_numeric_env(tmp_path: Path) -> None:
    expect_error(tmp_path, None, {**ENV, "MYRTLE_PORT": "eighty"}, "port = 'eighty'", "MYRTLE_PORT")


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_out_of_range(tmp_path: Path, port: int) -> None:
    expect_error(tmp_path, f"port = {port}\n", ENV, f"port = {port}", "an integer from 1 to 65535")


def test_cert_without_key(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    expect_error(
        tmp_path,
        None,
        {**ENV, "MYRTLE_TLS_CERT": str(cert)},
        "tls_cert is set but tls_key is not",
    )


def test_key_without_cert(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("x")
    expect_error(
        tmp_path, None, {**ENV, "MYRTLE_TLS_KEY": str(key)}, "tls_key is set but tls_cert is not"
    )


def test_missing_tls_file(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    missing = tmp_path / "nope.pem"
    expect_error(
        tmp_path,
        None,
        {**ENV, "MYRTLE_TLS_CERT": str(cert), "MYRTLE_TLS_KEY": str(missing)},
        f"tls_key = '{missing}'",
        "expected an existing file",
    )


@pytest.mark.parametrize(
    ("value", "detail"), [("ab" * 31, "got 62 characters"), ("zz" * 32, "non-hex")]
)
def test_bad_storage_key(tmp_path: Path, value: str, detail: str) -> None:
    error = expect_error(
        tmp_path,
        None,
        {"MYRTLE_STORAGE_KEY_HEX": value},
        "storage_key_hex",
        "64 hex characters",
        detail,
    )
    assert value not in str(error)  # a key is never echoed, even a wrong one


def test_missing_storage_key(tmp_path: Path) -> None:
    expect_error(tmp_path, None, {}, "storage_key_hex is not set", "MYRTLE_STORAGE_KEY_HEX")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml", ENV)


def test_invalid_toml(tmp_path: Path) -> None:
    expect_error(tmp_path, "port = \n", ENV, "not valid TOML")


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "data"
    file.write_text("x")
    expect_error(
        tmp_path, None, {**ENV, "MYRTLE_DATA_DIR": str(file)}, "data_dir", "expected a directory"
    )
