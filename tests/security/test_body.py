"""The body parser: linear time on hostile input, strict on duplicates, depth, NaN and UTF-8.

Property tests (hypothesis) compare ``parse_json`` with a slow, obviously correct reference
(the standard library parser with a duplicate-key hook and a recursive depth count) on
generated JSON texts: random values, random key collisions, random formatting and random
escaping (``\\u003a`` colons, escaped quotes and backslashes). The behavioural bound is
checked over HTTP against the real gunicorn server: 5 MB adversarial bodies are each answered
(400/413, JSON) within 1 s, and two concurrent ReDoS-shaped posts never stop ``/healthz``
from answering. The bounded atheris fuzz run is ``tests/security/fuzz_body.py``.
"""
from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cds_service.errors import InvalidJSONError
from cds_service.http.body import MAX_DEPTH, parse_json
from tests.conftest import LiveServer

# ------------------------------------------------------------------ the reference


class _Dup(Exception):
    pass


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Dup()
    return dict(pairs)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def reference(raw: bytes) -> Any:
    """What the parser must decide: the value, or 'refused' (any reason)."""
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_pairs_hook,
                           parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    except (_Dup, ValueError, RecursionError):
        return "refused"
    if _depth(value) > MAX_DEPTH:
        return "refused"
    return value


def ours(raw: bytes) -> Any:
    try:
        return parse_json(raw)
    except InvalidJSONError:
        return "refused"


# ------------------------------------------------------------------ generated JSON texts

KEYS = st.sampled_from(["a", "b", "hook", "a:b", ":", 'q"uote', "back\\slash", "ünï", "\u2028", "k"])
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
           | st.floats(allow_nan=False, allow_infinity=False, width=64)
           | st.text(alphabet=st.sampled_from('ab:"\\/{}[],\n\tü€\U0001f600'), max_size=12))


@st.composite
def documents(draw: st.DrawFn, depth: int = 0) -> Any:
    """A JSON value as a tree whose objects are LISTS of pairs (so keys may repeat)."""
    if depth > 5 or draw(st.integers(0, 3)) == 0:
        return draw(SCALARS)
    if draw(st.booleans()):
        return [draw(documents(depth + 1)) for _ in range(draw(st.integers(0, 4)))]
    return ("obj", [(draw(KEYS), draw(documents(depth + 1))) for _ in range(draw(st.integers(0, 4)))])


def _string(text: str, escape: bool, ascii_only: bool) -> str:
    encoded = json.dumps(text, ensure_ascii=ascii_only)
    if escape:  # escape 'k' and colons as \\uXXXX (legal JSON; 'k' is neither an escape letter nor hex)
        encoded = encoded.replace("k", "\\u006b").replace(":", "\\u003a")
    return encoded


def render(node: Any, style: dict[str, Any]) -> str:
    space = style["space"]
    if isinstance(node, tuple):
        items = [f"{_string(k, style['escape'], style['ascii'])}{space}:{space}{render(v, style)}"
                 for k, v in node[1]]
        return "{" + f",{space}".join(items) + "}"
    if isinstance(node, list):
        return "[" + f",{space}".join(render(v, style) for v in node) + "]"
    if isinstance(node, str):
        return _string(node, style["escape"], style["ascii"])
    return json.dumps(node)


STYLES = st.fixed_dictionaries({"space": st.sampled_from(["", " ", "\n  "]), "escape": st.booleans(),
                                "ascii": st.booleans()})


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents(), style=STYLES)
def test_parser_agrees_with_the_reference(document: Any, style: dict[str, Any]) -> None:
    raw = render(document, style).encode("utf-8")
    expected, got = reference(raw), ours(raw)
    assert _same(got, expected), (raw[:300], expected, got)


@settings(max_examples=150, deadline=None, database=None)
@given(document=documents(), style=STYLES, data=st.data())
def test_a_repeated_key_anywhere_is_refused(document: Any, style: dict[str, Any], data: st.DataObject) -> None:
    key = data.draw(KEYS)
    # wrap the document in an object that repeats one key, at a random depth
    repeated: Any = ("obj", [(key, document), ("other", 1), (key, data.draw(SCALARS))])
    for _ in range(data.draw(st.integers(0, 10))):
        repeated = [repeated] if data.draw(st.booleans()) else ("obj", [("x", repeated)])
    raw = render(repeated, style).encode("utf-8")
    with pytest.raises(InvalidJSONError, match="duplicate key"):
        parse_json(raw)


@settings(max_examples=120, deadline=None, database=None)
@given(levels=st.lists(st.booleans(), min_size=1, max_size=150), filler=st.sampled_from(["", "1", '"]]]"']))
def test_depth_over_the_limit_is_refused_exactly(levels: list[bool], filler: str) -> None:
    """Arrays and objects nested to a random depth, with brackets inside strings as decoys."""
    raw = ""
    for is_object in levels:
        raw = raw + ('{"k":' if is_object else "[")
    raw += filler
    for is_object in reversed(levels):
        raw += "}" if is_object else "]"
    if not filler and levels[-1]:  # '{"k":}' is not JSON; put a value in the innermost object
        raw = raw.replace('{"k":}', '{"k":0}')
    body = raw.encode()
    if len(levels) > MAX_DEPTH:
        with pytest.raises(InvalidJSONError, match="nested deeper"):
            parse_json(body)
    else:
        assert _depth(parse_json(body)) == len(levels)


@pytest.mark.parametrize("raw, message", [
    (b'{"x": NaN}', "invalid JSON"), (b'[Infinity]', "invalid JSON"), (b"[1e400]", "infinity"),
    (b"\xff\xfe", "not valid UTF-8 (byte 0)"), (b"", "empty"), (b'{"a":1,"a":2}', "duplicate key 'a'"),
    (b'{"a\\u003a":1,"a:":2}', "duplicate key 'a:'"), (b"[" * 65 + b"]" * 65, "nested deeper than 64"),
    (b"[" * 100_000, "nested deeper than 64"), (b'"\\ud800"', "invalid JSON"),
])
def test_refusals_keep_their_messages(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidJSONError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_json(raw)


def test_a_bom_is_accepted_and_big_integers_are_read_as_numbers() -> None:
    assert parse_json(b'\xef\xbb\xbf{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    assert parse_json(b"[9223372036854775807]") == [2**63 - 1]
    assert parse_json(b"[123456789012345678901234567890]")[0] == pytest.approx(1.2345678901234568e29)


# ------------------------------------------------------------------ hostile bodies, over HTTP

MB5 = 5 * 1024 * 1024 - 64


def _hostile() -> list[tuple[str, bytes]]:
    """5 MB bodies shaped against every pass: regex backtracking, recursion, the duplicate count."""
    n = MB5
    return [
        ("unterminated string of escaped quotes (the ReDoS)", b'"' + b'\\"' * (n // 2)),
        ("quote then backslashes", b'"' + b"\\" * n),
        ("open arrays", b"[" * n),
        ("open objects", b'{"a":' * (n // 5)),
        ("64 deep, repeated", b"[" + (b"[" * 63 + b"]" * 63 + b",") * (n // 128) + b"0]"),
        ("escaped colons and backslashes, then a duplicate", b'{"a\\u003a":[' + b'"\\u003a\\\\u003a:",' * (n // 19)
         + b'0],"a:":1}'),
        ("one duplicate after 180k small objects", b"[" + b'{"a":"xxxxxxx","b":2,"c":3},' * (n // 29)
         + b'{"a":1,"a":2}]'),
        ("a million tiny arrays", b"[" + b"[]," * (n // 3 - 1) + b"0]"),
        ("many strings of brackets", b"[" + b'"[[[[{{{{",' * (n // 12) + b"0]"),
    ]


HOSTILE = _hostile()


@pytest.mark.parametrize("body", [b for _, b in HOSTILE], ids=[n for n, _ in HOSTILE])
@pytest.mark.parametrize("path", ["/evaluate", "/cds-services/leg-weakness"])
def test_5mb_adversarial_body_is_answered_within_1s(live_server: LiveServer, body: bytes, path: str) -> None:
    assert len(body) <= 5 * 1024 * 1024
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        http.get("/healthz")  # connection made: the timing is the server's work on the body
        started = time.monotonic()
        response = http.post(path, content=body, headers={"Content-Type": "application/json"})
        elapsed = time.monotonic() - started
    assert 400 <= response.status_code < 500, response.text[:200]
    assert response.headers["Content-Type"].startswith("application/json")
    assert "error" in response.json()
    assert elapsed < 1.0, f"{elapsed:.2f} s"


@pytest.fixture
def redos_bodies() -> Iterator[list[bytes]]:
    yield [b'"' + b'\\"' * 60000, b'"' + b'\\"' * (MB5 // 2)]  # the 117 KB body, and 5 MB


def test_two_concurrent_redos_posts_do_not_stop_healthz(live_server: LiveServer, redos_bodies: list[bytes]) -> None:
    for body in redos_bodies:
        results: list[int] = []

        def post(body: bytes = body, results: list[int] = results) -> None:
            response = httpx.post(live_server.url + "/evaluate", content=body,
                                  headers={"Content-Type": "application/json"}, timeout=60)
            results.append(response.status_code)

        posts = [threading.Thread(target=post) for _ in range(2)]
        for thread in posts:
            thread.start()
        health = []
        while any(t.is_alive() for t in posts) or len(health) < 5:
            started = time.monotonic()
            status = httpx.get(live_server.url + "/healthz", timeout=5).status_code
            health.append((status, time.monotonic() - started))
            time.sleep(0.05)
        for thread in posts:
            thread.join()
        assert results == [400, 400]
        assert all(status == 200 and took < 1.0 for status, took in health), health
