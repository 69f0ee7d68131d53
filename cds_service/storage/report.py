"""The usage report: per card topic, what clinicians did with the cards; per service, volume and latency.

A card's outcome is its latest feedback (by outcomeTimestamp): a card first overridden
then accepted counts as accepted. Acceptance rate = accepted / (accepted + overridden),
i.e. among cards that got feedback (ignored cards produce no feedback, per the spec).

``build_trends`` gives the same outcomes per ISO week (for the HTML report's charts):
the share of shown cards accepted, overridden and without feedback, override reasons,
red-flag cards per week, and latency percentiles per pipeline stage.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from .models import cards, feedback, hook_calls


@dataclass
class TopicRow:
    topic: str
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    override_reasons: dict[str, int] = field(default_factory=dict)
    no_feedback: int = 0

    @property
    def acceptance_rate(self) -> float | None:
        answered = self.accepted + self.overridden
        return round(self.accepted / answered, 3) if answered else None


@dataclass
class ServiceRow:
    service_id: str
    calls: int = 0
    status_412: int = 0
    overruns: int = 0
    errors: int = 0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None


@dataclass
class Report:
    since: datetime | None
    topics: list[TopicRow]
    services: list[ServiceRow]
    feedback_unknown_card: int

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None,
                "topics": [asdict(t) | {"acceptance_rate": t.acceptance_rate} for t in self.topics],
                "services": [asdict(s) for s in self.services],
                "feedback_unknown_card": self.feedback_unknown_card}


def build_report(conn: Connection, since: datetime | None = None) -> Report:
    return Report(since=since, topics=_topics(conn, since), services=_services(conn, since),
                  feedback_unknown_card=_unknown_feedback(conn, since))


@dataclass(frozen=True)
class CardOutcome:
    """One card shown, with the outcome of its latest feedback (None: no feedback)."""

    time: datetime
    topic: str
    outcome: str | None
    reason: str | None  # override reason label, for overridden cards


def _card_outcomes(conn: Connection, since: datetime | None) -> list[CardOutcome]:
    shown = (select(cards.c.uuid, cards.c.topic, hook_calls.c.time)
             .join(hook_calls, cards.c.call_id == hook_calls.c.id))
    if since is not None:
        shown = shown.where(hook_calls.c.time >= since)
    rows = list(conn.execute(shown))
    latest = _latest_feedback(conn, [uuid for uuid, _, _ in rows if uuid])
    outcomes = []
    for uuid, topic, when in rows:
        outcome = latest.get(uuid) if uuid else None
        outcomes.append(CardOutcome(when, topic or "(none)", outcome[0] if outcome else None,
                                    outcome[1] if outcome and outcome[0] != "accepted" else None))
    return outcomes


def _count(row: TopicRow, card: CardOutcome) -> None:
    row.shown += 1
    if card.outcome is None:
        row.no_feedback += 1
    elif card.outcome == "accepted":
        row.accepted += 1
    else:
        row.overridden += 1
        reason = card.reason or "(no reason)"
        row.override_reasons[reason] = row.override_reasons.get(reason, 0) + 1


def _topics(conn: Connection, since: datetime | None) -> list[TopicRow]:
    rows: dict[str, TopicRow] = {}
    for card in _card_outcomes(conn, since):
        _count(rows.setdefault(card.topic, TopicRow(card.topic)), card)
    return sorted(rows.values(), key=lambda r: (-r.shown, r.topic))


def _latest_feedback(conn: Connection, uuids: list[str]) -> dict[str, tuple[str, str]]:
    """card uuid -> (outcome, override reason label) of its most recent feedback."""
    latest: dict[str, tuple[datetime, str, str]] = {}
    wanted = set(uuids)
    query = select(feedback.c.card_uuid, feedback.c.outcome, feedback.c.override_system,
                   feedback.c.override_code, feedback.c.outcome_timestamp)
    for uuid, outcome, system, code, when in conn.execute(query):
        if uuid not in wanted:
            continue
        reason = f"{system}|{code}" if code and system else (code or "(no reason)")
        if uuid not in latest or when >= latest[uuid][0]:
            latest[uuid] = (when, outcome, reason)
    return {u: (o, r) for u, (_, o, r) in latest.items()}


#: Card topics whose code starts with this are red flags (the card-topic contract in the README).
RED_FLAG_PREFIX = "red-flag-"
#: Pseudo-stage for the whole call, next to the pipeline stages the audit rows record.
TOTAL_STAGE = "total"
#: Pipeline order of the stages services/call.py records; other stages follow by name.
STAGE_ORDER = ("validate", "fetch", "detect", "cards", "check")


@dataclass(frozen=True)
class WeekRow:
    """Outcomes of one topic's cards shown in one ISO week (``week`` is its Monday, UTC)."""

    week: date
    topic: str
    shown: int
    accepted: int
    overridden: int
    no_feedback: int


@dataclass(frozen=True)
class ReasonRow:
    topic: str
    reason: str
    count: int


@dataclass(frozen=True)
class StageLatency:
    """Nearest-rank latency percentiles of one pipeline stage over the calls that ran it."""

    stage: str
    calls: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class Trends:
    since: datetime | None
    weeks: tuple[WeekRow, ...]
    reasons: tuple[ReasonRow, ...]
    latency: tuple[StageLatency, ...]

    def red_flags_per_week(self) -> list[WeekRow]:
        return [w for w in self.weeks if w.topic.startswith(RED_FLAG_PREFIX)]


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of the ISO week ``moment`` falls in."""
    day = moment.date()
    return day - timedelta(days=day.weekday())


def build_trends(conn: Connection, since: datetime | None = None) -> Trends:
    """Per-week card outcomes, override reasons and per-stage latency (for charts)."""
    per_week: dict[tuple[date, str], TopicRow] = {}
    per_topic: dict[str, TopicRow] = {}
    for card in _card_outcomes(conn, since):
        _count(per_week.setdefault((week_of(card.time), card.topic), TopicRow(card.topic)), card)
        _count(per_topic.setdefault(card.topic, TopicRow(card.topic)), card)
    weeks = tuple(WeekRow(week, topic, r.shown, r.accepted, r.overridden, r.no_feedback)
                  for (week, topic), r in sorted(per_week.items()))
    reasons = tuple(ReasonRow(topic, reason, n) for topic, r in sorted(per_topic.items())
                    for reason, n in sorted(r.override_reasons.items()))
    return Trends(since=since, weeks=weeks, reasons=reasons, latency=_stage_latency(conn, since))


def _stage_latency(conn: Connection, since: datetime | None) -> tuple[StageLatency, ...]:
    query = select(hook_calls.c.duration_ms, hook_calls.c.stages)
    if since is not None:
        query = query.where(hook_calls.c.time >= since)
    samples: defaultdict[str, list[float]] = defaultdict(list)
    for duration, stages in conn.execute(query):
        samples[TOTAL_STAGE].append(float(duration))
        for stage, ms in _stage_timings(stages).items():
            samples[stage].append(ms)
    known = {stage: i for i, stage in enumerate(STAGE_ORDER)}
    order = sorted((s for s in samples if s != TOTAL_STAGE), key=lambda s: (known.get(s, len(known)), s))
    order += [TOTAL_STAGE] if samples else []
    rows = []
    for stage in order:
        values = sorted(samples[stage])
        rows.append(StageLatency(stage, len(values), *(_percentile(values, q) for q in (50, 90, 99))))
    return tuple(rows)


def _stage_timings(stages: str | None) -> dict[str, float]:
    """The JSON {stage: ms} of an audit row; anything unreadable counts as no stages."""
    try:
        parsed = json.loads(stages or "{}")
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(k): float(v) for k, v in parsed.items() if isinstance(v, (int, float))}


def _services(conn: Connection, since: datetime | None) -> list[ServiceRow]:
    query = select(hook_calls.c.service_id, hook_calls.c.http_status, hook_calls.c.outcome,
                   hook_calls.c.duration_ms)
    if since is not None:
        query = query.where(hook_calls.c.time >= since)
    rows: dict[str, ServiceRow] = {}
    durations: defaultdict[str, list[float]] = defaultdict(list)
    for service_id, status, outcome, duration in conn.execute(query):
        row = rows.setdefault(service_id, ServiceRow(service_id))
        row.calls += 1
        row.status_412 += status == 412
        row.overruns += outcome == "overrun"
        row.errors += status >= 500
        durations[service_id].append(duration)
    for service_id, row in rows.items():
        values = sorted(durations[service_id])
        row.p50_ms, row.p90_ms, row.p99_ms = (_percentile(values, q) for q in (50, 90, 99))
    return sorted(rows.values(), key=lambda r: r.service_id)


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return round(sorted_values[rank - 1], 2)


def _unknown_feedback(conn: Connection, since: datetime | None) -> int:
    known = select(cards.c.uuid).where(cards.c.uuid.is_not(None))
    query = select(feedback.c.card_uuid).where(feedback.c.card_uuid.not_in(known))
    if since is not None:
        query = query.where(feedback.c.received_at >= since)
    return len(conn.execute(query).all())


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2)
    if fmt == "csv":
        return _csv(report)
    return _table(report)


def _reasons(row: TopicRow) -> str:
    return "; ".join(f"{k}={v}" for k, v in sorted(row.override_reasons.items()))


def _csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "shown_or_calls", "accepted_or_412", "overridden_or_overruns",
                     "no_feedback_or_errors", "acceptance_rate_or_p50_ms", "override_reasons_or_p90_ms",
                     "p99_ms"])
    for t in report.topics:
        writer.writerow(["topic", t.topic, t.shown, t.accepted, t.overridden, t.no_feedback,
                         "" if t.acceptance_rate is None else t.acceptance_rate, _reasons(t), ""])
    for s in report.services:
        writer.writerow(["service", s.service_id, s.calls, s.status_412, s.overruns, s.errors,
                         _blank(s.p50_ms), _blank(s.p90_ms), _blank(s.p99_ms)])
    return out.getvalue().rstrip("\n")


def _blank(value: float | None) -> str:
    return "" if value is None else str(value)


def _table(report: Report) -> str:
    lines = [f"Cards since {report.since.isoformat() if report.since else 'the beginning'}"]
    header: tuple[str, ...] = ("topic", "shown", "accepted", "overridden", "no feedback", "acceptance",
                               "override reasons")
    body: list[tuple[Any, ...]] = [(t.topic, t.shown, t.accepted, t.overridden, t.no_feedback,
             "-" if t.acceptance_rate is None else f"{t.acceptance_rate:.1%}", _reasons(t) or "-")
            for t in report.topics]
    lines += _grid(header, body)
    lines.append(f"Feedback for unknown cards: {report.feedback_unknown_card}")
    lines.append("")
    header = ("service", "calls", "412", "overrun", "5xx", "p50 ms", "p90 ms", "p99 ms")
    body = [(s.service_id, s.calls, s.status_412, s.overruns, s.errors,
             _blank(s.p50_ms) or "-", _blank(s.p90_ms) or "-", _blank(s.p99_ms) or "-")
            for s in report.services]
    lines += _grid(header, body)
    return "\n".join(lines)


def _grid(header: tuple[str, ...], body: list[tuple[Any, ...]]) -> list[str]:
    table = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in body]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*table[0]), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in table[1:]] or ["(no data)"]
    return [line.rstrip() for line in lines]


