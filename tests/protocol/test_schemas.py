"""The schemas' own rules, one hand-made violation each (the spec rule is in the id)."""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from cds_service.protocol import validation

CARD: dict[str, Any] = {
    "uuid": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "summary": "s", "indicator": "warning",
    "source": {"label": "Leg weakness CDS", "topic": {"system": "https://example.org/t", "code": "x"}},
    "selectionBehavior": "at-most-one",
    "suggestions": [{"label": "MRI", "uuid": "u1", "isRecommended": True, "actions": [
        {"type": "create", "description": "Order MRI", "resource": {"resourceType": "ServiceRequest"}}]},
        {"label": "CT", "actions": [{"type": "delete", "description": "Remove", "resourceId": "ServiceRequest/1"}]}],
    "overrideReasons": [{"system": "https://example.org/o", "code": "a", "display": "Already done"}],
    "links": [{"label": "App", "url": "https://app.example.org/launch", "type": "smart", "appContext": "x"},
              {"label": "Guideline", "url": "https://example.org/g", "type": "absolute"}],
}

Mutation = Callable[[dict[str, Any]], Any]
RESPONSE_RULES: list[tuple[str, Mutation, str]] = [
    ("summary-under-140", lambda c: c.update(summary="x" * 140), "$.cards[0].summary"),
    ("summary-not-empty", lambda c: c.update(summary=""), "$.cards[0].summary"),
    ("indicator-enum", lambda c: c.update(indicator="hard-stop"), "$.cards[0].indicator"),
    ("source-label-required", lambda c: c["source"].pop("label"), "$.cards[0].source"),
    ("selectionBehavior-with-suggestions", lambda c: c.pop("selectionBehavior"), "$.cards[0]"),
    ("selectionBehavior-enum", lambda c: c.update(selectionBehavior="all"), "$.cards[0].selectionBehavior"),
    ("at-most-one-recommended", lambda c: c["suggestions"][1].update(isRecommended=True), "$.cards[0].suggestions"),
    ("override-display-required", lambda c: c["overrideReasons"][0].pop("display"), "$.cards[0].overrideReasons[0]"),
    ("override-system-required", lambda c: c["overrideReasons"][0].pop("system"), "$.cards[0].overrideReasons[0]"),
    ("link-type-enum", lambda c: c["links"][1].update(type="relative"), "$.cards[0].links[1].type"),
    ("appContext-only-smart", lambda c: c["links"][1].update(appContext="x"), "$.cards[0].links[1].appContext"),
    ("action-description-required", lambda c: c["suggestions"][0]["actions"][0].pop("description"),
     "$.cards[0].suggestions[0].actions[0]"),
    ("create-needs-resource", lambda c: c["suggestions"][0]["actions"][0].pop("resource"),
     "$.cards[0].suggestions[0].actions[0]"),
    ("action-type-enum", lambda c: c["suggestions"][1]["actions"][0].update(type="remove"),
     "$.cards[0].suggestions[1].actions[0].type"),
    ("no-empty-links", lambda c: c.update(links=[]), "$.cards[0].links"),
    ("extension-reverse-dns", lambda c: c.update(extension={"timestamp": 1}), "$.cards[0].extension"),
]


def test_base_card_is_valid() -> None:
    assert validation.problems({"cards": [CARD]}, "response") == []


@pytest.mark.parametrize(("rule", "mutate", "path"), RESPONSE_RULES, ids=[r[0] for r in RESPONSE_RULES])
def test_response_rule(rule: str, mutate: Mutation, path: str) -> None:
    card = copy.deepcopy(CARD)
    mutate(card)
    assert path in [d.path for d in validation.problems({"cards": [card]}, "response")], rule


def test_system_actions_must_not_be_empty() -> None:
    assert [d.path for d in validation.problems({"cards": [], "systemActions": []}, "response")] == ["$.systemActions"]


FEEDBACK = {"card": "c1", "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
            "outcomeTimestamp": "2020-08-25T21:18:16.375Z"}
FEEDBACK_RULES: list[tuple[str, Mutation, str]] = [
    ("accepted-needs-suggestions", lambda f: f.pop("acceptedSuggestions"), "$.feedback[0]"),
    ("outcome-enum", lambda f: f.update(outcome="ignored"), "$.feedback[0].outcome"),
    ("timestamp-rfc3339", lambda f: f.update(outcomeTimestamp="25/08/2020"), "$.feedback[0].outcomeTimestamp"),
    ("timestamp-has-zone", lambda f: f.update(outcomeTimestamp="2020-08-25T21:18:16"),
     "$.feedback[0].outcomeTimestamp"),
    ("reason-or-comment", lambda f: f.update(outcome="overridden", overrideReason={}), "$.feedback[0].overrideReason"),
    ("reason-coding-code", lambda f: f.update(overrideReason={"reason": {"system": "s"}}),
     "$.feedback[0].overrideReason.reason"),
]


def test_sandbox_feedback_is_valid() -> None:
    overridden = {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2020-08-25T21:18:16.375Z",
                  "overrideReason": {"reason": {"code": "a", "system": "https://example.org/o"}}}
    assert validation.problems({"feedback": [FEEDBACK, overridden]}, "feedback") == []


@pytest.mark.parametrize(("rule", "mutate", "path"), FEEDBACK_RULES, ids=[r[0] for r in FEEDBACK_RULES])
def test_feedback_rule(rule: str, mutate: Mutation, path: str) -> None:
    item = copy.deepcopy(FEEDBACK)
    mutate(item)
    assert path in [d.path for d in validation.problems({"feedback": [item]}, "feedback")], rule


@pytest.mark.parametrize(("template", "valid"), [
    ("Patient/{{context.patientId}}", True),
    ("PractitionerRole?_id={{userPractitionerRoleId}}", True),
    ("Observation?patient={{ context.patientId }}&code=4548-4", True),
    ("Patient/{{Patient.id}}", False),            # pre-1.0 token
    ("Patient?_id={{user}}", False),              # 1.0 'user' token
    ("Observation?date=ge{{today() - 90 days}}", False),  # 3.0-ballot FHIRPath
    ("Patient/{{context.patientId}", False),      # unbalanced
])
def test_prefetch_template_tokens(template: str, valid: bool) -> None:
    discovery = {"services": [{"hook": "patient-view", "id": "x", "description": "d", "prefetch": {"k": template}}]}
    assert (validation.problems(discovery, "discovery-response") == []) is valid


@pytest.mark.parametrize(("context", "valid"), [
    ({"userId": "Practitioner/1", "patientId": "p", "encounterId": "e"}, True),
    ({"userId": "PractitionerRole/A2340113", "patientId": "1288992", "encounterId": "456"}, True),
    ({"userId": "Patient/1", "patientId": "p", "encounterId": "e"}, False),
    ({"userId": "1", "patientId": "p", "encounterId": "e"}, False),
    ({"userId": "Practitioner/1", "patientId": "p"}, False),
    ({"userId": "Practitioner/1", "patientId": "", "encounterId": "e"}, False),
    ({"userId": "Practitioner/1", "patientId": "p", "encounterId": None}, False),
])
def test_encounter_start_context(context: dict[str, Any], valid: bool) -> None:
    body = {"hook": "encounter-start", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": context}
    assert (validation.problems(body, "hook-request") == []) is valid


def test_unknown_hooks_need_only_a_non_empty_context() -> None:
    body = {"hook": "appointment-book", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"anything": 1}}
    assert validation.problems(body, "hook-request") == []
    body["context"] = {}
    assert [d.path for d in validation.problems(body, "hook-request")] == ["$.context"]


@pytest.mark.parametrize(("member", "value"), [("prefetch", {}), ("extension", {}), ("fhirServer", ""),
                                               ("fhirServer", None), ("context", {})])
def test_no_empty_or_null_members(member: str, value: Any) -> None:
    """'JSON elements SHALL NOT be null ... SHALL NOT be empty' (CDS Hooks 2.0 §General)."""
    body = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/1", "patientId": "p"}, member: value}
    assert f"$.{member}" in [d.path for d in validation.problems(body, "hook-request")]
