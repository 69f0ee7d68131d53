"""The compiled schema validators (jsonschema-rs) agree with the reference (python-jsonschema).

``protocol/validation.py`` lets the compiled validator accept, and asks the reference to
explain a rejection; a message the reference accepts is accepted. So a disagreement can
only cost time, never change an answer, but it must not hide a violation: this checks,
on real requests and responses and on variants with each field broken in several ways,
that the compiled validator rejects everything the reference rejects.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from bench.cases import corpus_cases, synthea_cases
from cds_service.errors import SchemaValidationError
from cds_service.protocol import validation
from tests.perf.answers import read_fixture

BROKEN: tuple[Any, ...] = (None, 5, -1.5, "", "x\n", "not a uuid", [], {}, [None], {"x": 1}, True)
_SKIP = {"prefetch"}  # resource contents: the schema checks only their resourceType


def _paths(value: Any, path: tuple[Any, ...] = (), depth: int = 5) -> Iterator[tuple[Any, ...]]:
    if depth == 0:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            yield path + (key,)
            if key not in _SKIP:
                yield from _paths(inner, path + (key,), depth - 1)
    elif isinstance(value, list) and value:
        yield path + (0,)
        yield from _paths(value[0], path + (0,), depth - 1)


def _variants(document: Any) -> Iterator[Any]:
    for path in _paths(document):
        for broken in BROKEN + ("<delete>",):
            variant = copy.deepcopy(document)
            target = variant
            for part in path[:-1]:
                target = target[part]
            if broken == "<delete>":
                del target[path[-1]]
            else:
                target[path[-1]] = broken
            yield variant


def _reference_valid(document: Any, name: str) -> bool:
    return not any(True for _ in validation.validator(name).iter_errors(document))


def _requests() -> list[dict[str, Any]]:
    templates = {"leg-weakness": {"patient": "Patient/{{context.patientId}}",
                                  "encounter": "Encounter/{{context.encounterId}}"}}
    cases = list(synthea_cases(templates, limit=2)) + list(corpus_cases(templates))[:2]
    return [c.body for c in cases]


def _responses() -> list[dict[str, Any]]:
    answers = [v["body"] for v in read_fixture().values() if v["status"] == 200 and v["body"]["cards"]]
    by_count = {len(a["cards"]): a for a in answers}  # one response per number of cards
    return list(by_count.values())


@pytest.mark.parametrize(("name", "documents"), [("hook-request", _requests()), ("response", _responses())])
def test_compiled_rejects_what_the_reference_rejects(name: str, documents: list[dict[str, Any]]) -> None:
    checked = rejected = 0
    missed: list[str] = []
    for document in documents:
        assert validation.compiled(name).is_valid(document) and _reference_valid(document, name)
        for variant in _variants(document):
            reference = _reference_valid(variant, name)
            if not reference and validation.compiled(name).is_valid(variant):
                missed.append(repr(variant)[:200])
            checked += 1
            rejected += not reference
    assert missed == []
    assert rejected > 100 and checked > 500


def test_every_response_in_the_baseline_passes_both() -> None:
    for answer in read_fixture().values():
        if answer["status"] == 200:
            assert validation.compiled("response").is_valid(answer["body"])
            assert _reference_valid(answer["body"], "response")


def test_a_rejection_is_explained_as_before() -> None:
    """The 400 a client sees names the field with the reference's message."""
    request = _requests()[0]
    del request["context"]["patientId"]
    with pytest.raises(SchemaValidationError) as caught:
        validation.validate(request, "hook-request", "hook request")
    assert [d.path for d in caught.value.details] == ["$.context"]
    assert "'patientId' is a required property" in caught.value.details[0].message
