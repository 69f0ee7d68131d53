"""GET /openapi.json: an OpenAPI 3 description of our HTTP endpoints (no authentication).

Written from the live registry, so the service ids it lists are the ones we serve. It
is what the property-based tests generate requests from, and what API tooling reads.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from ..version import __version__
from .state import get_state

bp = Blueprint("openapi", __name__)

_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                         "details": {"type": "array", "items": {"type": "object"}}}}
_HOOK_REQUEST = {
    "type": "object", "required": ["hook", "hookInstance", "context"],
    "properties": {
        "hook": {"type": "string"}, "hookInstance": {"type": "string"},
        "fhirServer": {"type": "string", "format": "uri"},
        "fhirAuthorization": {"type": "object"},
        "context": {"type": "object"}, "prefetch": {"type": "object"},
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", "content": _json({"$ref": "#/components/schemas/Error"})}
            for s in statuses}


def document(service_ids: list[str]) -> dict[str, Any]:
    """The OpenAPI 3.0 document for a service with these ids."""
    service_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "enum": service_ids}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "CDS Hooks 2.0 service for leg weakness", "version": __version__},
        "components": {
            "securitySchemes": {"cdsJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": _ERROR, "HookRequest": _HOOK_REQUEST},
        },
        "paths": {
            "/cds-services": {"get": {"summary": "Discovery", "security": [],
                                      "responses": {"200": {"description": "services",
                                                            "content": _json({"type": "object"})}}}},
            "/cds-services/{id}": {"post": {
                "summary": "Call a service (CDS Hooks request)", "security": [{"cdsJwt": []}],
                "parameters": [service_id],
                "requestBody": {"required": True, "content": _json({"$ref": "#/components/schemas/HookRequest"})},
                "responses": {"200": {"description": "cards", "content": _json({"type": "object"})},
                              **_errors(400, 401, 404, 412, 413, 415)}}},
            "/cds-services/{id}/feedback": {"post": {
                "summary": "Feedback on cards", "security": [{"cdsJwt": []}], "parameters": [service_id],
                "requestBody": {"required": True, "content": _json({"type": "object"})},
                "responses": {"200": {"description": "accepted"}, **_errors(400, 401, 404, 413, 415)}}},
            "/evaluate": {"post": {
                "summary": "Developer tool: cards for a FHIR R4 Bundle", "security": [],
                "parameters": [{"name": "encounter", "in": "query", "required": False,
                                "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": _json({"type": "object"})},
                "responses": {"200": {"description": "cards"}, **_errors(400, 413, 415)}}},
            "/healthz": {"get": {"summary": "Liveness", "security": [],
                                 "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "Readiness: database reachable, schema at head", "security": [],
                                "responses": {"200": {"description": "ready"},
                                              "503": {"description": "not ready, with a JSON reason"}}}},
            "/openapi.json": {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3"}}}},
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document(sorted(get_state().registry.entries)))
