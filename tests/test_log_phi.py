"""CDS_LOG_PHI: the raw patient id reaches the log only when explicitly turned on."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cds_service import Settings, create_app

CALL = {"hook": "encounter-start", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": "patient-secret-42", "encounterId": "e1"}}


@pytest.mark.parametrize("log_phi", [False, True])
def test_patient_id_logged_only_with_log_phi(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                             log_phi: bool) -> None:
    app = create_app(Settings(require_auth=False, data_dir=str(tmp_path), log_phi=log_phi))
    with caplog.at_level(logging.INFO, logger="cds_service"):
        response = app.test_client().post("/cds-services/leg-weakness", json=CALL)
    assert response.status_code == 412  # no prefetch, no fhirServer
    hook_calls = [r for r in caplog.records if r.getMessage() == "hook-call"]
    assert hook_calls
    fields = hook_calls[-1].fields  # type: ignore[attr-defined]
    assert fields["patient"] and fields["patient"] != "patient-secret-42"
    assert ("patientId" in fields) is log_phi
