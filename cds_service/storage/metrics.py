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

from ..events import UNKNOWN_SERVICE, HookCallEvent

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


#: Label values outside these sets are counted under ``other`` (service: ``unknown``), so no
#: caller can add a time series: every label comes from a fixed set known at start.
STATUSES = ("200", "400", "401", "404", "405", "412", "413", "415", "500")
OUTCOMES = ("ok", "overrun", "error", *STATUSES[1:])
INDICATORS = ("info", "warning", "critical")
FEEDBACK_OUTCOMES = ("accepted", "overridden")
STAGES = ("validate", "fetch", "detect", "cards", "check")
OTHER = "other"
_MAX_OPEN_LABELS = 64  # topics: names from our own card data; capped all the same


class _Labels:
    """A label's allowed values: a fixed set, or names from our own code capped in number."""

    def __init__(self, fixed: tuple[str, ...] = (), fallback: str = OTHER, cap: int = 0) -> None:
        self.values = set(fixed)
        self.fallback = fallback
        self.cap = cap

    def __call__(self, value: str | None) -> str:
        value = value or ""
        if value in self.values:
            return value
        if self.cap and len(self.values) < self.cap and value.replace("-", "").replace("_", "").isalnum() \
                and len(value) <= 64:
            self.values.add(value)
            return value
        return self.fallback


class Metrics:
    """The service's metrics and an observer (``metrics(event)``) that updates them.

    Every family is registered, with zero samples for the known services, when this is built,
    so ``/metrics`` lists them all before the first call.
    """

    def __init__(self, service_ids: tuple[str, ...] = ()) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, values
        if multiprocess_dir() and values.ValueClass.__name__ == "MutexValue":
            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]  # imported before the variable was set
        self._registry = None if multiprocess_dir() else CollectorRegistry()
        registry = self._registry
        self.service = _Labels((*service_ids, UNKNOWN_SERVICE), fallback=UNKNOWN_SERVICE)
        self.status = _Labels(STATUSES)
        self.outcome = _Labels(OUTCOMES)
        self.stage = _Labels(STAGES)
        self.topic = _Labels(cap=_MAX_OPEN_LABELS)
        self.indicator = _Labels(INDICATORS)
        self.feedback_outcome = _Labels(FEEDBACK_OUTCOMES)
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
        self._register_zeros(service_ids)

    def _register_zeros(self, service_ids: tuple[str, ...]) -> None:
        """Zero samples for the known services: the families exist before the first call."""
        for service in (*service_ids, UNKNOWN_SERVICE):
            self.calls.labels(service, "200", "ok")
            self.duration.labels(service)
        for service in service_ids:
            for stage in STAGES:
                self.stages.labels(service, stage)
            for indicator in INDICATORS:
                self.cards.labels(service, OTHER, indicator)
            for outcome in FEEDBACK_OUTCOMES:
                self.feedback.labels(service, outcome)

    def __call__(self, event: HookCallEvent) -> None:
        service = self.service(event.service_id)
        self.calls.labels(service, self.status(str(event.http_status)), self.outcome(event.outcome)).inc()
        self.duration.labels(service).observe(event.duration_ms / 1000.0)
        for stage, ms in event.stages.items():
            self.stages.labels(service, self.stage(stage)).observe(ms / 1000.0)
        for card in event.cards:
            self.cards.labels(service, self.topic(card.topic), self.indicator(card.indicator)).inc()

    def count_feedback(self, service_id: str, outcome: str, n: int = 1) -> None:
        if n:
            self.feedback.labels(self.service(service_id), self.feedback_outcome(outcome)).inc(n)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every process's metrics, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        registry: Any = self._registry
        if registry is None:
            from prometheus_client import multiprocess
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
