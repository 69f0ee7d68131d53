"""Protocol test helpers: load shared fixtures, post to the live server, check answers.

Every 200 answer to a hook call is checked against the response schema by
``post_hook`` so no test can pass on a body the specification forbids.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.protocol import validation
from tests.conftest import DATA

VALIDATOR_CASES = DATA / "fhir" / "cds-requests" / "fhir-test-cases-validator"
RESPONSES_AND_DISCOVERY = VALIDATOR_CASES / "responses-and-discovery"
SPEC = DATA / "cds-hooks-spec" / "spec-2.0.1"
HOOKS_LIBRARY = DATA / "cds-hooks-spec" / "hooks-library-1.0.1"
SYNTHEA = DATA / "fhir" / "synthea" / "generated-sample-data-r4"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def assert_json(response: httpx.Response) -> Any:
    """Every answer is JSON with a JSON content type and never a stack trace."""
    assert response.headers["content-type"].split(";")[0] == "application/json", response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    return response.json()


def assert_valid_response(body: Any) -> None:
    found = validation.problems(body, "response")
    assert not found, found


def post_hook(client: httpx.Client, service_id: str, body: Any, **kwargs: Any) -> httpx.Response:
    """POST a hook call; a 200 answer must satisfy the CDS Hooks response schema."""
    response = client.post(f"/cds-services/{service_id}", json=body, **kwargs)
    payload = assert_json(response)
    if response.status_code == 200:
        assert_valid_response(payload)
    return response


def encounter_start(patient: dict[str, Any] | None = None, encounter: dict[str, Any] | None = None,
                    **prefetch: Any) -> dict[str, Any]:
    """A minimal valid encounter-start call with patient and encounter prefetched."""
    patient = patient or {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-01-01"}
    encounter = encounter or {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
                              "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                        "code": "AMB"},
                              "subject": {"reference": f"Patient/{patient['id']}"}}
    return {"hook": "encounter-start", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/u1", "patientId": patient["id"], "encounterId": encounter["id"]},
            "prefetch": {"patient": patient, "encounter": encounter, **prefetch}}


@pytest.fixture(scope="session")
def http(live_server: Any) -> httpx.Client:  # type: ignore[misc]
    with httpx.Client(base_url=live_server.url, timeout=30.0) as client:
        yield client
