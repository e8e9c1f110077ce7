"""Start the real server as a subprocess on a free loopback port; stop it by PID."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


def start(
    tmp_path: Path, extra_toml: str = "", env: dict[str, str] | None = None, **kwargs: object
) -> Server:
    port = free_port()
    environ = {"MYRTLE_PORT": str(port), "MYRTLE_STORAGE_KEY_HEX": KEY, **(env or {})}
    proc = launch(tmp_path, extra_toml, environ)
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
