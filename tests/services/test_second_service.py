"""A second CDS service, defined here with its own tiny data folder, registers beside leg
weakness and answers over HTTP without any change to ``cds_service/``.

The chest-pain content below is test data only (text patterns, no codes); it shows that a
service is one folder of data plus the shared pipeline, and that discovery, dispatch,
overrun and handouts all come from the service object.
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds_service import Settings, create_app
from cds_service.card_builder import CardOptions
from cds_service.card_builder.library import TEXT_KEYS
from cds_service.protocol.validation import problems
from cds_service.services import leg_weakness
from cds_service.services.engine import load_service

NICE = "https://www.nice.org.uk/guidance/cg95"
FILES: dict[str, Any] = {
    "service.yaml": {
        "description": "Test-only chest pain service.",
        "prefetch": {"patient": "Patient/{{context.patientId}}"},
        "services": [{"id": "chest-pain", "hook": "encounter-start", "title": "Chest pain (test)",
                      "prefetch": {"encounter": "Encounter/{{context.encounterId}}"},
                      "required_prefetch": ["patient", "encounter"]}],
    },
    "knowledge/sources.yaml": {"sources": {"CP1": {"title": "NICE CG95: Chest pain", "url": NICE}}},
    "knowledge/codes.yaml": {
        "anchor": "chest-pain", "systems": {},
        "concepts": {"chest-pain": {"label": "chest pain", "kind": "complaint", "sources": ["CP1"]},
                     "radiation-to-arm": {"label": "pain spreading to the arm", "kind": "complaint",
                                          "sources": ["CP1"]}},
    },
    "knowledge/text-rules.yaml": {"rules": {
        "chest-pain": {"sources": ["CP1"], "patterns": [r"\bchest\s+pain\b"]},
        "radiation-to-arm": {"sources": ["CP1"],
                             "patterns": [r"\b(?:radiating|spreading)\s+to\s+(?:the\s+)?(?:left\s+)?arm\b"]},
    }},
    "knowledge/red-flags.yaml": {"rules": [{
        "id": "acs", "topic": "red-flag-acs", "indicator": "critical", "label": "Possible acute coronary syndrome",
        "sources": ["CP1"], "when": [[["chest-pain"], ["radiation-to-arm"]]]}]},
    "knowledge/differential.yaml": {"groups": ["cardiac"], "entries": [
        {"id": "angina", "label": "Angina", "group": "cardiac", "base_rank": 10, "sources": ["CP1"],
         "supported_by": ["chest-pain"]}]},
    "knowledge/observations.yaml": {
        "systems": {}, "chief_complaint": {"sources": ["CP1"], "codes": []},
        "temperature": {"sources": ["CP1"], "fever_celsius": 38.0, "recent_days": 3, "codes": []},
        "labs": {"sources": ["CP1"], "codes": []}, "problem_list": {"recent_days": 30},
        "demographics": {"age_over": {"concept": "chest-pain", "years": 200},
                         "age_under": {"concept": "chest-pain", "years": 0}}},
    "cards/library.yaml": {
        "topic_system": "https://chest-pain.example.org/card-topic", "source_label": "Chest pain CDS (test)",
        "anchor_cards": ["differential"],
        "text": {key: key.replace("_", " ") + (" {n}" if key == "more" else "")
                 + (" {order} {priority}" if key.startswith("suggestion") else "")
                 for key in sorted(TEXT_KEYS)},
        "override_reasons": [{"system": "https://chest-pain.example.org/override", "code": "na",
                              "display": "Not applicable"}],
    },
    "cards/orders.yaml": {"orders": {"ecg": {"text": "12-lead ECG", "category": "procedure", "window_days": 1}}},
    "cards/red-flags.yaml": {"red_flags": {"red-flag-acs": {
        "display": "Red flag: acute coronary syndrome", "indicator": "critical", "danger": "acute coronary syndrome",
        "summary": "Possible acute coronary syndrome: 12-lead ECG now",
        "summary_possible": "Suspected acute coronary syndrome: 12-lead ECG now",
        "actions": ["Record a 12-lead ECG."], "time_target": "Now.", "sources": ["CP1"], "orders": ["ecg"],
        "priority": "stat"}}},
    "cards/differential.yaml": {"differential": {
        "topic": "chest-pain-differential", "display": "Chest pain differential", "indicator": "info",
        "summary": "Chest pain: causes to consider", "sources": ["CP1"], "groups": ["cardiac"],
        "default_order": ["angina"],
        "causes": {"angina": {"label": "Angina", "group": "cardiac", "features": "Exertional pain.",
                              "key_test": "ECG.", "sources": ["CP1"]}}}},
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chest-pain")
    for name, content in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def client(folder: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    services = [leg_weakness.create(CardOptions()), load_service(folder, CardOptions())]
    settings = Settings(require_auth=False, data_dir=str(tmp_path_factory.mktemp("data")))
    return create_app(settings, services=services).test_client()


def _request(reason: str, hook: str = "encounter-start") -> dict[str, Any]:
    return {"hook": hook, "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": "p1", "encounterId": "e1"},
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p1", "gender": "male",
                                     "birthDate": "1960-01-01"},
                         "encounter": {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
                                       "class": {"code": "EMER"}, "subject": {"reference": "Patient/p1"},
                                       "reasonCode": [{"text": reason}]}}}


def test_discovery_lists_both_services(client) -> None:  # type: ignore[no-untyped-def]
    ids = [s["id"] for s in client.get("/cds-services").get_json()["services"]]
    assert ids == ["leg-weakness", "leg-weakness-patient-view", "chest-pain"]


def test_the_second_service_answers_with_its_own_cards(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/cds-services/chest-pain", json=_request("central chest pain radiating to the left arm"))
    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    assert problems({"cards": cards}, "response") == []
    assert [c["source"]["topic"]["code"] for c in cards] == ["red-flag-acs", "chest-pain-differential"]
    acs = cards[0]
    assert acs["indicator"] == "critical" and acs["source"]["url"] == NICE
    assert [a["resource"]["code"]["text"] for s in acs["suggestions"] for a in s["actions"]] == ["12-lead ECG"]


def test_each_service_keeps_to_its_own_knowledge(client) -> None:  # type: ignore[no-untyped-def]
    legs = client.post("/cds-services/leg-weakness", json=_request("central chest pain radiating to the left arm"))
    assert legs.status_code == 200 and legs.get_json() == {"cards": []}
    chest = client.post("/cds-services/chest-pain", json=_request("weakness of both legs"))
    assert chest.status_code == 200 and chest.get_json() == {"cards": []}


def test_a_bad_data_folder_stops_start_up(folder: Path, tmp_path: Path) -> None:
    import shutil

    from cds_service.errors import ConfigurationError

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "cards" / "red-flags.yaml").write_text("red_flags: {}\n")  # the acs rule has no card now
    with pytest.raises(ConfigurationError, match="red-flag-acs"):
        load_service(broken, CardOptions())
