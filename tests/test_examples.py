"""examples/ gives every card topic, as examples/README.md says, with verified codes only."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cds_service.client import request_from_bundle
from cds_service.services.bundle import answer_document
from cds_service.services.catalog import build_catalog
from cds_service.settings import Settings

from .conftest import DATA

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
INDEX = (EXAMPLES / "README.md").read_text(encoding="utf-8")
REFERENCE = (DATA / "reference" / "clinical-reference.md").read_text(encoding="utf-8")
SYSTEMS = {"http://snomed.info/sct": "SNOMED CT", "http://loinc.org": "LOINC",
           "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM"}


def _documented() -> dict[str, set[str]]:
    """file -> the topic codes the README's table promises."""
    rows: dict[str, set[str]] = {}
    for line in INDEX.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith(".json`"):
            rows[cells[0].strip("`")] = set(re.findall(r"`([a-z-]+)`", cells[2]))
    return rows


DOCUMENTED = _documented()


def _topics(path: Path, tmp_path: Path) -> set[str]:
    catalog = build_catalog(Settings(require_auth=False, data_dir=str(tmp_path)))
    response = answer_document(catalog.registry, catalog.fetcher, json.loads(path.read_text(encoding="utf-8")),
                               None, budget_ms=1500)
    return {card["source"]["topic"]["code"] for card in response["cards"]}


def test_the_index_lists_every_example_file() -> None:
    on_disk = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.json")}
    assert on_disk and set(DOCUMENTED) == on_disk


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_each_example_gives_the_topics_the_readme_says(name: str, tmp_path: Path) -> None:
    assert _topics(EXAMPLES / name, tmp_path) == DOCUMENTED[name]


def test_examples_cover_every_card_topic_and_a_patient_with_none() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    topics = set(re.findall(r"^\| `((?:red-flag|leg-weakness)-[a-z-]+)` \|", readme, flags=re.M))
    assert len(topics) == 9, topics  # 7 red flags, workup, differential
    covered = set().union(*DOCUMENTED.values())
    assert topics <= covered
    assert any(not t for t in DOCUMENTED.values()), "an example with no complaint gives no card"
    for topic in (t for t in topics if t.startswith("red-flag-")):  # one clear example per red flag
        assert any(t == {topic, "leg-weakness-workup", "leg-weakness-differential"} or t == {topic}
                   for t in DOCUMENTED.values()), topic


def _codings(node: Any) -> list[tuple[str, str, str]]:
    if isinstance(node, dict):
        found = [(node["system"], node["code"], node.get("display", ""))] if node.get("system") in SYSTEMS else []
        return found + [c for v in node.values() for c in _codings(v)]
    if isinstance(node, list):
        return [c for v in node for c in _codings(v)]
    return []


def _reference_status(code: str) -> list[str]:
    """Status column (St) of every section-5 table row that lists the code."""
    section = REFERENCE.split("## 5. Code lists", 1)[1].split("## 6.", 1)[0]
    statuses = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and re.search(rf"(?<![\w.-]){re.escape(code)}(?![\w-])", " ".join(cells[1:3])):
            statuses.append(cells[-2])
    return statuses


def test_every_code_in_the_examples_is_verified_and_listed() -> None:
    codings = {c for p in EXAMPLES.rglob("*.json") for c in _codings(json.loads(p.read_text(encoding="utf-8")))}
    assert len(codings) >= 8
    for system, code, display in sorted(codings):
        statuses = _reference_status(code)
        assert statuses and all(s.startswith("V") for s in statuses), (code, statuses)
        assert f"| {SYSTEMS[system]} | {code} | {display} |" in INDEX, f"{code} missing from examples/README.md"


@pytest.mark.parametrize(("request_file", "bundle_file"), [
    ("requests/encounter-start-spinal-infection.json", "spinal-infection.json"),
    ("requests/patient-view-stroke.json", "stroke.json")])
def test_hook_requests_carry_exactly_their_bundles_patient(request_file: str, bundle_file: str) -> None:
    """One source of truth: each request's prefetch holds the same resources as its Bundle."""
    request = json.loads((EXAMPLES / request_file).read_text(encoding="utf-8"))
    bundle = json.loads((EXAMPLES / bundle_file).read_text(encoding="utf-8"))
    service_id = "leg-weakness-patient-view" if request["hook"] == "patient-view" else "leg-weakness"
    definition, _ = build_catalog(Settings(require_auth=False)).registry.get(service_id)
    expected = request_from_bundle(bundle, definition.to_json())["prefetch"]

    def resources(prefetch: dict[str, Any]) -> list[str]:
        out = []
        for value in prefetch.values():
            entries = [e["resource"] for e in value.get("entry", [])] if value["resourceType"] == "Bundle" else [value]
            out += [json.dumps(r, sort_keys=True) for r in entries]
        return sorted(out)

    assert resources(request["prefetch"]) == resources(expected)
