"""Myrtle Wyckoff: the exchange app that runs inside the TEE.

The order path, by folder: ``core`` (the deterministic state machine: books, accounts,
events) and ``sequencer`` (the single writer: sequence numbers, time, the sealed journal).
"""

__all__: list[str] = []
