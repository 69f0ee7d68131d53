"""POST /cds-services/{id}/feedback in process, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds_service import Settings, create_app
from cds_service.storage import Storage
from tests.conftest import DATA
from tests.storage.helpers import accepted, card, count, event, feedback, feedback_rows, overridden

SPEC = DATA / "cds-hooks-spec" / "spec-2.0.1"
URL = "/cds-services/leg-weakness/feedback"


@pytest.fixture
def app(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    application = create_app(Settings(require_auth=False, data_dir=str(tmp_path / "data"),
                                      database_url=database_url))
    yield application
    application.extensions["cds"].extras["storage"].close()


@pytest.fixture
def storage(app) -> Storage:  # type: ignore[no-untyped-def]
    return app.extensions["cds"].extras["storage"]  # type: ignore[no-any-return]


def _seed_card(storage: Storage, topic: str = "cauda-equina") -> str:
    shown = card(topic)
    storage.audit(event(card_list=(shown,)))
    storage.audit.flush()
    assert shown.uuid
    return shown.uuid


@pytest.mark.parametrize("name", ["feedback-accepted.json", "feedback-overridden-no-reason.json",
                                  "feedback-overridden-with-reason.json"])
def test_spec_examples_are_stored(client, storage: Storage, name: str) -> None:  # type: ignore[no-untyped-def]
    body = json.loads((SPEC / name).read_text())
    response = client.post(URL, json=body)
    assert response.status_code == 200, response.json
    rows = feedback_rows(storage)
    assert [r["card_uuid"] for r in rows] == [i["card"] for i in body["feedback"]]
    assert rows[0]["outcome"] == body["feedback"][0]["outcome"]


def test_repeated_feedback_is_stored_once(client, storage: Storage) -> None:  # type: ignore[no-untyped-def]
    uuid = _seed_card(storage)
    body = {"feedback": [accepted(uuid), accepted(uuid)]}
    first = client.post(URL, json=body)
    assert first.status_code == 200 and first.json == {"stored": 1, "duplicates": 1, "unknownCards": []}
    again = client.post(URL + "/", json=body)  # trailing slash: same route, no redirect
    assert again.status_code == 200 and again.json["stored"] == 0
    assert count(storage, feedback) == 1
    later = client.post(URL, json={"feedback": [overridden(uuid, at="2021-12-11T11:00:00Z")]})
    assert later.json["stored"] == 1 and count(storage, feedback) == 2


def test_known_and_unknown_cards(client, storage: Storage) -> None:  # type: ignore[no-untyped-def]
    known = _seed_card(storage)
    response = client.post(URL, json={"feedback": [accepted(known), overridden("never-shown")]})
    assert response.status_code == 200
    assert response.json["unknownCards"] == ["never-shown"]
    flags = {r["card_uuid"]: r["unknown_card"] for r in feedback_rows(storage)}
    assert flags == {known: False, "never-shown": True}


def test_override_comment_text_is_not_stored(client, storage: Storage) -> None:  # type: ignore[no-untyped-def]
    item = overridden(_seed_card(storage), code="not-relevant")
    item["overrideReason"]["userComment"] = "Mrs Example already has an MRI booked"
    assert client.post(URL, json={"feedback": [item]}).status_code == 200
    row = feedback_rows(storage)[0]
    assert row["has_comment"] is True and row["override_code"] == "not-relevant"
    assert "Example" not in json.dumps({k: str(v) for k, v in row.items()})


@pytest.mark.parametrize(("item", "path"), [
    ({"outcome": "accepted", "acceptedSuggestions": [{"id": "s"}], "outcomeTimestamp": "2021-12-11T10:05:31Z"},
     "card"),
    ({"card": "c", "outcome": "ignored", "outcomeTimestamp": "2021-12-11T10:05:31Z"}, "outcome"),
    ({"card": "c", "outcome": "accepted", "outcomeTimestamp": "2021-12-11T10:05:31Z"}, "acceptedSuggestions"),
    ({"card": "c", "outcome": "accepted", "acceptedSuggestions": [{}], "outcomeTimestamp": "2021-12-11T10:05:31Z"},
     "acceptedSuggestions"),
    ({"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}, "outcomeTimestamp"),
    ({"card": "c", "outcome": "overridden", "outcomeTimestamp": "2021-12-11T10:05:31"}, "outcomeTimestamp"),
    ({"card": "c", "outcome": "overridden"}, "outcomeTimestamp"),
    ({"card": "c", "outcome": "overridden", "outcomeTimestamp": "2021-12-11T10:05:31Z",
      "overrideReason": {"reason": "busy"}}, "overrideReason"),
])
def test_malformed_feedback_is_400_naming_the_field(client, storage: Storage, item: dict[str, Any],
                                                    path: str) -> None:  # type: ignore[no-untyped-def]
    response = client.post(URL, json={"feedback": [accepted("ok-card"), item]})
    assert response.status_code == 400, response.json
    body = response.json
    assert body["error"] == "schema-violation"
    assert any(path in d["path"] + d["message"] for d in body["details"]), body
    assert path in body["message"]
    assert count(storage, feedback) == 0  # all or nothing


@pytest.mark.parametrize("body", [{}, {"feedback": []}, {"feedback": {}}, []])
def test_bodies_without_a_feedback_array_are_400(client, body: Any) -> None:  # type: ignore[no-untyped-def]
    response = client.post(URL, json=body)
    assert response.status_code == 400 and response.json["error"] == "schema-violation"


def test_unknown_service_is_404(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/cds-services/no-such-service/feedback", json={"feedback": [accepted("c")]})
    assert response.status_code == 404 and response.json["error"] == "unknown-service"


def test_feedback_needs_a_token_when_auth_is_on(tmp_path: Path, backend: str, database_url: str) -> None:
    app = create_app(Settings(require_auth=True, base_url="https://cds.example.org", data_dir=str(tmp_path / "data"),
                              database_url=database_url))
    try:
        response = app.test_client().post(URL, json={"feedback": [accepted("c")]})
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
        assert count(app.extensions["cds"].extras["storage"], feedback) == 0
    finally:
        app.extensions["cds"].extras["storage"].close()
