"""create_app(settings): build the Flask app, its services, CORS and the one error handler."""
from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from . import logs
from .errors import ServiceError
from .http import body, cors, education, health, json_response, openapi, routes
from .http import feedback as feedback_routes
from .http import metrics as metrics_routes
from .http.auth import TokenVerifier
from .http.state import AppState
from .protocol import validation
from .services.catalog import build_catalog
from .services.service import CdsService
from .settings import Settings
from .storage import Metrics, Storage


def create_app(settings: Settings | None = None, services: Iterable[CdsService] | None = None) -> Flask:
    """Build the app; packaged data is loaded and checked here, so bad data stops start-up.

    Args:
        settings: default ``Settings.from_env()``.
        services: the CDS services to offer (default: the packaged ones).
    """
    settings = settings or Settings.from_env()
    settings = settings.replace(patient_hash_salt=logs.patient_hash_salt(settings.patient_hash_salt,
                                                                         settings.data_dir))
    logs.configure(settings.log_level)
    app = Flask(__name__)
    app.url_map.merge_slashes = False  # '//cds-services/x' must not redirect
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    json_response.install(app)

    for name in validation.SCHEMAS:
        validation.validator(name)  # compile (and check) every schema once, now
    catalog = build_catalog(settings, services)
    state = AppState(settings=settings, registry=catalog.registry, fetcher=catalog.fetcher,
                     verifier=TokenVerifier(settings),
                     handouts=education.render_handouts(
                         h for service in catalog.registry.services() for h in service.handouts()))
    for warning in state.verifier.startup_warnings():
        logs.log_event("auth-warning", level=logging.WARNING, message=warning)
    _install_storage(state, settings)
    app.extensions["cds"] = state

    cors.install(app, settings.cors_origins)
    app.register_blueprint(health.bp)
    body.install(app, settings.max_body_bytes)
    app.register_blueprint(routes.bp)
    app.register_blueprint(education.bp)
    app.register_blueprint(feedback_routes.bp)
    app.register_blueprint(metrics_routes.bp)
    app.register_blueprint(openapi.bp)
    app.register_error_handler(ServiceError, _render_service_error)
    app.register_error_handler(HTTPException, _render_http_error)
    app.register_error_handler(Exception, _render_unexpected)
    app.after_request(_security_headers)
    return app


def _install_storage(state: AppState, settings: Settings) -> None:
    """Database, audit trail and metrics observers.

    SQLite is migrated now (a bad path stops start-up); a shared PostgreSQL database is
    migrated only by ``cds-service migrate``, and until then /readyz answers 503.
    """
    storage = Storage(settings.effective_database_url)
    if storage.migrates_at_start:
        storage.migrate()
    else:
        status = storage.schema_status()
        if not status.ready:
            logs.log_event("not-ready", level=logging.WARNING, reason=status.reason)
    metrics = Metrics(tuple(sorted(state.registry.entries)))
    state.extras["storage"] = storage
    state.extras["metrics"] = metrics
    state.observers.extend([*storage.observers, metrics])


def _json_error(status: int, body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _render_service_error(error: ServiceError) -> Response:
    if error.status == 401:
        logs.log_event("auth-failed", level=logging.WARNING, reason=error.message, path=request.path)
        response = _json_error(401, {"error": "unauthorized"})
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    if error.status >= 500:
        logs.log_event("internal-error", level=logging.ERROR, path=request.path, message=error.message)
    return _json_error(error.status, error.to_json())


_HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large",
               415: "unsupported-media-type"}


def _render_http_error(error: HTTPException) -> Response:
    status = error.code or 500
    code = _HTTP_CODES.get(status, "bad-request" if status < 500 else "internal-error")
    message = error.description if status != 413 else "the request body is over the size limit"
    response = _json_error(status, {"error": code, "message": message})
    if isinstance(error, MethodNotAllowed) and error.valid_methods:  # RFC 9110: a 405 names what is allowed
        response.headers["Allow"] = ", ".join(sorted(set(error.valid_methods)))
    return response


def _render_unexpected(error: Exception) -> Response:
    """Anything unexpected: a generic 500 to the caller; the traceback goes to the log only."""
    hook_instance = None
    body = request.get_json(silent=True, cache=True) if request.is_json else None
    if isinstance(body, dict) and isinstance(body.get("hookInstance"), str):
        hook_instance = body["hookInstance"]
    state = current_app.extensions.get("cds")
    log_phi = bool(state is not None and state.settings.log_phi)
    # Exception messages may quote patient data (a library echoing a value), so unless
    # CDS_LOG_PHI is on the log gets the exception type and the frames, not the message.
    frames = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(error.__traceback__)]
    logs.log_event("unexpected-error", level=logging.ERROR, exc_info=log_phi, path=request.path,
                   hookInstance=hook_instance, exception=type(error).__name__, frames=frames[-12:])
    return _json_error(500, {"error": "internal-error", "message": "unexpected error; see the service log"})


def _security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")
    else:
        response.headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.pop("Server", None)
    return response
