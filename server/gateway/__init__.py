"""The gateway: the WebSocket edge in front of the sequencer (errors first; the server follows)."""
