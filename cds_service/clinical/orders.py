"""Orderable tests and what the record says is already done: ordered or resulted within a window.

A card should not propose a test the patient already has: an MRI done last week, a
pending HbA1c order. ``find_done_orders`` matches the record's ServiceRequests,
DiagnosticReports, ImagingStudies, Procedures and lab Observations to orderable tests by
code, and keeps a match only while it is current (within the test's look-back window;
an undated open order still stands, an undated result does not). The tests and their
codes and windows are data (a service's ``cards/orders.yaml``).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ..fhir.dates import to_date
from ..fhir.labels import CPT
from ..fhir.record import PatientRecord

_INACTIVE = frozenset({"revoked", "entered-in-error", "cancelled", "not-done"})
_PENDING = frozenset({"draft", "active", "on-hold"})


@dataclass(frozen=True)
class Code:
    """One coding of an orderable test, with its verification status and where it was verified."""

    system: str
    code: str
    display: str
    status: str  # V verified, S secondary
    code_source: str
    match_only: bool = False  # recognised as "already done" but never sent in an order

    @property
    def is_cpt(self) -> bool:
        return self.system == CPT

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True)
class Order:
    """An orderable test: its codes and how long a previous order or result counts as current."""

    id: str
    text: str
    category: str
    window_days: int
    codes: tuple[Code, ...] = ()

    def key_set(self) -> frozenset[tuple[str, str]]:
        return frozenset((c.system, c.code) for c in self.codes)


@dataclass(frozen=True)
class DoneOrder:
    """A previous order or result that makes a test current: where and when."""

    reference: str
    when: date | None


def find_done_orders(record: PatientRecord, orders: Iterable[Order], today: date) -> dict[str, DoneOrder]:
    """Tests ordered or resulted within their window, matched by code (order id -> where it was seen)."""
    by_code: dict[tuple[str, str], list[Order]] = {}
    for order in orders:
        for key in order.key_set():
            by_code.setdefault(key, []).append(order)
    done: dict[str, DoneOrder] = {}
    for reference, status, codings, when in _previous_orders(record):
        if status in _INACTIVE:
            continue
        for key in codings:
            for order in by_code.get(key, ()):
                if order.id in done or not _is_current(when, status, order.window_days, today):
                    continue
                done[order.id] = DoneOrder(reference=reference, when=when)
    return done


def _is_current(when: date | None, status: str, window_days: int, today: date) -> bool:
    if when is None:
        return status in _PENDING  # an undated open order still stands; an undated result does not
    return when >= today - timedelta(days=window_days)


def _previous_orders(record: PatientRecord) -> Iterator[tuple[str, str, list[tuple[str, str]], date | None]]:
    """(reference, status, codings, date) of every order, report, study, procedure and lab result."""
    for sr in record.service_requests:
        yield (_ref(sr), str(sr.status or ""), _codings([sr.code]),
               to_date(sr.authoredOn) or to_date(sr.occurrenceDateTime))
    for report in record.diagnostic_reports:
        yield (_ref(report), str(report.status or ""), _codings([report.code]),
               to_date(report.effectiveDateTime) or to_date(report.issued))
    for study in record.imaging_studies:
        yield _ref(study), str(study.status or ""), _codings(study.procedureCode or []), to_date(study.started)
    for proc in record.procedures:
        start = proc.performedPeriod.start if proc.performedPeriod is not None else None
        yield (_ref(proc), str(proc.status or ""), _codings([proc.code]),
               to_date(proc.performedDateTime) or to_date(start))
    for obs in record.observations:
        yield (_ref(obs), str(obs.status or ""), _codings([obs.code]),
               to_date(obs.effectiveDateTime) or to_date(obs.issued))


def _ref(resource: Any) -> str:
    return f"{resource.get_resource_type()}/{resource.id}" if resource.id else resource.get_resource_type()


def _codings(concepts: Iterable[Any]) -> list[tuple[str, str]]:
    return [(str(c.system), str(c.code)) for concept in concepts if concept is not None
            for c in (concept.coding or []) if c.system and c.code]

