"""The knowledge files: schema checks at load time, sources, and only verified codes."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cds_service.clinical.assertion import LANGUAGE_FILES
from cds_service.clinical.knowledge import Knowledge, load_knowledge, load_knowledge_from
from cds_service.errors import ConfigurationError
from cds_service.resources import language_root, service_root

#: Codes clinical-reference section 8 lists as UNVERIFIED: they must never be shipped.
UNVERIFIED = {"6077001", "1845001", "76107001", "18347007", "42345000", "228158008", "719232003"}


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge("leg_weakness")


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    shutil.copytree(str(service_root("leg_weakness") / "knowledge"), folder)
    for name in LANGUAGE_FILES:
        shutil.copy(str(language_root() / name), folder / name)
    return folder


def test_loaded_once(knowledge: Knowledge) -> None:
    assert load_knowledge("leg_weakness") is knowledge


def test_no_unverified_code_and_every_code_says_where_it_was_verified(knowledge: Knowledge) -> None:
    entries = [e for group in knowledge.codes.exact.values() for e in group]
    assert entries
    assert not {e.code for e in entries} & UNVERIFIED
    assert all(e.status in ("verified", "secondary") and e.verified_in and e.display for e in entries)


def test_every_rule_names_known_sources_with_urls(knowledge: Knowledge) -> None:
    for rule in knowledge.red_flags:
        assert rule.sources and all(knowledge.source_url(s).startswith("https://") for s in rule.sources)
        assert rule.topic == f"red-flag-{rule.id}"
    assert {r.id for r in knowledge.red_flags} == {"cauda-equina", "stroke", "cord-compression",
                                                     "spinal-infection", "fracture", "guillain-barre",
                                                     "limb-ischemia"}
    assert {d.id for d in knowledge.differential} >= {"disc-herniation", "spinal-stenosis", "sciatica",
                                                       "peripheral-neuropathy", "peripheral-artery-disease",
                                                       "multiple-sclerosis", "stroke"}


def test_icd_family_prefix_matches_descendants_only(knowledge: Knowledge) -> None:
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    assert {e.concept for e in knowledge.codes.lookup(icd, "E11.65")} == {"diabetes"}
    assert knowledge.codes.lookup(icd, "E110") == ()


def test_a_changed_code_list_needs_no_code_change(copy: Path) -> None:
    codes = yaml.safe_load((copy / "codes.yaml").read_text())
    codes["concepts"]["leg-weakness"]["codes"] = [
        {"system": "icd10cm", "code": "R26.2", "display": "Difficulty in walking", "status": "verified",
         "verified_in": "ICD-10-CM 2026"}]
    (copy / "codes.yaml").write_text(yaml.safe_dump(codes))
    loaded = load_knowledge_from(copy)
    assert [e.concept for e in loaded.codes.lookup("http://hl7.org/fhir/sid/icd-10-cm", "R26.2")] == ["leg-weakness"]
    assert loaded.codes.lookup("http://snomed.info/sct", "102568007") == ()


@pytest.mark.parametrize("name,breaker", [
    ("codes.yaml", lambda d: d["concepts"]["leg-weakness"]["codes"][0].update(status="unverified")),
    ("codes.yaml", lambda d: d["concepts"]["leg-weakness"]["codes"][0].update(system="cpt")),
    ("red-flags.yaml", lambda d: d["rules"][0]["when"][0][0].append("no-such-concept")),
    ("red-flags.yaml", lambda d: d["rules"][0].update(sources=["S999"])),
    ("text-rules.yaml", lambda d: d["rules"]["leg-weakness"]["patterns"].append("(unclosed")),
    ("context-rules.yaml", lambda d: d["rules"][0].update(category="NEGATED")),
    ("differential.yaml", lambda d: d["entries"][0].update(group="both")),
    ("sources.yaml", lambda d: d["sources"]["S1"].update(url="ftp://x")),
])
def test_bad_data_stops_startup(copy: Path, name: str, breaker) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((copy / name).read_text())
    breaker(data)
    (copy / name).write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigurationError):
        load_knowledge_from(copy, language=copy)


def test_unparseable_yaml_stops_startup(copy: Path) -> None:
    (copy / "red-flags.yaml").write_text("rules: [unclosed\n")
    with pytest.raises(ConfigurationError):
        load_knowledge_from(copy)


def test_a_bare_yaml_no_is_refused(copy: Path) -> None:
    data = yaml.safe_load((copy / "context-rules.yaml").read_text())
    data["rules"][0]["literals"].append(False)  # what an unquoted `no` becomes
    (copy / "context-rules.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigurationError):
        load_knowledge_from(copy, language=copy)
