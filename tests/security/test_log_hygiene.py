"""The server log never holds the JWT, the FHIR access token or patient-identifying data.

Requests carrying a name, a birth date, free text and a ``fhirAuthorization.access_token``
are sent to the real server (valid, invalid and failing variants); then the whole log is
searched for each of them. The patient id may appear only as its salted hash.
"""
from __future__ import annotations

import json
from typing import Any

import os
import stat

from cds_service.logs import SALT_FILE, hash_patient_id

from .conftest import SecurityEnv, hook_body

NAME = "Zebediah Quuxleyworth"
BIRTH_DATE = "1937-04-05"
FREE_TEXT = "sudden-weakness-note-7f3a"
ACCESS_TOKEN = "access-token-Sx9QpL2"
PATIENT_ID = "patient-id-91c2e"


def _request(**changes: Any) -> bytes:
    body = json.loads(hook_body())
    body["context"]["patientId"] = PATIENT_ID
    body["prefetch"]["patient"].update(id=PATIENT_ID, birthDate=BIRTH_DATE,
                                       name=[{"family": NAME.split()[1], "given": [NAME.split()[0]], "text": NAME}])
    body["prefetch"]["encounter"]["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
    body["prefetch"]["encounter"]["reasonCode"] = [{"text": FREE_TEXT}]
    body["fhirServer"] = "https://127.0.0.1:9/fhir"
    body["fhirAuthorization"] = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/*.read", "subject": "cds-service"}
    body.update(changes)
    return json.dumps(body).encode()


def test_log_holds_no_token_and_no_patient_data(security_env: SecurityEnv) -> None:
    env = security_env
    tokens = []
    bodies = [
        _request(),  # valid; missing prefetch keys are fetched from an unreachable server
        _request(hook="patient-view"),  # wrong hook for this service
        _request(prefetch={"patient": {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": NAME}}),
        _request(context={"patientId": PATIENT_ID, "note": FREE_TEXT}),
    ]
    for body in bodies:
        token = env.sandbox_token()
        tokens.append(token)
        response = env.post(token, body=body)
        assert response.status_code < 500, response.text
    replay = env.post(tokens[0], body=bodies[0])
    assert replay.status_code == 401
    env.new_log(0, "replayed jti")
    log = env.server.log_text()
    for secret in [*tokens, ACCESS_TOKEN, NAME, *NAME.split(), BIRTH_DATE, FREE_TEXT, PATIENT_ID]:
        assert secret not in log, f"{secret[:20]} found in the log"
    # CDS_PATIENT_HASH_SALT is empty here: the server made a random salt, kept with mode 600
    assert env.server.log_path is not None
    salt_file = env.server.log_path.parent / "data" / SALT_FILE
    assert stat.S_IMODE(os.stat(salt_file).st_mode) == 0o600
    salt = salt_file.read_text().strip()
    assert len(salt) == 64
    assert hash_patient_id(PATIENT_ID, salt) in log  # the id appears as its salted hash only
    assert hash_patient_id(PATIENT_ID, "") not in log  # not the unsalted one anyone can compute
