"""JSON Schema validation of CDS Hooks messages, with validators compiled once from ``schemas/``.

Errors name the offending field as a JSON path so a client developer can fix the call.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from .. import resources
from ..errors import ErrorDetail, SchemaValidationError

#: Schema file stems in ``schemas/``.
SCHEMAS = ("discovery-response", "hook-request", "response", "feedback")


@cache
def validator(name: str) -> Draft202012Validator:
    """The compiled validator for ``schemas/<name>.schema.json``."""
    schema = resources.schema(name)
    Draft202012Validator.check_schema(schema)
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


def problems(instance: Any, name: str, limit: int = 20, definition: str | None = None) -> list[ErrorDetail]:
    """Every schema violation of ``instance`` against schema ``name`` (most specific first).

    Args:
        definition: check against ``$defs/<definition>`` of that schema instead of the whole.
    """
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
