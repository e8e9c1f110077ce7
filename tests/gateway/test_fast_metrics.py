"""The hot-path histogram and counter expose exactly what prometheus-client's own would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from server.gateway.http import FastCounter, FastHistogram

BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


def _lines(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return sorted(
        line for line in text.splitlines() if not line.startswith("#") and "_created" not in line
    )


@given(
    st.lists(
        st.sampled_from([0.0, 0.0005, 0.00051, 0.002, 0.3, 1.0, 7.5]) | st.floats(0, 10),
        max_size=50,
    )
)
def test_fast_histogram_equals_prometheus_histogram(values: list[float]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = FastHistogram("lat_seconds", "latency", BUCKETS, ours)
    slow = Histogram("lat_seconds", "latency", buckets=BUCKETS, registry=theirs)
    for v in values:
        fast.observe(v)
        slow.observe(v)
    mine, reference = _lines(ours), _lines(theirs)
    # Sums may differ in the last bits of float addition order; compare them separately.
    assert [x for x in mine if "_sum" not in x] == [x for x in reference if "_sum" not in x]
    assert abs(fast.sum - sum(values)) <= 1e-9 * max(1.0, sum(values))


def test_fast_counter_equals_prometheus_counter() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = FastCounter("msgs", "messages", ours)
    slow = Counter("msgs", "messages", registry=theirs)
    for _ in range(3):
        fast.value += 1
        slow.inc()
    assert _lines(ours) == _lines(theirs)
