"""The real server as a subprocess: /health, /metrics, /ws, TLS, SIGTERM and bad config."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.servers import KEY, ROOT, STOP_TIMEOUT, Server, free_port, launch, start


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start(tmp_path)
    yield srv
    if srv.proc.poll() is None:
        code, stderr = srv.stop()
        assert code == 0, stderr


def test_health(server: Server) -> None:
    status, content_type, body = server.get("/health")
    assert status == 200
    assert content_type == "application/json"
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["committed_seq"] == 0  # a fresh data dir: nothing recovered
    assert health["tls"] is False


def test_unknown_path_is_404(server: Server) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        server.get("/nope")
    assert info.value.code == 404
    info.value.close()


def test_clients_that_never_close_do_not_block_shutdown(server: Server) -> None:
    # One that got an HTTP answer and keeps the socket, one that never finished its request.
    answered = socket.create_connection(("127.0.0.1", server.port))
    silent = socket.create_connection(("127.0.0.1", server.port))
    try:
        answered.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answered.recv(64).startswith(b"HTTP/1.1 404")
        silent.sendall(b"GET /ws HTTP/1.1\r\n")
        code, stderr = server.stop()
        assert code == 0, stderr
        assert "stopped at committed seq 0" in stderr
    finally:
        answered.close()
        silent.close()


async def exchange(server: Server, frames: list[str]) -> list[str]:
    answers = []
    async with connect(server.ws_url, ssl=server.ssl_context) as ws:
        for frame in frames:
            await ws.send(frame)
            answer = await asyncio.wait_for(ws.recv(), timeout=5)
            assert isinstance(answer, str)
            answers.append(answer)
    return answers


def test_bad_requests_get_correlated_errors_and_metrics_count_them(server: Server) -> None:
    answers = asyncio.run(exchange(server, ['{"id": 1, "method": "ping"}', "hello"]))
    replies = [json.loads(a) for a in answers]
    assert [(r["id"], r["error"]["code"], r["error"]["category"]) for r in replies] == [
        (1, "UNKNOWN_METHOD", "ProtocolError"),
        (None, "BAD_JSON", "ProtocolError"),
    ]
    assert all(r["error"]["message"] for r in replies)

    status, content_type, body = server.get("/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    text = body.decode()
    assert "myrtle_ws_messages_received_total 2.0" in text
    assert "myrtle_ack_latency_seconds_count 2.0" in text
    assert "myrtle_ws_connections 0.0" in text  # the connection above is closed
    assert "myrtle_sequencer_committed_seq 0.0" in text


def test_binary_frames_are_refused(server: Server) -> None:
    async def go() -> int | None:
        async with connect(server.ws_url) as ws:
            await ws.send(b"\x00\x01")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), timeout=5)
            return info.value.rcvd.code if info.value.rcvd else None

    assert asyncio.run(go()) == 1003


def test_sigterm_with_a_client_connected_exits_0(server: Server) -> None:
    async def go() -> int | None:
        async with connect(server.ws_url) as ws:
            await ws.send("x")
            await asyncio.wait_for(ws.recv(), timeout=5)
            code, stderr = await asyncio.to_thread(server.stop)
            assert code == 0, stderr
            assert "stopped at committed seq 0" in stderr
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), timeout=5)
            return info.value.rcvd.code if info.value.rcvd else None

    assert asyncio.run(go()) == 1001  # going away


def test_bad_config_exits_2_with_one_clear_message(tmp_path: Path) -> None:
    proc = launch(tmp_path, "port = 70000\n", {"MYRTLE_STORAGE_KEY_HEX": KEY})
    _, stderr = proc.communicate(timeout=STOP_TIMEOUT * 2)
    assert proc.returncode == 2
    lines = stderr.strip().splitlines()
    assert lines == [
        "myrtle-wyckoff: configuration error: port = 70000 (from config file "
        f"'{tmp_path / 'myrtle.toml'}'): expected an integer from 1 to 65535"
    ]


def test_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT * 2,
    )
    assert result.returncode == 0
    assert "serve" in result.stdout


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    client = ssl.create_default_context(cafile=str(cert))
    srv = start(
        tmp_path,
        f'tls_cert = "{cert}"\ntls_key = "{key}"\n',
        scheme="https",
        ssl_context=client,
    )
    try:
        _, _, body = srv.get("/health")
        assert json.loads(body)["tls"] is True
        [answer] = asyncio.run(exchange(srv, ['{"id": "t", "method": "info"}']))
        assert json.loads(answer)["result"]["domain"]["chain_id"] == 31337
    finally:
        code, stderr = srv.stop()
    assert code == 0, stderr


def write_journal(data_dir: Path, key_hex: str) -> int:
    from server.sequencer import AesGcmSealer, Sequencer
    from tests.sequencer.flows import setup_commands

    sequencer = Sequencer.open(data_dir, AesGcmSealer(bytes.fromhex(key_hex)), lambda: 1_000)
    for command in setup_commands():
        sequencer.submit(command)
    sequencer.commit()
    sequencer.close()
    return sequencer.committed_seq


def test_recovers_the_journal_on_start(tmp_path: Path) -> None:
    committed = write_journal(tmp_path / "data", KEY)
    assert committed > 0
    srv = start(tmp_path)
    try:
        _, _, body = srv.get("/health")
        assert json.loads(body)["committed_seq"] == committed
        _, _, metrics = srv.get("/metrics")
        assert f"myrtle_sequencer_committed_seq {float(committed)}" in metrics.decode()
    finally:
        code, stderr = srv.stop()
    assert code == 0, stderr


def test_wrong_storage_key_fails_to_start(tmp_path: Path) -> None:
    write_journal(tmp_path / "data", "11" * 32)
    proc = launch(tmp_path, "", {"MYRTLE_PORT": str(free_port()), "MYRTLE_STORAGE_KEY_HEX": KEY})
    _, stderr = proc.communicate(timeout=STOP_TIMEOUT * 2)
    assert proc.returncode == 1
    assert "myrtle-wyckoff: cannot recover from" in stderr
    assert "Traceback" not in stderr
