"""A hook such as order-select reaches a service's handler with its whole context, typed:
``HookContext.draft_orders`` and ``.selections``. The service here is written by hand
against the ``CdsService`` protocol (no data folder), as a site's own service would be."""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cds_service import Settings, create_app
from cds_service.fhir.record import PatientRecord, ResourceFilter
from cds_service.protocol.context import HookContext
from cds_service.protocol.registry import ServiceDefinition
from cds_service.protocol.validation import problems
from cds_service.services.service import CdsService, Handout


@dataclass
class DraftOrderEcho:
    """Answers order-select with one card naming the selected draft orders."""

    seen: list[HookContext] = field(default_factory=list)

    @property
    def definitions(self) -> tuple[ServiceDefinition, ...]:
        return (ServiceDefinition(id="order-echo", hook="order-select", title="Order echo (test)",
                                  description="Names the selected draft orders.",
                                  prefetch={"patient": "Patient/{{context.patientId}}"}),)

    @property
    def urgent_topics(self) -> frozenset[str]:
        return frozenset()

    def record_filters(self) -> Mapping[str, ResourceFilter]:
        return {}

    def handle(self, record: PatientRecord, context: HookContext) -> list[dict[str, Any]]:
        self.seen.append(context)
        entries = (context.draft_orders or {}).get("entry", [])
        selected = [e["resource"]["resourceType"] + "/" + e["resource"]["id"] for e in entries
                    if f"{e['resource']['resourceType']}/{e['resource']['id']}" in context.selections]
        return [{"uuid": context.new_id(), "summary": f"{len(selected)} selected of {len(entries)} drafts",
                 "indicator": "info", "detail": ", ".join(selected),
                 "source": {"label": "test", "topic": {"system": "urn:test", "code": "echo", "display": "echo"}}}]

    def handouts(self) -> tuple[Handout, ...]:
        return ()


def test_order_select_draft_orders_and_selections_reach_the_handler(tmp_path: Path) -> None:
    service = DraftOrderEcho()
    typed: CdsService = service  # the protocol is all the registry needs
    client = create_app(Settings(require_auth=False, data_dir=str(tmp_path)), services=[typed]).test_client()
    draft = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "ServiceRequest", "id": "sr-1", "status": "draft", "intent": "proposal",
                      "subject": {"reference": "Patient/p1"}, "code": {"text": "MRI lumbar spine"}}},
        {"resource": {"resourceType": "ServiceRequest", "id": "sr-2", "status": "draft", "intent": "proposal",
                      "subject": {"reference": "Patient/p1"}, "code": {"text": "X-ray"}}}]}
    body = {"hook": "order-select", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": "p1", "selections": ["ServiceRequest/sr-1"],
                        "draftOrders": draft},
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}}}
    response = client.post("/cds-services/order-echo", json=body)
    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    assert problems({"cards": cards}, "response") == []
    assert cards[0]["summary"] == "1 selected of 2 drafts" and cards[0]["detail"] == "ServiceRequest/sr-1"
    context = service.seen[0]
    assert context.hook == "order-select" and context.patient_id == "p1" and context.encounter_id is None
    assert context.selections == ("ServiceRequest/sr-1",) and context.draft_orders == draft
    assert context.hook_instance == body["hookInstance"]


def test_the_same_service_cannot_be_registered_twice(tmp_path: Path) -> None:
    from cds_service.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="duplicate"):
        create_app(Settings(require_auth=False, data_dir=str(tmp_path)), services=[DraftOrderEcho(), DraftOrderEcho()])
