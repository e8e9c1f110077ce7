"""The real server as a subprocess: /health, /metrics, /ws, TLS, SIGTERM and bad config."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[2]
KEY = "5a" * 32
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    scheme: str = "http"
    ssl_context: ssl.SSLContext | None = None

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.scheme == 'https' else 'ws'}://127.0.0.1:{self.port}/ws"

    def get(self, path: str) -> tuple[int, str, bytes]:
        with urllib.request.urlopen(
            self.base + path, timeout=5, context=self.ssl_context
        ) as response:
            return response.status, response.headers["Content-Type"], response.read()

    def stop(self) -> tuple[int, str]:
        """SIGTERM by PID; the exit code and stderr."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = self.proc.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, stderr = self.proc.communicate()
            pytest.fail(f"server ignored SIGTERM for {STOP_TIMEOUT} s; stderr:\n{stderr}")
        return self.proc.returncode, stderr


def launch(
    tmp_path: Path, extra_toml: str = "", env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    config = tmp_path / "myrtle.toml"
    config.write_text(f'host = "127.0.0.1"\ndata_dir = "{tmp_path / "data"}"\n{extra_toml}')
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MYRTLE_")}
    environ.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--config", str(config)],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start(tmp_path: Path, extra_toml: str = "", **kwargs: object) -> Server:
    port = free_port()
    proc = launch(tmp_path, extra_toml, {"MYRTLE_PORT": str(port), "MYRTLE_STORAGE_KEY_HEX": KEY})
    server = Server(proc, port, **kwargs)  # type: ignore[arg-type]
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}: {proc.communicate()[1]}")
        try:
            server.get("/health")
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"no /health after {START_TIMEOUT} s: {proc.communicate()[1]}")
            time.sleep(0.05)


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


def test_websocket_answers_not_implemented_and_metrics_count_it(server: Server) -> None:
    answers = asyncio.run(exchange(server, ['{"id": 1, "method": "ping"}', "hello"]))
    assert len(answers) == 2
    for answer in answers:
        reply = json.loads(answer)
        assert reply["id"] is None
        assert reply["error"]["code"] == "NOT_IMPLEMENTED"
        assert reply["error"]["message"]

    status, content_type, body = server.get("/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    text = body.decode()
    assert "myrtle_ws_messages_received_total 2.0" in text
    assert "myrtle_command_latency_seconds_count 2.0" in text
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
        [answer] = asyncio.run(exchange(srv, ["{}"]))
        assert json.loads(answer)["error"]["code"] == "NOT_IMPLEMENTED"
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
