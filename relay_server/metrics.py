"""`/metrics` in the Prometheus text format, read at scrape time from the relay's own counters.

The registry is local to the app (never prometheus_client's global one), so several relays can live in
one process, as they do in tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_server.relay import Relay


class RelayCollector(Collector):
    def __init__(self, relay: Relay) -> None:
        self._relay = relay

    def collect(self) -> Iterator[Metric]:
        relay = self._relay
        stats = relay.stats
        kinds = Counter(c.kind for c in relay.hub.clients)
        kinds["federation"] = len(relay.federation.core.links())  # links to relays live beside the hub
        connections = GaugeMetricFamily(
            "hyperspace_relay_connections", "Peers attached to the relay's hub", labels=["kind"]
        )
        for kind in ("websocket", "local", "federation"):
            connections.add_metric([kind], kinds[kind])
        yield connections

        frames = CounterMetricFamily(
            "hyperspace_relay_frames", "Relay frames by direction", labels=["direction"]
        )
        frames.add_metric(["in"], stats.frames_in)
        frames.add_metric(["out"], stats.frames_out)
        yield frames
        volume = CounterMetricFamily(
            "hyperspace_relay_bytes", "Relay frame bytes by direction", labels=["direction"]
        )
        volume.add_metric(["in"], stats.bytes_in)
        volume.add_metric(["out"], stats.bytes_out)
        yield volume
        yield CounterMetricFamily(
            "hyperspace_relay_throttled_frames",
            "Frames read only after waiting for their sender's rate buckets (senders over their rate)",
            value=stats.throttled,
        )

        rejections = CounterMetricFamily(
            "hyperspace_rejections", "Network input refused, by where and why", labels=["where", "reason"]
        )
        for (where, reason), n in sorted(relay.rejections().items()):
            rejections.add_metric([where, reason], n)
        yield rejections

        yield GaugeMetricFamily(
            "hyperspace_relay_uptime_seconds", "Seconds since the relay started", value=relay.uptime_s()
        )
        yield GaugeMetricFamily(
            "hyperspace_relay_open_sockets",
            "Sockets open (HTTP and WebSocket), of the fd budget",
            value=relay.guard.open,
        )
        yield from _archive_metrics(relay)
        yield from _federation_metrics(relay)


def _federation_metrics(relay: Relay) -> Iterator[Metric]:
    federation = relay.federation
    yield GaugeMetricFamily(
        "hyperspace_federation_links", "Federated relays linked now", value=len(federation.core.links())
    )
    yield GaugeMetricFamily(
        "hyperspace_federation_routes",
        "Peers on other relays this relay can route to",
        value=federation.core.routes(),
    )
    cut = CounterMetricFamily(
        "hyperspace_federation_cut_offs", "Federation links cut off, by the rule broken", labels=["reason"]
    )
    for reason, n in sorted(federation.cut_offs.items()):
        cut.add_metric([reason], n)
    yield cut


def _archive_metrics(relay: Relay) -> Iterator[Metric]:
    archiver = relay.embedded.archiver if relay.embedded is not None else None
    if archiver is None:
        return
    queue = archiver.queue
    yield GaugeMetricFamily(
        "hyperspace_archive_queue_entries", "Gateway submissions waiting for a commit", value=len(queue)
    )
    yield GaugeMetricFamily(
        "hyperspace_archive_queue_bytes", "Bytes of gateway submissions waiting", value=queue.total.bytes
    )
    yield CounterMetricFamily(
        "hyperspace_archive_quarantined",
        "Queued submissions that could not be committed, set aside",
        value=queue.quarantined,
    )


def routes(relay: Relay) -> list[BaseRoute]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RelayCollector(relay))

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics)]
