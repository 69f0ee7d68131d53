"""The fast path gives the answers the fhir.resources path gave: same cards, same 400s.

The fixture (``cards-baseline.json.xz``, see ``answers.py``) holds what the service answered
on the commit before the hot-path rework, for every corpus vignette and Synthea bundle
(as is and with a complaint written in; as a hook call and as ``/evaluate``), and for
invalid variants of fields the logic reads. A difference here is a behaviour change.
"""
from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.perf.answers import Answerer, all_answers, read_fixture


@pytest.fixture(scope="module")
def answerer() -> Iterator[Answerer]:
    found = Answerer()
    yield found
    found.close()


@pytest.fixture(scope="module")
def answers(answerer: Answerer) -> dict[str, Any]:
    return all_answers(answerer)


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    return read_fixture()


def _diff(old: Any, new: Any) -> str:
    a = json.dumps(old, indent=1, sort_keys=True).splitlines()
    b = json.dumps(new, indent=1, sort_keys=True).splitlines()
    return "\n".join(list(difflib.unified_diff(a, b, "baseline", "now", lineterm="", n=2))[:80])


def test_every_case_is_answered(answers: dict[str, Any], baseline: dict[str, Any]) -> None:
    assert set(answers) == set(baseline)
    assert len([k for k in answers if k.startswith("hook vignette:")]) >= 200
    assert len([k for k in answers if k.endswith("+complaint")]) >= 2 * 35


def test_the_fixture_exercises_the_card_path(baseline: dict[str, Any]) -> None:
    """Guard against a fixture that proves nothing: cards, orders already done, 400s of each type."""
    cards = [c for v in baseline.values() if v["status"] == 200 for c in v["body"]["cards"]]
    topics = {c["source"]["topic"]["code"] for c in cards}
    assert {"leg-weakness-workup", "leg-weakness-differential"} <= topics
    assert len({t for t in topics if t.startswith("red-flag-")}) == 7
    assert any("already" in c["detail"].lower() for c in cards)  # orders matched from Synthea reports
    failed = {v["body"]["resource"].split("/")[0] for v in baseline.values() if v["status"] == 400}
    assert failed == {"Patient", "Encounter", "Condition", "Observation", "MedicationRequest",
                      "ServiceRequest", "DiagnosticReport", "ImagingStudy", "Procedure"}


def test_same_cards(answers: dict[str, Any], baseline: dict[str, Any]) -> None:
    changed = [k for k in baseline if not k.startswith("hook invalid:") and answers.get(k) != baseline[k]]
    assert not changed, f"{len(changed)} answers changed, first {changed[0]}:\n" + _diff(
        baseline[changed[0]], answers.get(changed[0]))


def _key_resource_field(answer: dict[str, Any]) -> tuple[Any, ...]:
    body = answer["body"]
    return (answer["status"], body.get("error"), body.get("prefetchKey"), body.get("resource"),
            tuple(d["path"] for d in body.get("details") or ()))


#: Variants that no longer get a 400, and why: the resource is never read, so it is never validated.
NOT_READ = {
    "hook invalid:diagnostic-report-code-missing":
        "a DiagnosticReport without a code can match no orderable test: the code prefilter drops it unread",
}


def test_same_400s(answers: dict[str, Any], baseline: dict[str, Any]) -> None:
    """Each invalid variant: the same status, error, key, resource and field paths as before."""
    invalid = [k for k in baseline if k.startswith("hook invalid:") and k not in NOT_READ]
    assert len(invalid) >= 25
    changed = {k: (_key_resource_field(baseline[k]), _key_resource_field(answers[k])) for k in invalid
               if _key_resource_field(baseline[k]) != _key_resource_field(answers[k])}
    assert changed == {}
    assert all(d["message"] for k in invalid for d in answers[k]["body"].get("details") or ())


def test_unread_invalid_resources_change_nothing(answers: dict[str, Any]) -> None:
    """A resource dropped unread answers as if it were absent: the cards of the valid request."""
    valid = next(k for k in answers if k.startswith("hook ") and k.endswith("+complaint"))
    for key in NOT_READ:
        assert answers[key]["status"] == 200, key
        assert answers[key]["body"] == answers[valid]["body"], key
