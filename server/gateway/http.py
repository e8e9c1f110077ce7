"""Plain HTTP next to the WebSocket endpoint: ``GET /health`` and ``GET /metrics``.

They are answered from websockets' ``process_request`` hook, before any WebSocket handshake:
returning a response ends the exchange there; returning None lets the handshake go on (only
for ``/ws``). Everything else gets a 404.
"""

from __future__ import annotations

import http
from bisect import bisect_left
from collections.abc import Callable
from itertools import accumulate
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

__all__ = ["WS_PATH", "FastCounter", "FastHistogram", "HttpRoutes", "Metrics"]

WS_PATH = "/ws"


class FastHistogram:
    """A histogram for the per-request hot path, exposed through a custom collector.

    prometheus-client's Histogram.observe takes a lock and costs ~4 µs; this costs a bisect
    and two additions. Only the event loop thread observes and collects, so no lock.
    """

    def __init__(
        self, name: str, documentation: str, buckets: tuple[float, ...], registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = list(buckets)
        self.counts = [0] * (len(buckets) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def describe(self) -> list[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation)]

    def collect(self) -> list[Metric]:
        cumulative = list(accumulate(self.counts))
        buckets = [(repr(float(b)), c) for b, c in zip(self.bounds, cumulative, strict=False)]
        buckets.append(("+Inf", cumulative[-1]))
        family = HistogramMetricFamily(
            self.name, self.documentation, buckets=buckets, sum_value=self.sum
        )
        return [family]


class FastCounter:
    """A counter the hot path bumps with a plain ``+=`` (see FastHistogram)."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.value = 0
        registry.register(self)

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(self.name, self.documentation)]

    def collect(self) -> list[Metric]:
        return [CounterMetricFamily(self.name, self.documentation, value=self.value)]


class Metrics:
    """The gateway's Prometheus metrics, in a registry of their own (one per server)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.connections = Gauge(
            "myrtle_ws_connections",
            "Open WebSocket connections.",
            registry=self.registry,
        )
        self.messages_received = FastCounter(
            "myrtle_ws_messages_received",
            "WebSocket messages received from clients.",
            self.registry,
        )
        self.ack_latency = FastHistogram(
            "myrtle_ack_latency_seconds",
            "Time from receiving a request to queueing its answer (after the commit).",
            (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            self.registry,
        )
        self.commit_latency = Histogram(
            "myrtle_commit_latency_seconds",
            "Journal write + fsync of one group commit.",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "myrtle_batch_items",
            "Requests handled per pipeline batch (one group commit).",
            buckets=(1, 4, 16, 64, 256, 1024, 4096, 16384),
            registry=self.registry,
        )
        self.verify_latency = Histogram(
            "myrtle_verify_latency_seconds",
            "Signature recovery of one pipeline batch (worker processes or in place).",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=self.registry,
        )
        self.actions = Counter(
            "myrtle_actions",
            "Actions sequenced (orders, cancels, logins, ...), refused or not.",
            registry=self.registry,
        )
        self.inbox_depth = Gauge(
            "myrtle_inbox_depth",
            "Requests received but not yet verified and sequenced.",
            registry=self.registry,
        )
        self.outbound_depth = Gauge(
            "myrtle_outbound_queued",
            "Messages queued to clients across all connections.",
            registry=self.registry,
        )
        self.committed_seq = Gauge(
            "myrtle_sequencer_committed_seq",
            "The sequencer's last durable sequence number.",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class HttpRoutes:
    """The ``process_request`` hook. ``health`` supplies the fields of the /health answer
    beyond ``status``; it is called on the event loop and must not block."""

    def __init__(self, metrics: Metrics, health: Callable[[], dict[str, Any]]) -> None:
        self.metrics = metrics
        self.health = health

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == WS_PATH:
            return None  # go on with the WebSocket handshake
        if path == "/health":
            body = msgspec.json.encode({"status": "ok", **self.health()})
            return _respond(connection, http.HTTPStatus.OK, body, "application/json")
        if path == "/metrics":
            return _respond(
                connection, http.HTTPStatus.OK, self.metrics.exposition(), CONTENT_TYPE_LATEST
            )
        return _respond(
            connection,
            http.HTTPStatus.NOT_FOUND,
            b"not found: try /ws, /health or /metrics\n",
            "text/plain; charset=utf-8",
        )


def _respond(
    connection: ServerConnection, status: http.HTTPStatus, body: bytes, content_type: str
) -> Response:
    response = connection.respond(status, "")
    response.body = body
    del response.headers["Content-Length"]
    del response.headers["Content-Type"]
    response.headers["Content-Length"] = str(len(body))
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response
