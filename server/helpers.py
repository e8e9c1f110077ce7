"""Helper processes that serve the gateway over a socket pair.

The signature verifiers (``server.auth.verifier``) and the journal syncer
(``server.sequencer.syncer``) run in their own processes so that they never take the busy
event loop's GIL. The event loop reads and writes their sockets like any other; a helper
exits as soon as its socket closes, so it never outlives the gateway, even one killed
with SIGKILL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["spawn_helper"]

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
