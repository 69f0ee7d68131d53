"""Blueprint: GET /metrics, Prometheus text format, no authentication (scrape from inside the network)."""
from __future__ import annotations

from flask import Blueprint, Response

from .state import get_state

bp = Blueprint("cds_metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = get_state().extras["metrics"].exposition()
    return Response(body, status=200, content_type=content_type)
