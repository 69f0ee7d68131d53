"""The time budget covers parsing and record building; a prefetch key is read up to a cap.

A body just under the size limit (4.99 MB), full of resources the logic reads (Conditions,
relevant Observations, MedicationRequests, and reports and procedures with orderable
codes, on a call with a complaint so the card path reads them too), is answered within
``CDS_TIME_BUDGET_MS``. A key with more resources than ``CDS_PREFETCH_MAX_RESOURCES`` is
read up to the cap, the rest is logged as not read, and the answer is partial: only
red-flag cards.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.cases import SYNTHEA, Case, synthea_cases
from cds_service import Settings, create_app

TARGET_BYTES = 4_990_000
_ORDER_CODE = {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "HbA1c"}]}
_TEMPERATURE = {"coding": [{"system": "http://loinc.org", "code": "8310-5", "display": "Body temperature"}]}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = Settings(require_auth=False, data_dir=str(tmp_path_factory.mktemp("budget")))
    yield create_app(settings).test_client()


def _complaint_case() -> Case:
    templates = {"leg-weakness": {
        "patient": "Patient/{{context.patientId}}", "encounter": "Encounter/{{context.encounterId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}&code=http://loinc.org|8310-5",
        "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
        "serviceRequests": "ServiceRequest?patient={{context.patientId}}",
        "diagnosticReports": "DiagnosticReport?patient={{context.patientId}}",
        "imagingStudies": "ImagingStudy?patient={{context.patientId}}",
        "procedures": "Procedure?patient={{context.patientId}}"}}
    return next(c for c in synthea_cases(templates, SYNTHEA, limit=1) if c.complaint)


def _copies(template: dict[str, Any], n: int, prefix: str) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        resource = copy.deepcopy(template)
        resource["id"] = f"{prefix}-{i}"
        out.append({"fullUrl": f"urn:uuid:{prefix}-{i}", "resource": resource})
    return out


def big_body(per_key: int, padding_to: int | None = TARGET_BYTES) -> bytes:
    """A valid encounter-start call whose searchset keys hold ``per_key`` resources each."""
    case = _complaint_case()
    body = copy.deepcopy(case.body)
    patient = body["context"]["patientId"]
    subject = {"reference": f"Patient/{patient}"}
    templates = {
        "conditions": {"resourceType": "Condition", "subject": subject,
                       "clinicalStatus": {"coding": [{"code": "active"}]},
                       "code": {"coding": [{"system": "http://snomed.info/sct", "code": "15777000",
                                            "display": "Prediabetes"}], "text": "Prediabetes"},
                       "onsetDateTime": "2019-05-01T10:00:00Z", "recordedDate": "2019-05-01T10:00:00Z"},
        "observations": {"resourceType": "Observation", "status": "final", "subject": subject,
                         "code": _TEMPERATURE, "effectiveDateTime": "2019-05-01T10:00:00Z",
                         "valueQuantity": {"value": 36.8, "unit": "Cel", "code": "Cel"}},
        "medications": {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                        "subject": subject, "medicationCodeableConcept": {"text": "metformin 500 MG Oral Tablet"}},
        "serviceRequests": {"resourceType": "ServiceRequest", "status": "completed", "intent": "order",
                            "subject": subject, "code": _ORDER_CODE, "authoredOn": "2019-05-01T10:00:00Z"},
        "diagnosticReports": {"resourceType": "DiagnosticReport", "status": "final", "subject": subject,
                              "code": _ORDER_CODE, "effectiveDateTime": "2019-05-01T10:00:00Z"},
        "procedures": {"resourceType": "Procedure", "status": "completed", "subject": subject,
                       "code": {"coding": [{"system": "http://snomed.info/sct", "code": "241645008"}]},
                       "performedDateTime": "2019-05-01T10:00:00Z"},
    }
    for key, template in templates.items():
        body["prefetch"][key] = {"resourceType": "Bundle", "type": "searchset",
                                 "entry": _copies(template, per_key, key)}
    raw = json.dumps(body).encode()
    if padding_to is not None and len(raw) < padding_to:  # an unread narrative makes up the size
        wrapper = '<div xmlns="http://www.w3.org/1999/xhtml">{}</div>'
        body["prefetch"]["patient"]["text"] = {"status": "generated", "div": wrapper.format("")}
        filler = padding_to - len(json.dumps(body).encode())
        body["prefetch"]["patient"]["text"]["div"] = wrapper.format("x" * filler)
        raw = json.dumps(body).encode()
    return raw


def _post(client: Any, raw: bytes) -> tuple[Any, float]:
    started = time.monotonic()
    response = client.post("/cds-services/leg-weakness", data=raw, content_type="application/json")
    return response, time.monotonic() - started


def test_a_body_at_the_size_limit_is_answered_within_the_budget(client: Any) -> None:
    raw = big_body(per_key=990)
    assert 4_900_000 < len(raw) <= TARGET_BYTES
    _post(client, big_body(per_key=5, padding_to=None))  # warm caches (the text engine)
    response, seconds = _post(client, raw)
    assert response.status_code == 200, response.get_json()
    assert seconds < Settings().time_budget_ms / 1000
    topics = {c["source"]["topic"]["code"] for c in response.get_json()["cards"]}
    # the full answer, or (a machine too slow to read it all in time) the urgent cards only
    assert "leg-weakness-workup" in topics or (topics and all(t.startswith("red-flag-") for t in topics))


def test_a_key_over_the_cap_is_read_up_to_the_cap_and_the_answer_is_partial(
        client: Any, caplog: pytest.LogCaptureFixture) -> None:
    cap = Settings().prefetch_max_resources
    raw = big_body(per_key=cap + 200, padding_to=None)
    assert len(raw) <= Settings().max_body_bytes
    with caplog.at_level(logging.WARNING, logger="cds_service"):
        response, seconds = _post(client, raw)
    assert response.status_code == 200, response.get_json()
    assert seconds < Settings().time_budget_ms / 1000
    topics = {c["source"]["topic"]["code"] for c in response.get_json()["cards"]}
    assert topics and all(t.startswith("red-flag-") for t in topics)  # partial: urgent cards only
    warned = [r for r in caplog.records if r.getMessage() == "prefetch-truncated"]
    assert warned and warned[0].fields["notRead"]["conditions"] == 200  # type: ignore[attr-defined]
