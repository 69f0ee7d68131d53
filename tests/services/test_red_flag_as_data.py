"""Adding a red flag is a data-only change: a rule in knowledge/, a card in cards/, and
vignettes in corpus/. This test makes that change in a copy of the leg-weakness folder
and checks that the new flag fires, gets its own card, and is scored by the corpus
runner, with no change to any Python module.

(The flag used, aortic dissection with leg weakness, is clinical-reference section 1 row 8;
it is added here as test data, not shipped.)
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds_service.card_builder import CardOptions
from cds_service.errors import ConfigurationError
from cds_service.resources import service_root
from cds_service.services.corpus import Vocabulary, load_corpus, score_corpus
from cds_service.services.engine import ClinicalRuleService, load_service

RULE = {"id": "aortic-dissection", "topic": "red-flag-aortic-dissection", "indicator": "critical",
        "label": "Possible aortic dissection with spinal cord ischaemia", "sources": ["S14"],
        "when": [[["aortic-dissection"]]], "supporting": ["absent-pulses"]}
CARD = {"display": "Red flag: aortic dissection", "indicator": "critical", "danger": "aortic dissection",
        "summary": "Possible aortic dissection: emergency CT angiography of the aorta",
        "summary_possible": "Suspected aortic dissection: check femoral pulses and arm pressures; CT angiography",
        "actions": ["Emergency CT angiography of the aorta; vascular or cardiothoracic surgery."],
        "time_target": "Immediately.", "sources": ["S14"], "orders": ["vascular-referral"],
        "priority": "stat"}


def _vignette(vid: str, reason: str, expect: dict[str, Any], forbid: dict[str, Any]) -> dict[str, Any]:
    entries = [
        {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1955-02-01"},
        {"resourceType": "Encounter", "id": "e1", "status": "in-progress", "class": {"code": "EMER"},
         "subject": {"reference": "Patient/p1"}, "period": {"start": "2026-11-24T09:00:00Z"},
         "reasonCode": [{"text": reason}]},
    ]
    return {"id": vid, "description": reason, "source": "clinical-reference section 1 row 8 (S14)",
            "kind": "red-flag", "encounter": "e1", "expect": expect, "forbid": forbid,
            "bundle": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in entries]}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("service") / "leg_weakness"
    shutil.copytree(str(service_root("leg_weakness")), root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    shutil.rmtree(root / "corpus")
    (root / "corpus").mkdir()
    rules = yaml.safe_load((root / "knowledge" / "red-flags.yaml").read_text())
    rules["rules"].append(RULE)
    (root / "knowledge" / "red-flags.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    cards = yaml.safe_load((root / "cards" / "red-flags.yaml").read_text())
    cards["red_flags"]["red-flag-aortic-dissection"] = CARD
    (root / "cards" / "red-flags.yaml").write_text(yaml.safe_dump(cards, sort_keys=False))
    vignettes = [
        _vignette("ad-positive", "Aortic dissection, sudden weakness of both legs",
                  {"red_flags": ["aortic-dissection"], "leg_weakness": True}, {}),
        _vignette("ad-negated", "No aortic dissection on CT; mild back ache",
                  {}, {"red_flags": ["aortic-dissection"]}),
    ]
    (root / "corpus" / "aortic-dissection.json").write_text(json.dumps(vignettes))
    return root


@pytest.fixture(scope="module")
def service(folder: Path) -> ClinicalRuleService:
    return load_service(folder, CardOptions())


def test_the_new_flag_is_scored_by_the_corpus_runner(service: ClinicalRuleService, folder: Path) -> None:
    vocabulary = Vocabulary.of(service)
    assert "aortic-dissection" in vocabulary.red_flags
    report = score_corpus(load_corpus(folder / "corpus", vocabulary), service)
    assert [o.failures for o in report.outcomes] == [(), ()]
    score = next(s for s in report.scores if s.topic == "red-flag-aortic-dissection")
    assert (score.tp, score.fn, score.fp, score.tn) == (1, 0, 0, 1)


def test_the_new_flag_gets_its_own_card_first(service: ClinicalRuleService, folder: Path) -> None:
    vignettes = load_corpus(folder / "corpus", Vocabulary.of(service))
    positive = next(v for v in vignettes if v.id == "ad-positive")
    from cds_service.services.corpus import run_vignette
    outcome = run_vignette(positive, service)
    assert "red-flag-aortic-dissection" in outcome.critical


def test_a_rule_without_its_card_stops_start_up(folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    cards = yaml.safe_load((copy / "cards" / "red-flags.yaml").read_text())
    del cards["red_flags"]["red-flag-aortic-dissection"]
    (copy / "cards" / "red-flags.yaml").write_text(yaml.safe_dump(cards))
    with pytest.raises(ConfigurationError, match="red-flag-aortic-dissection"):
        load_service(copy, CardOptions())
