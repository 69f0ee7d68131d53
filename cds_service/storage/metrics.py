"""Prometheus metrics: hook calls, stage latencies, cards, feedback.

gunicorn runs several worker processes, each with its own counters. When
``PROMETHEUS_MULTIPROC_DIR`` is set (``cds-service serve`` sets it to a fresh directory
under the data dir before the workers fork), prometheus_client writes every worker's
values to files there and /metrics merges them with a MultiProcessCollector. Without
it (in-process apps, tests) each app has its own registry.

prometheus_client picks its storage at import time, so it is imported lazily here.
"""
from __future__ import annotations

import os
from typing import Any

from ..events import HookCallEvent

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """The service's metrics and an observer (``metrics(event)``) that updates them."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, values
        if multiprocess_dir() and values.ValueClass.__name__ == "MutexValue":
            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]  # imported before the variable was set
        self._registry = None if multiprocess_dir() else CollectorRegistry()
        registry = self._registry
        self.calls = Counter("cds_hook_calls", "Hook calls by service, HTTP status and outcome.",
                             ["service", "status", "outcome"], registry=registry)
        self.duration = Histogram("cds_hook_call_duration_seconds", "Hook call duration.",
                                  ["service"], buckets=_BUCKETS, registry=registry)
        self.stages = Histogram("cds_hook_stage_duration_seconds", "Time per pipeline stage.",
                                ["service", "stage"], buckets=_BUCKETS, registry=registry)
        self.cards = Counter("cds_cards", "Cards returned by topic and indicator.",
                             ["service", "topic", "indicator"], registry=registry)
        self.feedback = Counter("cds_feedback", "Feedback items stored, by outcome.",
                                ["service", "outcome"], registry=registry)

    def __call__(self, event: HookCallEvent) -> None:
        self.calls.labels(event.service_id, str(event.http_status), event.outcome).inc()
        self.duration.labels(event.service_id).observe(event.duration_ms / 1000.0)
        for stage, ms in event.stages.items():
            self.stages.labels(event.service_id, stage).observe(ms / 1000.0)
        for card in event.cards:
            self.cards.labels(event.service_id, card.topic or "", card.indicator).inc()

    def count_feedback(self, service_id: str, outcome: str, n: int = 1) -> None:
        if n:
            self.feedback.labels(service_id, outcome).inc(n)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every process's metrics, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        registry: Any = self._registry
        if registry is None:
            from prometheus_client import multiprocess
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
