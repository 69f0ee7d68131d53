"""Deadline and stage timings for one hook call.

The time budget (``CDS_TIME_BUDGET_MS``) covers the whole call. Stages record how long
they took so the log, the audit row and the metrics can say where the time went.
Running out of time is not an error: callers ask ``remaining()`` and stop early.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Clock = Callable[[], float]


@dataclass
class Deadline:
    """A monotonic deadline with per-stage timings (milliseconds)."""

    budget_ms: float
    clock: Clock = time.monotonic
    started: float = field(default=0.0)
    stages: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.started:
            self.started = self.clock()

    def elapsed_ms(self) -> float:
        return (self.clock() - self.started) * 1000.0

    def remaining_s(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, (self.budget_ms - self.elapsed_ms()) / 1000.0)

    def expired(self) -> bool:
        return self.elapsed_ms() >= self.budget_ms

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a named stage; repeated stages add up."""
        start = self.clock()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + (self.clock() - start) * 1000.0

    def slowest_stage(self) -> str | None:
        return max(self.stages, key=self.stages.__getitem__) if self.stages else None
