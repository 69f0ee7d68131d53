"""The light models (``fhir/models.py``) against fhir.resources R4B, on the same inputs.

For every resource of a read type in the Synthea bundles, the corpus and the HL7 examples:
where R4B accepts it, the light model accepts it and every element it declares holds the
same value, of the same type, as the R4B model's. Then invalid variants: each declared
element of sample resources is replaced by values of the wrong shape; where R4B rejects a
variant the light model rejects it at the same location, and where R4B accepts it the
light model gives the same values. Elements the light models do not declare are not read,
so they are not compared.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from cds_service.fhir import models
from cds_service.fhir.record import MODELS, iter_resources

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "synthea": ROOT / "tests" / "data" / "fhir" / "synthea" / "generated-sample-data-r4",
    "hl7": ROOT / "tests" / "data" / "fhir" / "hl7-examples",
    "corpus": ROOT / "cds_service" / "services" / "leg_weakness" / "corpus",
}
#: Values of the wrong shape or content for any element: an object, a list, empty, a number, junk.
BAD_VALUES: tuple[Any, ...] = ({"x": 1}, ["x"], "", 12.5, " padded ", "2020-02-30T10:00:00Z", None, [None])


def _documents(folder: Path) -> Iterator[Any]:
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, list):  # corpus files: lists of vignettes
            yield from (v.get("bundle") for v in data if isinstance(v, dict))
        else:
            yield data.get("bundle", data) if isinstance(data, dict) else data


def _resources() -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for folder in SOURCES.values():
        for document in _documents(folder):
            for _, resource in iter_resources(document):
                rtype = resource.get("resourceType")
                if rtype in MODELS:
                    found.setdefault(str(rtype), []).append(resource)
    return found


RESOURCES = _resources()


def _r4b(rtype: str) -> type[BaseModel]:
    return MODELS[rtype].r4b


def _same(light: Any, r4b: Any, where: str) -> list[str]:
    """Where the light value differs from the R4B value, for every declared element."""
    if isinstance(light, BaseModel):
        if r4b is None:
            return [f"{where}: light has a value, R4B None"]
        out = []
        for name in type(light).model_fields:
            out += _same(getattr(light, name), getattr(r4b, name), f"{where}.{name}")
        return out
    if isinstance(light, list):
        if not isinstance(r4b, list) or len(light) != len(r4b):
            return [f"{where}: {light!r} != {r4b!r}"]
        return [d for i, (a, b) in enumerate(zip(light, r4b, strict=False)) for d in _same(a, b, f"{where}[{i}]")]
    if type(light) is not type(r4b) or light != r4b or getattr(light, "tzinfo", None) != getattr(r4b, "tzinfo", None):
        return [f"{where}: {light!r} ({type(light).__name__}) != {r4b!r} ({type(r4b).__name__})"]
    return []


def _locations(exc: ValidationError) -> set[tuple[Any, ...]]:
    """Error locations; R4B's wrapper validators add a trailing ``root`` that names no element."""
    return {tuple(e["loc"])[:-1] if e["loc"] and e["loc"][-1] == "root" else tuple(e["loc"]) for e in exc.errors()}


def test_every_source_has_every_read_type() -> None:
    assert set(RESOURCES) == set(MODELS)
    assert sum(len(v) for v in RESOURCES.values()) > 5000


@pytest.mark.parametrize("rtype", sorted(MODELS))
def test_same_values_as_r4b(rtype: str) -> None:
    compared = 0
    problems: list[str] = []
    for raw in RESOURCES[rtype]:
        try:
            reference = _r4b(rtype).model_validate(raw)
        except ValidationError:
            continue  # invalid in R4B: the variant tests below cover what the light model says
        light = MODELS[rtype].model_validate(raw)
        problems += _same(light, reference, f"{rtype}/{raw.get('id')}")
        compared += 1
    assert problems == []
    assert compared >= 5


def _declared_paths(model: type[BaseModel], raw: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths of the declared elements present in ``raw`` (first item of each list)."""
    if not isinstance(raw, dict):
        return
    for name, info in model.model_fields.items():
        if name not in raw:
            continue
        here = path + (name,)
        yield here
        inner = models._optional_inner(info.annotation)
        value = raw[name]
        if getattr(inner, "__origin__", None) is list:
            inner = inner.__args__[0]
            if isinstance(value, list) and value:
                yield here + (0,)
                value, here = value[0], here + (0,)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            yield from _declared_paths(inner, value, here)


def _replaced(raw: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(raw))
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


def test_unread_elements_are_accepted_not_exposed() -> None:
    """An element nothing reads is neither validated nor readable; a misspelt one is refused, as in R4B."""
    condition = MODELS["Condition"].model_validate({"resourceType": "Condition", "id": "c1",
                                                    "subject": {"reference": 5}, "note": "not even a list"})
    assert not hasattr(condition, "subject") and not hasattr(condition, "note")
    with pytest.raises(ValidationError) as caught:
        MODELS["Condition"].model_validate({"resourceType": "Condition", "onsetDatetime": "2020"})
    assert [e["loc"] for e in caught.value.errors()] == [("onsetDatetime",)]


def _samples(rtype: str, per_source: int = 4) -> list[dict[str, Any]]:
    """A few R4B-valid resources of the type, the richest (most declared elements) first."""
    valid = []
    for raw in RESOURCES[rtype]:
        try:
            _r4b(rtype).model_validate(raw)
        except ValidationError:
            continue
        valid.append(raw)
    valid.sort(key=lambda r: -len(list(_declared_paths(MODELS[rtype], r))))
    return valid[:per_source * 3]


@pytest.mark.parametrize("rtype", sorted(MODELS))
def test_invalid_variants_fail_at_the_same_element(rtype: str) -> None:
    checked = 0
    problems: list[str] = []
    for raw in _samples(rtype):
        for path in _declared_paths(MODELS[rtype], raw):
            for bad in BAD_VALUES:
                variant = _replaced(raw, path, bad)
                try:
                    reference = _r4b(rtype).model_validate(variant)
                except ValidationError as expected:
                    try:
                        MODELS[rtype].model_validate(variant)
                    except ValidationError as got:
                        if not _locations(got) <= _locations(expected):
                            problems.append(f"{rtype} {path}={bad!r}: light {sorted(_locations(got))}, "
                                            f"R4B {sorted(_locations(expected))}")
                    else:
                        problems.append(f"{rtype} {path}={bad!r}: R4B rejects, light accepts")
                else:
                    light = MODELS[rtype].model_validate(variant)
                    problems += _same(light, reference, f"{rtype} {path}={bad!r}")
                checked += 1
    assert problems == []
    assert checked >= 20


def test_light_models_read_what_r4b_calls_them() -> None:
    """Every declared element exists, under the same name, on the R4B class."""
    for rtype, light in MODELS.items():
        missing = [n for n in light.model_fields if n not in light.r4b.model_fields]
        assert missing == [], rtype
        assert light.get_resource_type() == light.r4b.get_resource_type() == rtype
