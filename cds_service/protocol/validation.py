"""JSON Schema validation of CDS Hooks messages, with validators compiled once from ``schemas/``.

Two validators per schema, one job each. Every message is checked by a compiled draft
2020-12 validator (jsonschema-rs: the hook request and the response self-check cost
microseconds, not milliseconds). Only a message it rejects is explained, by the
reference implementation (python-jsonschema), so the errors a client sees (each field
as a JSON path, the message) are the ones they always were; and a message the reference
finds valid is valid, so the two can never disagree into a refusal. Formats are not
asserted by either (python-jsonschema checks ``date-time`` only with an optional
package; the feedback timestamp is checked in ``storage/feedback.py``).

Errors name the offending field as a JSON path so a client developer can fix the call.
"""
from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from .. import resources
from ..errors import ErrorDetail, SchemaValidationError

#: Schema file stems in ``schemas/``.
SCHEMAS = ("discovery-response", "hook-request", "response", "feedback")


@cache
def validator(name: str) -> Draft202012Validator:
    """The reference validator for ``schemas/<name>.schema.json`` (its compiled twin is built too,
    so start-up compiles, and checks, both)."""
    schema = resources.schema(name)
    Draft202012Validator.check_schema(schema)
    compiled(name)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def part_validator(name: str, definition: str) -> Draft202012Validator:
    """A validator for one ``$defs`` entry of schema ``name`` (e.g. a card, an action).

    The specification shows many of its examples as fragments (a ``source``, an
    ``action``); this checks them against the same definitions the full messages use.
    """
    schema = resources.schema(name)
    registry: Registry = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    return Draft202012Validator({"$ref": f"{schema['$id']}#/$defs/{definition}"}, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def compiled(name: str, definition: str | None = None) -> jsonschema_rs.Validator:
    """The compiled validator for schema ``name`` (or its ``$defs/<definition>``); offline:
    every ``$ref`` is inside the schema."""
    schema = resources.schema(name)
    if definition is None:
        return jsonschema_rs.Draft202012Validator(schema, validate_formats=False, offline=True)
    found = jsonschema_rs.validator_map_for(schema, validate_formats=False, offline=True).get(
        f"#/$defs/{definition}")
    if found is None:
        raise KeyError(f"schema {name!r} has no $defs/{definition}")
    return found


def is_valid(instance: Any, name: str, definition: str | None = None) -> bool:
    """Whether ``instance`` conforms (the compiled check; the reference explains a failure)."""
    return not problems(instance, name, 1, definition)


def problems(instance: Any, name: str, limit: int = 20, definition: str | None = None) -> list[ErrorDetail]:
    """Every schema violation of ``instance`` against schema ``name`` (most specific first).

    The compiled validator answers first; only when it rejects does the reference
    implementation list the violations (so both must reject for a problem to exist).

    Args:
        definition: check against ``$defs/<definition>`` of that schema instead of the whole.
    """
    if compiled(name, definition).is_valid(instance):
        return []
    checker = validator(name) if definition is None else part_validator(name, definition)
    errors = sorted(checker.iter_errors(instance), key=lambda e: (list(e.absolute_path), e.message))
    return [_detail(e) for e in _leaves(errors)][:limit]


def validate(instance: Any, name: str, what: str) -> None:
    """Raise SchemaValidationError (400) when ``instance`` violates schema ``name``.

    Args:
        what: a human label for the message, e.g. "hook request".
    """
    found = problems(instance, name)
    if found:
        first = found[0]
        raise SchemaValidationError(f"invalid {what}: {first.path}: {first.message}", details=found)


def _leaves(errors: list[ValidationError]) -> list[ValidationError]:
    """Replace anyOf/oneOf umbrella errors by their most relevant sub-error."""
    out: list[ValidationError] = []
    for error in errors:
        if error.context:
            best = max(error.context, key=lambda e: len(list(e.absolute_path)))
            out.append(best)
        else:
            out.append(error)
    return out


def _detail(error: ValidationError) -> ErrorDetail:
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message
    if error.validator == "not" and isinstance(error.schema, dict) and error.schema.get("description"):
        message = str(error.schema["description"])  # "should not be valid under {}" says nothing
    return ErrorDetail(path=path, message=message)
