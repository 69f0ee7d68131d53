"""/openapi.json is derived from the JSON Schemas the server validates with (never looser)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cds_service import Settings, create_app
from cds_service.http.openapi import SCHEMAS, document
from cds_service.protocol import validation
from cds_service.resources import schema


def _refs(node: Any) -> list[str]:
    return re.findall(r'"\$ref": "([^"]+)"', json.dumps(node))


def test_components_are_the_validation_schemas_with_their_defs_lifted() -> None:
    components = document(["leg-weakness"])["components"]["schemas"]
    for name, stem in SCHEMAS.items():
        original = schema(stem)
        lifted = json.loads(json.dumps(components[name]).replace(f"#/components/schemas/{name}.", "#/$defs/"))
        expected = {k: v for k, v in original.items() if k not in ("$defs", "$schema", "$id")}
        assert lifted == expected, name
        for definition, body in original["$defs"].items():
            text = json.dumps(components[f"{name}.{definition}"]).replace(f"#/components/schemas/{name}.", "#/$defs/")
            assert json.loads(text) == body
    for ref in _refs(document(["leg-weakness"])):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in components, ref
    assert validation.SCHEMAS  # the same files the validators compile


def test_request_bodies_and_responses_point_at_those_schemas(tmp_path: Path) -> None:
    doc = document(["leg-weakness"])
    call = doc["paths"]["/cds-services/{id}"]["post"]
    assert call["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HookRequest"}
    assert call["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HookResponse"}
    assert doc["paths"]["/cds-services/{id}/feedback"]["post"]["requestBody"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/Feedback"}
    assert doc["openapi"] == "3.1.0"


def test_security_is_stated_as_configured(tmp_path: Path) -> None:
    on = create_app(Settings(data_dir=str(tmp_path / "a"), base_url="https://cds.example.org"))
    off = create_app(Settings(data_dir=str(tmp_path / "b"), require_auth=False))
    try:
        for app, expected in ((on, [{"cdsJwt": []}]), (off, [])):
            doc = app.test_client().get("/openapi.json").get_json()
            assert doc["paths"]["/cds-services/{id}"]["post"]["security"] == expected
            assert doc["paths"]["/cds-services"]["get"]["security"] == []
    finally:
        for app in (on, off):
            app.extensions["cds"].extras["storage"].close()
