"""Prometheus metrics of the service, named after what users know from serving servers.

Each service instance owns its registry (so tests can run several apps in one process).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from prometheus_client import GC_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from abkit.serving.service import SuggestionService

# Latency buckets from 1 ms to 10 s: the published budget is 100 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
BATCH_TOKEN_BUCKETS = (64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


class _StateCollector(Collector):
    def __init__(self, service: SuggestionService):
        self._service = service

    def collect(self) -> Iterable:
        queue = GaugeMetricFamily("abkit_queue_size", "Requests waiting for a forward pass.", labels=["model_version"])
        for version, size in self._service.queue_sizes().items():
            queue.add_metric([version], size)
        yield queue
        writer = self._service.writer
        yield GaugeMetricFamily(
            "abkit_events_pending", "Events acknowledged and not yet committed.", value=writer.pending
        )
        yield GaugeMetricFamily(
            "abkit_event_db_up", "1 when the last database operation succeeded.", value=int(writer.db_up)
        )
        for name, help_text, counts in (
            ("abkit_events_written", "New events committed to the store.", writer.written),
            ("abkit_events_duplicates", "Events stored already with the same content (retries).", writer.duplicates),
            (
                "abkit_events_conflicts",
                "Events whose id is stored with other content: not written, filed in rejects.",
                writer.conflicts,
            ),
        ):
            family = CounterMetricFamily(name, help_text, labels=["kind"])
            for kind, count in counts.items():
                family.add_metric([kind], count)
            yield family
        yield CounterMetricFamily(
            "abkit_event_db_errors", "Failed database operations (retried).", value=writer.write_failures
        )
        yield CounterMetricFamily(
            "abkit_events_refused", "Events the store refused as malformed.", value=writer.rejected
        )
        caches = self._service.token_caches()
        for metric_type, name, help_text, value in (
            (CounterMetricFamily, "hits", "Messages whose token ids came from the cache.", lambda cache: cache.hits),
            (CounterMetricFamily, "misses", "Messages the tokenizer encoded.", lambda cache: cache.misses),
            (GaugeMetricFamily, "entries", "Messages whose token ids are cached.", len),
        ):
            metric = metric_type(f"abkit_token_cache_{name}", help_text, labels=["model_version"])
            for version, cache in caches.items():
                metric.add_metric([version], value(cache))
            yield metric
        yield GaugeMetricFamily(
            "abkit_gc_frozen_objects",
            "Objects in the garbage collector's permanent generation (abkit.serving.heap.settle_heap).",
            value=gc.get_freeze_count(),
        )


class ServiceMetrics:
    """All metrics of one service; also the batchers' :class:`~abkit.serving.batcher.BatchObserver`.

    The service's queue sizes, event writer and token caches are read at every scrape.
    """

    def __init__(self, service: SuggestionService) -> None:
        self.registry = r = CollectorRegistry()
        self.batch_size = Histogram(
            "abkit_batch_size", "Requests per forward pass.", buckets=BATCH_SIZE_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "abkit_batch_tokens", "Padded tokens per forward pass.", buckets=BATCH_TOKEN_BUCKETS, registry=r
        )
        latency = partial(Histogram, buckets=LATENCY_BUCKETS, registry=r)
        self.queue_duration = latency(
            "abkit_queue_duration_seconds", "Time from arrival to the start of the forward pass."
        )
        self.inference_duration = latency(
            "abkit_inference_duration_seconds", "Duration of one forward pass (tokens to top-5)."
        )
        self.request_duration = latency(
            "abkit_request_duration_seconds", "Time to answer a request, by endpoint.", ["endpoint"]
        )
        self.requests = Counter(
            "abkit_requests", "HTTP requests by endpoint and status.", ["endpoint", "status"], registry=r
        )
        self.dropped = Counter(
            "abkit_requests_dropped", "Requests dropped before their forward pass.", ["reason"], registry=r
        )
        self.arms = Counter("abkit_suggestions", "Suggest requests answered, by experiment arm.", ["arm"], registry=r)
        # The process's CPU, memory and garbage-collector figures (python_gc_*, process_*), as
        # prometheus_client's default registry has them.
        r.register(GC_COLLECTOR)
        r.register(PROCESS_COLLECTOR)
        r.register(_StateCollector(service))

    def on_batch(self, size: int, padded_tokens: int, inference_s: float, queue_s: Sequence[float]) -> None:
        self.batch_size.observe(size)
        self.batch_tokens.observe(padded_tokens)
        self.inference_duration.observe(inference_s)
        for waited in queue_s:
            self.queue_duration.observe(waited)

    def on_dropped(self, reason: str, count: int) -> None:
        self.dropped.labels(reason).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
