"""GET /openapi.json: an OpenAPI 3.1 description of our HTTP endpoints (no authentication).

Derived from the same JSON Schemas (draft 2020-12, ``schemas/``) that the server validates
requests and its own responses with, so the document can never be looser or stricter than
the server: OpenAPI 3.1 schema objects are JSON Schema 2020-12. Each schema's ``$defs`` are
lifted into ``components/schemas`` (as ``<Schema>.<def>``) and its ``#/$defs/...`` references
rewritten to point there. The service ids it lists come from the live registry. It is what
the schemathesis and property-based tests generate requests from, and what API tooling reads.
"""
from __future__ import annotations

import json
from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify

from .. import resources
from ..version import __version__
from .state import get_state

bp = Blueprint("openapi", __name__)

#: components/schemas name -> schema file stem in ``schemas/``.
SCHEMAS = {"HookRequest": "hook-request", "HookResponse": "response", "Feedback": "feedback",
           "Discovery": "discovery-response"}
_JSON_TYPES = ("application/json", "application/fhir+json")

_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                         "details": {"type": "array", "items": {"type": "object"}}}}
_FEEDBACK_RESULT = {"type": "object", "required": ["stored", "duplicates", "unknownCards"],
                    "properties": {"stored": {"type": "integer", "minimum": 0},
                                   "duplicates": {"type": "integer", "minimum": 0},
                                   "unknownCards": {"type": "array", "items": {"type": "string"}}}}


@cache
def components() -> dict[str, Any]:
    """The packaged JSON Schemas as OpenAPI component schemas (with their ``$defs`` lifted)."""
    out: dict[str, Any] = {"Error": _ERROR, "FeedbackResult": _FEEDBACK_RESULT}
    for name, stem in SCHEMAS.items():
        schema = json.loads(json.dumps(resources.schema(stem)))  # a private copy
        definitions = schema.pop("$defs", {})
        for key in ("$schema", "$id"):  # an $id would re-base the rewritten references
            schema.pop(key, None)
        out[name] = _rebase(schema, name)
        for definition, body in definitions.items():
            out[f"{name}.{definition}"] = _rebase(body, name)
    return out


def _rebase(node: Any, name: str) -> Any:
    """``#/$defs/x`` -> ``#/components/schemas/<name>.x``, everywhere in ``node``."""
    if isinstance(node, dict):
        out = {k: _rebase(v, name) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out["$ref"] = f"#/components/schemas/{name}.{ref[len('#/$defs/'):]}"
        return out
    if isinstance(node, list):
        return [_rebase(v, name) for v in node]
    return node


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {media: {"schema": schema} for media in _JSON_TYPES}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", "content": _json(_ref("Error"))} for s in statuses}


def document(service_ids: list[str], auth_required: bool = True) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a service with these ids.

    Args:
        auth_required: ``CDS_REQUIRE_AUTH``; off (development only), hook and feedback calls
            are documented as needing no token, which is then the truth.
    """
    jwt: list[dict[str, list[str]]] = [{"cdsJwt": []}] if auth_required else []
    service_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "enum": service_ids}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "CDS Hooks 2.0 service for leg weakness", "version": __version__},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "components": {
            "securitySchemes": {"cdsJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": components(),
        },
        "paths": {
            "/cds-services": {"get": {
                "summary": "Discovery", "security": [],
                "responses": {"200": {"description": "services", "content": _json(_ref("Discovery"))}}}},
            "/cds-services/{id}": {"post": {
                "summary": "Call a service (CDS Hooks request)", "security": jwt,
                "parameters": [service_id],
                "requestBody": {"required": True, "content": _content(_ref("HookRequest"))},
                "responses": {"200": {"description": "cards", "content": _json(_ref("HookResponse"))},
                              **_errors(400, 401, 404, 412, 413, 415)}}},
            "/cds-services/{id}/feedback": {"post": {
                "summary": "Feedback on cards", "security": jwt, "parameters": [service_id],
                "requestBody": {"required": True, "content": _content(_ref("Feedback"))},
                "responses": {"200": {"description": "stored", "content": _json(_ref("FeedbackResult"))},
                              **_errors(400, 401, 404, 413, 415)}}},
            "/evaluate": {"post": {
                "summary": "Developer tool: cards for a FHIR R4 Bundle", "security": [],
                "parameters": [{"name": "encounter", "in": "query", "required": False,
                                "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": _content({"type": "object"})},
                "responses": {"200": {"description": "cards", "content": _json(_ref("HookResponse"))},
                              **_errors(400, 413, 415)}}},
            "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {
                "description": "ok", "content": _json({"type": "object", "required": ["status"],
                                                       "properties": {"status": {"const": "ok"}}})}}}},
            "/readyz": {"get": {"summary": "Readiness: database reachable, schema at head", "security": [],
                                "responses": {"200": {"description": "ready"},
                                              "503": {"description": "not ready, with a JSON reason"}}}},
            "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {
                "description": "OpenAPI 3.1", "content": _json({"type": "object"})}}}},
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    state = get_state()
    return jsonify(document(sorted(state.registry.entries), state.settings.require_auth))
