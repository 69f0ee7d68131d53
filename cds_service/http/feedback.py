"""Blueprint: POST /cds-services/{id}/feedback (CDS Hooks 2.0), authenticated like a hook call.

Answers 200 only once the batch is committed; repeated identical feedback is stored
once. Feedback for a card we have no record of is stored flagged and still answered
200 (see storage/feedback.py for why). Like the hook routes, the trailing-slash and
double-slash forms are routes of their own, never redirects.
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..protocol import validation
from .body import read_json
from .state import get_state

bp = Blueprint("cds_feedback", __name__)


@bp.post("/cds-services/<service_id>/feedback", strict_slashes=False)
@bp.post("//cds-services/<service_id>/feedback", strict_slashes=False)
@bp.post("/cds-services//<service_id>/feedback", strict_slashes=False)
def post_feedback(service_id: str) -> Response:
    state = get_state()
    issuer = state.verifier.verify(request.headers.get("Authorization"), request.path)
    state.registry.get(service_id)  # 404 for a service we do not serve
    body = read_json(request, state.settings.max_body_bytes)
    validation.validate(body, "feedback", "feedback")
    result, outcomes = state.extras["storage"].record_feedback(body, service_id, issuer)
    metrics = state.extras.get("metrics")
    if metrics is not None:
        for outcome, n in outcomes.items():
            metrics.count_feedback(service_id, outcome, n)
    return jsonify({"stored": result.stored, "duplicates": result.duplicates,
                    "unknownCards": list(result.unknown_cards)})
