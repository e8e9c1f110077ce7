"""Helper processes that serve the gateway over a socket pair.

The signature verifiers (``server.auth.verifier``) and the journal syncer
(``server.sequencer.syncer``) run in their own processes so that they never take the busy
event loop's GIL. The event loop reads and writes their sockets like any other; a helper
exits as soon as its socket closes, so it never outlives the gateway, even one killed
with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

__all__ = ["Helper", "spawn_helper"]

_ROOT = str(Path(__file__).resolve().parents[1])  # the folder holding ``server``


def spawn_helper(module: str, function: str) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start ``python -c "from <module> import <function>; <function>(fd)"`` with one end of
    a new socket pair as ``fd``; return the process and our end."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, env.get("PYTHONPATH")]))
    mine, theirs = socket.socketpair()
    with theirs:
        fd = theirs.fileno()
        code = f"from {module} import {function}; {function}({fd})"
        proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=(fd,), env=env)
    return proc, mine


class Helper:
    """A started helper process with the event loop's end of its socket: ``write`` to it;
    ``read`` (given to ``start``) runs as a task over its answers until the socket closes."""

    def __init__(self, proc: subprocess.Popen[bytes], writer: asyncio.StreamWriter) -> None:
        self.proc = proc
        self.writer = writer
        self.reading: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        module: str,
        function: str,
        read: Callable[[asyncio.StreamReader], Coroutine[Any, Any, None]],
    ) -> Helper:
        proc, mine = spawn_helper(module, function)
        reader, writer = await asyncio.open_connection(sock=mine)
        helper = cls(proc, writer)
        helper.reading = asyncio.get_running_loop().create_task(read(reader))
        return helper

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def connected(self) -> bool:
        return self.reading is not None and not self.reading.done()

    def close_socket(self) -> None:
        """The helper sees its socket close and exits."""
        self.writer.close()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Close the socket, reap the process (killed after ``timeout_s``), stop reading."""
        self.close_socket()
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(None, self.proc.wait), timeout_s)
        except TimeoutError:
            self.proc.kill()
            await loop.run_in_executor(None, self.proc.wait)
        if self.reading is not None:
            self.reading.cancel()
            await asyncio.gather(self.reading, return_exceptions=True)
