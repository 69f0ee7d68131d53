"""Conformance suite: the HL7 validator's CDS Hooks cases and every CDS Hooks 2.0.1 spec example.

Each case is a row with the verdict the specification gives and the reason, so a
reader can check the table against the spec text rather than trust the code.
"""
from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from cds_service.errors import InvalidPrefetchError
from cds_service.fhir.record import RecordBuilder
from cds_service.protocol import validation

from .conftest import (HOOKS_LIBRARY, RESPONSES_AND_DISCOVERY, SPEC, VALIDATOR_CASES, assert_json, load,
                       post_hook)

PV_SERVICE = "leg-weakness-patient-view"

# --- HL7 validator requests: (file, valid?, schema paths that must be named, reason)
REQUEST_CASES = [
    ("cdshooks-request-patient-view-good.json", True, [], "valid patient-view call"),
    ("cdshooks-request-pv-good.json", True, [], "the spec's own patient-view example"),
    ("cdshooks-request-order-select-good.json", True, [], "valid order-select call"),
    ("cdshooks-request-order-sign-good.json", True, [], "valid order-sign call"),
    ("cdshooks-request-patient-view-bad.json", False,
     ["$.context.patientId", "$.context.encounterId", "$.prefetch.item1", "$.prefetch.item2"],
     "patientId/encounterId given as 'Type/id' (must be bare ids); prefetch values in the pre-2.0 "
     "{response, resource} wrapper have no resourceType"),
    ("cdshooks-request-order-select-bad.json", False,
     ["$.context.patientId", "$.context.encounterId", "$.context.selections[0]", "$.prefetch.item1"],
     "typed patientId/encounterId, a selection that is not 'Type/id', a wrapped prefetch value "
     "(its draft order without fullUrl is accepted: the CDS Hooks Library's own examples omit it)"),
    ("cdshooks-request-order-sign-bad-1.json", False, ["$.context.patientId"],
     "typed patientId (its birthDate 'X2002-09-26' and status 'Xactive' are FHIR errors the record "
     "layer catches, see below)"),
    ("cdshooks-request-order-sign-bad-2.json", False, ["$.context.patientId", "$.prefetch.item1"],
     "typed patientId, a wrapped prefetch value"),
    ("cdshooks-request-order-select-extensions.json", False, ["$.context"],
     "order-select context without its REQUIRED draftOrders (the case exercises request "
     "extensions, which are themselves valid)"),
]


@pytest.mark.parametrize(("name", "valid", "paths", "reason"), REQUEST_CASES, ids=[c[0] for c in REQUEST_CASES])
def test_validator_request_against_schema(name: str, valid: bool, paths: list[str], reason: str) -> None:
    found = validation.problems(load(VALIDATOR_CASES / name), "hook-request")
    if valid:
        assert found == [], reason
    else:
        assert {d.path for d in found} >= set(paths), (reason, found)


@pytest.mark.parametrize("name", ["cdshooks-request-patient-view-good.json", "cdshooks-request-pv-good.json"])
def test_good_patient_view_requests_are_accepted_by_the_service(http: httpx.Client, name: str) -> None:
    """Accepted = not a 400: the call is valid, but its keys (item1, patientToGreet) are not ours and
    its http:// fhirServer is not loopback, so the required Patient is unobtainable: 412 naming it."""
    response = post_hook(http, PV_SERVICE, load(VALIDATOR_CASES / name))
    assert response.status_code == 412, response.text
    body = response.json()
    assert body["error"] == "prefetch-unavailable"
    assert [m["key"] for m in body["missing"]] == ["patient"]


@pytest.mark.parametrize("name", ["cdshooks-request-patient-view-good.json", "cdshooks-request-pv-good.json"])
def test_good_patient_view_requests_answer_cards_with_the_patient_under_our_key(http: httpx.Client,
                                                                                name: str) -> None:
    body = load(VALIDATOR_CASES / name)
    patient = next(v for v in body["prefetch"].values() if v and v["resourceType"] == "Patient")
    body["prefetch"] = {**body["prefetch"], "patient": patient}
    response = post_hook(http, PV_SERVICE, body)
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["cards"], list)


@pytest.mark.parametrize("name", [c[0] for c in REQUEST_CASES if not c[1] and "patient-view" in c[0]])
def test_bad_patient_view_request_is_rejected_naming_the_fields(http: httpx.Client, name: str) -> None:
    response = post_hook(http, PV_SERVICE, load(VALIDATOR_CASES / name))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "schema-violation"
    assert {"$.context.patientId", "$.prefetch.item1"} <= {d["path"] for d in body["details"]}


def _as_patient_view(bad: dict[str, Any], **prefetch: Any) -> dict[str, Any]:
    """A schema-valid patient-view call carrying resources taken from a bad validator case."""
    patient_id = bad["context"]["patientId"].rsplit("/", 1)[-1]
    return {"hook": "patient-view", "hookInstance": bad["hookInstance"],
            "context": {"userId": "Practitioner/example", "patientId": patient_id}, "prefetch": prefetch}


def test_invalid_birth_date_in_prefetch_is_rejected_by_the_record_layer(http: httpx.Client) -> None:
    """order-sign-bad-1's Patient has birthDate 'X2002-09-26': valid JSON, invalid FHIR R4."""
    bad = load(VALIDATOR_CASES / "cdshooks-request-order-sign-bad-1.json")
    patient = bad["prefetch"]["item1"]
    response = post_hook(http, PV_SERVICE, _as_patient_view(bad, patient=patient))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid-prefetch"
    assert body["prefetchKey"] == "patient"
    assert body["resource"] == f"Patient/{patient['id']}"
    assert any(d["path"].endswith(".birthDate") and d["path"].startswith("patient:") for d in body["details"])


def test_invalid_status_in_prefetch_is_rejected_by_the_record_layer(http: httpx.Client) -> None:
    """order-sign-bad-1's MedicationRequest has status 'Xactive', outside its required binding."""
    bad = load(VALIDATOR_CASES / "cdshooks-request-order-sign-bad-1.json")
    order = bad["context"]["draftOrders"]["entry"][0]["resource"]
    medications = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": order}]}
    good_patient = {**bad["prefetch"]["item1"], "birthDate": "2002-09-26"}
    response = post_hook(http, PV_SERVICE, _as_patient_view(bad, patient=good_patient, medications=medications))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid-prefetch"
    assert body["prefetchKey"] == "medications"
    assert [d["path"] for d in body["details"]] == [f"medications:MedicationRequest/{order['id']}.status"]
    assert "Xactive" in body["details"][0]["message"]


@pytest.mark.parametrize(("source", "field"), [("birthDate", "X2002-09-26"), ("gender", "Xmale")])
def test_record_builder_names_the_field(source: str, field: str) -> None:
    builder = RecordBuilder()
    builder.add("item1", {"resourceType": "Patient", "id": "x", source: field})
    with pytest.raises(InvalidPrefetchError) as caught:
        builder.build("x")
    assert caught.value.details[0].path == f"item1:Patient/x.{source}"


# --- HL7 validator responses and discovery documents: (file, schema, valid?, paths, reason)
DOCUMENT_CASES = [
    ("cdshooks-response-empty-good.json", "response", True, [], "cards: [] means no guidance"),
    ("cdshooks-response-empty.json", "response", True, [], "cards: []"),
    ("cdshooks-response-good.json", "response", True, [], "absolute and smart links, overrideReasons"),
    ("cdshooks-response-two-cards.json", "response", True, [], "two minimal cards"),
    ("cdshooks-response-link.json", "response", True, [], "a card with source.url and no links"),
    ("cdshooks-response-no-link.json", "response", True, [], "same card, no links"),
    ("cdshooks-response-empty-bad.json", "response", False, ["$"], "cards is REQUIRED"),
    ("cdshooks-response-empty2.json", "response", False, ["$"], "cards is REQUIRED"),
    ("cdshooks-response-empty-source.json", "response", False, ["$.cards[0].source", "$.cards[0].links[0]"],
     "source.label is REQUIRED; link.type is REQUIRED"),
    ("cdshooks-response-source-link.json", "response", False, ["$.cards[0].summary", "$.cards[0].links[0]"],
     "summary of 140+ characters; link without type"),
    ("cdshooks-response-suggestion.json", "response", False, ["$.cards[0]", "$.cards[0].summary"],
     "suggestions without selectionBehavior; summary of 140+ characters"),
    ("cdshooks-services-good.json", "discovery-response", True, [], "three services"),
    ("cdshooks-services-order-select-extensions.json", "discovery-response", False,
     ["$.services[0].extension"], "extension key 'no-valid' is not a reverse-DNS name"),
]


@pytest.mark.parametrize(("name", "schema", "valid", "paths", "reason"), DOCUMENT_CASES,
                         ids=[c[0] for c in DOCUMENT_CASES])
def test_validator_documents(name: str, schema: str, valid: bool, paths: list[str], reason: str) -> None:
    found = validation.problems(load(RESPONSES_AND_DISCOVERY / name), schema)
    if valid:
        assert found == [], reason
    else:
        assert found and {d.path for d in found} >= set(paths), (reason, found)


# --- CDS Hooks 2.0.1 spec examples: (file, schema, $defs entry or None, valid?, reason)
SPEC_CASES = [
    ("discovery-response.json", "discovery-response", None, True, "Discovery Example"),
    ("extension-discovery.json", "discovery-response", None, True, "extension on a discovery service"),
    ("request-patient-view.json", "hook-request", None, True, "Calling a CDS Service example"),
    ("extension-request.json", "hook-request", None, False,
     "the Extensions example is a patient-view call whose context has no patientId, REQUIRED by patient-view"),
    ("response-empty-cards.json", "response", None, True, "HTTP Response: no guidance"),
    ("response-cards-example.json", "response", None, True, "Card example"),
    ("response-autolaunchable.json", "response", None, False,
     "the autolaunchable example's card has no indicator, which is REQUIRED"),
    ("response-systemActions.json", "response", None, False,
     "the systemActions example's action has no description, which is REQUIRED"),
    ("feedback-accepted.json", "feedback", None, True, "suggestion accepted"),
    ("feedback-overridden-no-reason.json", "feedback", None, True, "overridden without reason"),
    ("feedback-overridden-with-reason.json", "feedback", None, True,
     "overridden with a reason Coding without display (display is only required in overrideReasons)"),
]
FRAGMENT_CASES = [
    ("fhirAuthorization.json", "fhirAuthorization", "hook-request", "fhirAuthorization", True,
     "access token example"),
    ("prefetch-data.json", "prefetch", "hook-request", "prefetch", False,
     "the example's 'user' key holds the string '123', which is neither a FHIR resource nor null"),
    ("hook-context-patient-view-fragment.json", "context", "hook-request", "context", True, "context object"),
    ("hook-context-definition-template-example.json", "context", "hook-request", "context", True,
     "context of a generic hook"),
    ("card-source.json", "source", "response", "source", True, "Source with topic"),
    ("action-create.json", None, "response", "action", True, "create with resource"),
    ("action-update.json", None, "response", "action", True, "update with resource"),
    ("action-delete.json", None, "response", "action", True, "delete with resourceId"),
]


@pytest.mark.parametrize(("name", "schema", "definition", "valid", "reason"), SPEC_CASES,
                         ids=[c[0] for c in SPEC_CASES])
def test_spec_examples(name: str, schema: str, definition: str | None, valid: bool, reason: str) -> None:
    found = validation.problems(load(SPEC / name), schema, definition=definition)
    assert (found == []) is valid, (reason, found)


@pytest.mark.parametrize(("name", "member", "schema", "definition", "valid", "reason"), FRAGMENT_CASES,
                         ids=[c[0] for c in FRAGMENT_CASES])
def test_spec_fragments(name: str, member: str | None, schema: str, definition: str, valid: bool,
                        reason: str) -> None:
    document = load(SPEC / name)
    instance = document[member] if member else document
    found = validation.problems(instance, schema, definition=definition)
    assert (found == []) is valid, (reason, found)


def test_spec_override_reasons_fragment() -> None:
    card = {"summary": "s", "indicator": "info", "source": {"label": "l"},
            **load(SPEC / "card-overrideReasons.json")}
    assert validation.problems({"cards": [card]}, "response") == []
    del card["overrideReasons"][0]["display"]
    assert [d.path for d in validation.problems({"cards": [card]}, "response")] == ["$.cards[0].overrideReasons[0]"]


def test_spec_prefetch_templates_use_only_2_0_tokens() -> None:
    for name in ("prefetch-templates.json", "discovery-prefetch-patientToGreet-fragment.json"):
        service = {"hook": "patient-view", "id": "x", "description": "d", **load(SPEC / name)}
        assert validation.problems({"services": [service]}, "discovery-response") == [], name


def test_request_patient_view_example_is_served(http: httpx.Client) -> None:
    """The spec's request, re-keyed to our prefetch key, gets a schema-valid 200."""
    body = copy.deepcopy(load(SPEC / "request-patient-view.json"))
    body["prefetch"] = {"patient": body["prefetch"]["patientToGreet"]}
    response = post_hook(http, PV_SERVICE, body)
    assert response.status_code == 200, response.text
    assert_json(response)


@pytest.mark.parametrize("path", sorted(HOOKS_LIBRARY.glob("*.json")), ids=lambda p: p.name)
def test_hooks_library_contexts_are_valid(path) -> None:  # type: ignore[no-untyped-def]
    """Every context example of the CDS Hooks Library 1.0.1 (R4, STU3 and DSTU2 orders)."""
    hook = "-".join(path.name.split("-")[:2])
    body = {"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", **load(path)}
    assert validation.problems(body, "hook-request") == []
