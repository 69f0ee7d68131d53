"""POST /evaluate and `cds-service evaluate`: a Bundle in, the encounter-start cards out."""
from __future__ import annotations

import json

from .conftest import DATA

BUNDLE = DATA / "fhir/synthea/generated-sample-data-r4/Liz_Conn_27c911c6-f045-4ffa-af5d-6eba57ac94b2.json"


def test_unknown_encounter_is_a_400_not_another_encounter(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/evaluate?encounter=no-such-encounter", data=BUNDLE.read_bytes(),
                           content_type="application/fhir+json")
    assert response.status_code == 400
    assert response.json["error"] == "invalid-bundle"
    assert "no-such-encounter" in response.json["message"]


def test_named_encounter_is_evaluated(client) -> None:  # type: ignore[no-untyped-def]
    bundle = json.loads(BUNDLE.read_bytes())
    encounter = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    response = client.post(f"/evaluate?encounter={encounter}", json=bundle)
    assert response.status_code == 200
    assert isinstance(response.json["cards"], list)


def test_not_a_bundle_is_a_400(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/evaluate", json={"resourceType": "Patient", "id": "x"})
    assert response.status_code == 400
    assert response.json["details"][0]["path"] == "$.resourceType"


def test_default_encounter_is_the_latest_one(client) -> None:  # type: ignore[no-untyped-def]
    """With no ?encounter=, the record is about the latest encounter, not the first in the Bundle."""
    from cds_service.fhir.record import RecordBuilder
    bundle = json.loads((DATA / "fhir/synthea/generated-sample-data-r4/"
                         "Adan_Portillo_22bbe238-220e-495c-8abc-0ce3aa28a605.json").read_bytes())
    builder = RecordBuilder()
    builder.add("bundle", bundle)
    record = builder.build()
    starts = [e["resource"]["period"]["start"] for e in bundle["entry"]
              if e["resource"]["resourceType"] == "Encounter"]
    assert record.encounter is not None
    assert record.encounter.period.start.isoformat()[:10] == max(starts)[:10]
