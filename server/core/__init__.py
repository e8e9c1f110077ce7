"""The deterministic exchange core: commands in, events out, no I/O.

Files, in the order a command meets them: ``commands`` (inputs), ``engine`` (``Core.apply``),
``book`` (price-time books), ``accounts`` (balances and locks), ``events`` (outputs),
``rejects`` (reason codes), ``snapshot`` (canonical state bytes and the state hash).
"""

from server.core.commands import *  # noqa: F403
from server.core.commands import __all__ as _commands_all
from server.core.engine import UINT256_MAX, Core
from server.core.enums import *  # noqa: F403
from server.core.enums import __all__ as _enums_all
from server.core.events import *  # noqa: F403
from server.core.events import __all__ as _events_all
from server.core.rejects import REJECT_MESSAGES, RejectCode
from server.core.snapshot import SnapshotError

__all__ = [
    "REJECT_MESSAGES",
    "UINT256_MAX",
    "Core",
    "RejectCode",
    "SnapshotError",
    *_commands_all,
    *_enums_all,
    *_events_all,
]
