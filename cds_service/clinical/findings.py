"""PLACEHOLDER (being replaced): PatientRecord -> Findings."""
from __future__ import annotations

from datetime import date

from ..fhir.record import PatientRecord
from .knowledge import Knowledge
from .model import Findings


def detect_findings(record: PatientRecord, knowledge: Knowledge, today: date) -> Findings:
    return Findings()
