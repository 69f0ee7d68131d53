"""JSON responses written by orjson are the same JSON values Flask's own encoder writes."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider

from cds_service.http import json_response


@dataclass
class _Point:
    x: int


VALUES: list[Any] = [
    {"cards": [{"summary": "Faiblesse des deux jambes – urgent ✓", "indicator": "critical"}], "systemActions": []},
    {"b": 1, "a": [1.5, None, True, "é"]},  # insertion order kept, as Flask's unsorted provider does
    {"when": datetime(2026, 12, 3, 10, 5, tzinfo=timezone.utc), "day": date(2026, 12, 3)},  # Flask: HTTP dates
    {"dose": Decimal("0.125"), "point": _Point(3)},  # Flask: str, asdict
    {"big": 2 ** 70, 1: "int key"},  # beyond orjson: Flask's encoder writes it
]


def _apps() -> tuple[Flask, Flask]:
    ours, reference = Flask("ours"), Flask("reference")
    json_response.install(ours)
    reference.json = DefaultJSONProvider(reference)
    reference.json.sort_keys = False
    reference.json.compact = True
    return ours, reference


@pytest.mark.parametrize("value", VALUES)
def test_the_same_json_value_as_flask(value: Any) -> None:
    ours, reference = _apps()
    with ours.app_context():
        fast = jsonify(value)
    with reference.app_context():
        slow = jsonify(value)
    assert fast.mimetype == slow.mimetype == "application/json"
    assert json.loads(fast.get_data()) == json.loads(slow.get_data())
    assert list(json.loads(fast.get_data())) == list(json.loads(slow.get_data()))  # key order too
    assert fast.get_data().endswith(b"\n")


def test_non_ascii_text_is_utf8_not_escaped() -> None:
    ours, _ = _apps()
    with ours.app_context():
        body = jsonify({"summary": "Rückenschmerzen"}).get_data()
    assert "Rückenschmerzen".encode() in body
