"""Cards over HTTP (in-process app): the links in a real hook response point at pages the app serves."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest

from cds_service import Settings, create_app

pytestmark = pytest.mark.filterwarnings(r"ignore:\[W036\]:UserWarning")


def _request(reason: str) -> dict[str, Any]:
    return {
        "hook": "encounter-start",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": "pat-1", "encounterId": "enc-1"},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "pat-1", "gender": "female", "birthDate": "1958-05-01"},
            "encounter": {"resourceType": "Encounter", "id": "enc-1", "status": "in-progress",
                          "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                          "subject": {"reference": "Patient/pat-1"}, "reasonCode": [{"text": reason}]},
            "conditions": None, "observations": None, "medications": None, "serviceRequests": None,
            "diagnosticReports": None, "imagingStudies": None, "procedures": None,
        },
    }


def test_hook_response_links_to_the_served_handout(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/cds-services/leg-weakness", json=_request("weakness in both legs for two weeks"))
    assert response.status_code == 200, response.get_data(as_text=True)
    cards = response.get_json()["cards"]
    workup = next(c for c in cards if c["source"]["topic"]["code"] == "leg-weakness-workup")
    url = next(k["url"] for k in workup["links"] if "patient-education" in k["url"])
    assert url == "http://localhost/patient-education/leg-weakness"
    assert client.get(urlsplit(url).path).status_code == 200
    for card in cards:
        for suggestion in card.get("suggestions", []):
            resource = suggestion["actions"][0]["resource"]
            assert resource["subject"] == {"reference": "Patient/pat-1"}
            assert resource["encounter"] == {"reference": "Encounter/enc-1"}


def test_link_settings_are_honoured(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(require_auth=False, data_dir=str(tmp_path), link_base_url="https://ehr-proxy.example.org/cds",
                        guideline_links=False)
    client = create_app(settings).test_client()
    cards = client.post("/cds-services/leg-weakness", json=_request("weakness in both legs")).get_json()["cards"]
    workup = next(c for c in cards if c["source"]["topic"]["code"] == "leg-weakness-workup")
    assert workup["links"] == [{"label": workup["links"][0]["label"], "type": "absolute",
                                "url": "https://ehr-proxy.example.org/cds/patient-education/leg-weakness"}]
    assert all("links" not in c for c in cards if c is not workup)


def test_recent_lab_in_prefetch_is_not_ordered_again(client) -> None:  # type: ignore[no-untyped-def]
    body = _request("weakness in both legs for two weeks")
    body["prefetch"]["observations"] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
        "resourceType": "Observation", "id": "a1c-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": datetime.now(timezone.utc).date().isoformat(),
        "valueQuantity": {"value": 6.1, "unit": "%"}}}]}
    cards = client.post("/cds-services/leg-weakness", json=body).get_json()["cards"]
    workup = next(c for c in cards if c["source"]["topic"]["code"] == "leg-weakness-workup")
    texts = {s["actions"][0]["resource"]["code"]["text"] for s in workup["suggestions"]}
    assert "HbA1c" not in texts and "Glucose (serum or plasma)" in texts
    assert "Observation/a1c-1" in workup["detail"]
