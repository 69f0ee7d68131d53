"""Reading a JSON request body strictly: content type, size, encoding, duplicates, depth."""
from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from flask import Request

from ..errors import (InvalidJSONError, PayloadTooLargeError, UnsupportedMediaTypeError)

_JSON_TYPES = {"application/json", "application/fhir+json", "application/json+fhir"}
MAX_DEPTH = 64


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json(request: Request, max_bytes: int) -> Any:
    """The parsed JSON body of ``request``.

    Raises:
        UnsupportedMediaTypeError: the content type is not JSON (415).
        PayloadTooLargeError: the body is over ``max_bytes`` (413).
        InvalidJSONError: not UTF-8, not JSON, duplicate keys, NaN, or nested too deep (400).
    """
    mimetype = (request.mimetype or "").lower()
    if mimetype not in _JSON_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type must be application/json, not {request.content_type or 'missing'!r}")
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLargeError(f"body of {length} bytes is over the limit of {max_bytes}")
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes or (length is None and len(raw) == max_bytes and _more_input(request)):
        raise PayloadTooLargeError(f"body is over the limit of {max_bytes} bytes")
    return parse_json(raw)


def _more_input(request: Request) -> bool:
    """Whether a chunked body goes on past what was read.

    Without a Content-Length, Werkzeug stops reading at ``MAX_CONTENT_LENGTH`` and
    returns the body cut short without an error; one more byte from the server's
    input stream tells a body of exactly the limit from a longer one.
    """
    stream = request.environ.get("wsgi.input")
    return bool(stream is not None and stream.read(1))


def parse_json(raw: bytes) -> Any:
    """Strictly parse JSON bytes (see ``read_json``)."""
    if not raw:
        raise InvalidJSONError("the request body is empty; a JSON object is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSONError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if _depth_exceeds(text, MAX_DEPTH):
        raise InvalidJSONError(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except _DuplicateKeyError as exc:
        raise InvalidJSONError(f"invalid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidJSONError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidJSONError(f"invalid JSON: {exc}") from None


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled loop: 3x faster than an alternation
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _depth_exceeds(text: str, limit: int) -> bool:
    """Bracket depth outside strings, found with C-speed regexes before the parser recurses."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    steps = (1 if ch in "[{" else -1 for ch in brackets)
    return max(accumulate(steps), default=0) > limit
