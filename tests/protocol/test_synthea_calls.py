"""Every Synthea patient, called as an EHR would call encounter-start, gets a schema-valid 200.

The requests are built the way ``bench/bench_http.py`` builds them: prefetch filled from
the service's own discovery templates, as a CDS client would fill them.
"""
from __future__ import annotations

import json

import httpx
import pytest

from bench.bench_http import build_request, search

from .conftest import SYNTHEA, post_hook

BUNDLES = sorted(SYNTHEA.glob("*.json"))


@pytest.fixture(scope="module")
def templates(http: httpx.Client) -> dict[str, str]:
    services = http.get("/cds-services").json()["services"]
    return next(s["prefetch"] for s in services if s["id"] == "leg-weakness")


def test_there_are_patients() -> None:
    assert len(BUNDLES) >= 30


@pytest.mark.parametrize("path", BUNDLES, ids=[p.name.split("_")[0] + "_" + p.name.split("_")[1] for p in BUNDLES])
def test_synthea_patient_gets_valid_cards(http: httpx.Client, templates: dict[str, str], path) -> None:  # type: ignore[no-untyped-def]
    body = build_request(json.loads(path.read_text()), templates)
    assert body["prefetch"]["patient"]["resourceType"] == "Patient"
    assert body["prefetch"]["encounter"]["resourceType"] == "Encounter"
    response = post_hook(http, "leg-weakness", body)
    assert response.status_code == 200, response.text


def test_search_filters_like_the_query() -> None:
    resources = [
        {"resourceType": "Observation", "id": "a", "code": {"coding": [{"system": "http://loinc.org", "code": "1-1"}]},
         "effectiveDateTime": "2020-01-01"},
        {"resourceType": "Observation", "id": "b", "code": {"coding": [{"system": "http://loinc.org", "code": "1-1"}]},
         "effectiveDateTime": "2021-01-01"},
        {"resourceType": "Observation", "id": "c", "code": {"coding": [{"system": "http://loinc.org", "code": "2-2"}]}},
        {"resourceType": "MedicationRequest", "id": "m1", "status": "active"},
        {"resourceType": "MedicationRequest", "id": "m2", "status": "stopped"},
    ]
    found = search(resources, "Observation?patient=p&code=http://loinc.org|1-1&_sort=-date&_count=1")
    assert [e["resource"]["id"] for e in found["entry"]] == ["b"]
    found = search(resources, "MedicationRequest?patient=p&status=active")
    assert [e["resource"]["id"] for e in found["entry"]] == ["m1"]
