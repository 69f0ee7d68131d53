"""Reading a JSON request body strictly: content type, size, encoding, duplicates, depth.

Every check is linear in the size of the body, so no body can stall a worker:

- orjson parses (in C, faster than ``json.loads``); it refuses invalid UTF-8,
  ``NaN``/``Infinity``, numbers that overflow to infinity, lone surrogates, and nesting
  deeper than 1024;
- before any object is built, a body with more than ``MAX_CONTAINERS`` ``[``/``{`` bytes is
  refused: millions of tiny arrays (``[[],[],...]``) cost the allocator and the garbage
  collector far more than their bytes suggest (a real 5 MB FHIR body holds ~40-75k);
- orjson re-encodes what it parsed (``dumps``: compact, canonical, quotes inside strings only
  as ``\\"``), and both checks below read that and the body with C-level byte operations;
- depth over ``MAX_DEPTH``: in the re-encoded text, escaped backslashes and quotes are
  dropped, every byte but ``"[]{}`` is deleted and ``""`` pairs are removed (an empty
  string, or the end of one string and the start of the next: either way no structural
  bracket lies between them), which leaves the brackets outside strings (the rare string
  that holds brackets is cut out by a split); then up to ``MAX_DEPTH`` rounds each remove
  the innermost ``[]`` pairs: anything left after that is nested deeper;
- duplicate keys are found by counting: in valid JSON every ``:`` outside a string separates
  a key from its value, and orjson re-encodes strings without escaping ``:``, so the body
  and ``orjson.dumps`` of what was parsed hold the same number of colons, once the colons
  the body wrote as ``\\u003a`` escapes are added, exactly when no key was dropped.

``bench/bench_body.py`` measures this against ``json.loads`` on Synthea bodies.
"""
from __future__ import annotations

import json
import time
from typing import Any

import orjson
from flask import Flask, Request, Response, request as current_request

from ..errors import InvalidJSONError, PayloadTooLargeError, UnsupportedMediaTypeError

_JSON_TYPES = {"application/json", "application/fhir+json", "application/json+fhir"}
MAX_DEPTH = 64
MAX_CONTAINERS = 200_000  # '[' and '{' bytes in one body (counted inside strings too)
_NAME_DUPLICATES_UP_TO = 256 * 1024  # bodies this small get the repeated key named in the error
_BOM = b"\xef\xbb\xbf"
_DEPTH_MESSAGE = f"JSON nested deeper than {MAX_DEPTH} levels"


class _DuplicateKeyError(ValueError):
    pass


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
    """Strictly parse JSON bytes (see ``read_json``), in time linear in ``len(raw)``."""
    if not raw:
        raise InvalidJSONError("the request body is empty; a JSON object is required")
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    raw_marks = raw.translate(None, _NOT_OPENERS_OR_COLONS)  # one pass; the counts run on what is left
    if len(raw_marks) - raw_marks.count(b":") > MAX_CONTAINERS:
        raise InvalidJSONError(f"more than {MAX_CONTAINERS} JSON objects and arrays in one body")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _parse_error(raw, exc) from None
    brackets, colons = _structure(orjson.dumps(value))
    if _nested_deeper(brackets, MAX_DEPTH):
        raise InvalidJSONError(_DEPTH_MESSAGE)
    _check_duplicates(raw, raw_marks.count(b":"), colons)
    return value


def _structure(canonical: bytes) -> tuple[bytes, int]:
    """orjson's re-encoding reduced to its brackets outside strings (``{}`` as ``[]``), and the
    number of colons it holds (module doc)."""
    if b"\\" in canonical:  # escaped backslashes, then escaped quotes: what is left of '"' delimits
        canonical = canonical.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = canonical.translate(_CURLY_AS_SQUARE, _NOT_MARKS)
    brackets = marks.translate(None, b":").replace(b'""', b"")
    if b'"' in brackets:  # strings that hold brackets: keep what lies outside them
        brackets = b"".join(brackets.split(b'"')[::2])
    return brackets, marks.count(b":")


def _nested_deeper(brackets: bytes, limit: int) -> bool:
    """Whether balanced ``[]`` nest deeper than ``limit``: each round drops the innermost pairs."""
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


_NOT_MARKS = bytes(range(256)).translate(None, b'"[]{}:')
_NOT_OPENERS_OR_COLONS = bytes(range(256)).translate(None, b"[{:")
_CURLY_AS_SQUARE = bytes.maketrans(b"{}", b"[]")


def _parse_error(raw: bytes, exc: json.JSONDecodeError) -> InvalidJSONError:
    """The same messages as always: UTF-8 position, depth, or line and column."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return InvalidJSONError(f"the body is not valid UTF-8 (byte {bad.start})")
    if "depth" in exc.msg or "recursion" in exc.msg.lower():
        return InvalidJSONError(_DEPTH_MESSAGE)
    return InvalidJSONError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")


def _check_duplicates(raw: bytes, raw_colons: int, canonical_colons: int) -> None:
    """Raise InvalidJSONError when an object repeats a key (orjson keeps the last silently).

    ``raw`` is valid JSON (orjson accepted it). ``raw_colons`` = pairs in the body + literal
    colons in its strings; ``canonical_colons`` (orjson's re-encoding, which never escapes a
    colon) = pairs kept + every colon of the decoded strings (the body's literal ones + those it
    wrote as ``\\u003a``). So pairs dropped = the difference + the escaped colons.
    """
    dropped = raw_colons - canonical_colons + _escaped_colons(raw)
    if dropped == 0:
        return
    if len(raw) <= _NAME_DUPLICATES_UP_TO:
        try:
            json.loads(raw, object_pairs_hook=_no_duplicates)
        except _DuplicateKeyError as exc:
            raise InvalidJSONError(f"invalid JSON: {exc}") from None
    raise InvalidJSONError("invalid JSON: duplicate key (an object repeats a key)")


def _escaped_colons(raw: bytes) -> int:
    """How many ``\\u003a`` escapes (colons written as escapes) the strings of valid JSON hold.

    Escaped backslashes go first (``\\\\u003a`` is a backslash and the text ``u003a``): pairs
    of backslashes are read left to right, as the JSON grammar reads them.
    """
    if b"\\u003" not in raw:
        return 0
    plain = raw.replace(b"\\\\", b"__")
    return plain.count(b"\\u003a") + plain.count(b"\\u003A")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(f"duplicate key {key!r}")
            seen.add(key)
    return out


#: On an early refusal (401, 413, ...), at most this many bytes, for at most this long, of the
#: rest of the body are read and thrown away before answering, so a client that writes the whole
#: body before reading (Python urllib, many Java clients) reads our status instead of a reset.
DRAIN_SECONDS = 2.0


def install(app: Flask, max_body_bytes: int) -> None:
    """Drain the unread body of error answers (bounded), or close the connection."""
    limit = 2 * max_body_bytes + 65536

    @app.after_request
    def _drain(response: Response) -> Response:
        if response.status_code >= 400 and not drain_unread_body(current_request, limit, DRAIN_SECONDS):
            response.headers["Connection"] = "close"
        return response


def drain_unread_body(request: Request, limit: int, seconds: float) -> bool:
    """Read and discard what is left of the request body; False when it goes past the bounds.

    Only a body the client declared (Content-Length or chunked) is read; the server's input
    stream ends at the end of that body. Under gunicorn the socket gets a timeout for the
    time left, so a client that stops sending cannot hold the thread longer than ``seconds``.
    """
    environ = request.environ
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if not chunked and not request.content_length:
        return True
    declared = request.content_length
    if declared is not None and declared > limit:
        return False
    stream = environ.get("wsgi.input")
    if stream is None:
        return True
    sock = environ.get("gunicorn.socket")
    previous = sock.gettimeout() if sock is not None else None
    deadline = time.monotonic() + seconds
    read = 0
    try:
        while read <= limit:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if sock is not None:
                sock.settimeout(left)
            chunk = stream.read(65536)
            if not chunk:
                return True
            read += len(chunk)
        return False
    except (OSError, ValueError):
        return False
    finally:
        if sock is not None:
            try:
                sock.settimeout(previous)
            except OSError:
                pass
