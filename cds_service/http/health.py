"""Blueprint: GET /healthz (liveness) and GET /readyz (readiness), no authentication.

``/healthz`` says the process answers HTTP and nothing else: a liveness probe that
checked the database would restart every instance when the database blips.
``/readyz`` says this instance can serve calls: its database is reachable and its schema
is at this release's migration head (or at a newer, additive revision during a rolling
upgrade). Otherwise 503 with a JSON reason, so the load balancer sends calls elsewhere.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from ..logs import log_event
from .state import get_state

bp = Blueprint("cds_health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    storage = get_state().extras["storage"]
    status = storage.schema_status()
    body = {"status": "ready" if status.ready else "not-ready",
            "database": storage.database.url.get_backend_name(),
            "schema": {"state": status.state, "revision": status.revision, "head": status.head}}
    if status.reason:
        body["reason"] = status.reason
    if not status.ready:
        log_event("not-ready", level=logging.WARNING, reason=status.reason)
    response = jsonify(body)
    response.status_code = 200 if status.ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response
