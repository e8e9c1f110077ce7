"""What clients read: answers to queries, user events and stream channels (sans-I/O).

``messages`` turns core events into wire dicts, ``views`` keeps the read models the core
does not (fill history, closed orders), ``channels`` keeps each stream's seq and state and
builds its push messages. Nothing here touches a socket or a clock: the gateway feeds in the
sequencer's committed batches and sends what comes out.
"""

from server.streams.channels import ChannelError, Channels, DarkMarket, wire_name
from server.streams.messages import order_dict, user_events, wire_event
from server.streams.views import Views

__all__ = [
    "ChannelError",
    "Channels",
    "DarkMarket",
    "Views",
    "order_dict",
    "user_events",
    "wire_event",
    "wire_name",
]
