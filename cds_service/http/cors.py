"""CORS for browser clients (the CDS Hooks sandbox calls from the browser).

Preflights are answered without authentication; ``Authorization`` and ``Content-Type``
are allowed; origins come from ``CDS_CORS_ORIGINS`` (default any). Credentials are never
allowed, so ``*`` is never combined with them. Headers go on error responses too, or
the browser masks the status.
"""
from __future__ import annotations

from flask import Flask, Response, request

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
MAX_AGE = "600"


def install(app: Flask, origins: tuple[str, ...]) -> None:
    """Add CORS headers to every response and answer OPTIONS preflights directly."""
    allow_any = "*" in origins

    @app.before_request
    def _preflight() -> Response | None:
        if request.method == "OPTIONS":
            return Response(status=204)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if allow_any:
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif origin and origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.vary.add("Origin")
        else:
            return response
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE
        if request.headers.get("Access-Control-Request-Private-Network") == "true":
            response.headers["Access-Control-Allow-Private-Network"] = "true"
        return response
