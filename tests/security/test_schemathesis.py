"""schemathesis against /openapi.json of the real server (gunicorn, auth off), bounded.

Requests are generated from the published document, which is derived from the JSON Schemas
the server validates with (``http/openapi.py``), in positive and negative modes. Every answer
must be no 5xx, a status code the document lists, the content type it lists, a body matching
the documented schema, 405 with ``Allow`` for a method an endpoint does not have, and a
request the document calls invalid must be refused (4xx; the document is never looser than
the server).
(schemathesis's pytest plugin does not load under this pytest, so its Python API drives
hypothesis directly.)
"""
from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (content_type_conformance, negative_data_rejection, not_a_server_error,
                                 response_schema_conformance, status_code_conformance, unsupported_method)
from schemathesis.generation import GenerationMode

from tests.conftest import LiveServer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          unsupported_method]
EXAMPLES = 25  # per operation and mode: the run stays bounded


@pytest.fixture(scope="module")
def operations(live_server: LiveServer) -> list[Any]:
    schema = schemathesis.openapi.from_url(live_server.url + "/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in found} >= {"/cds-services/{id}", "/cds-services/{id}/feedback", "/evaluate"}
    return found


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_openapi_document_holds_for_generated_requests(operations: list[Any], mode: GenerationMode) -> None:
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not (operation.body or operation.path_parameters
                                                    or operation.query):
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            # a request the document calls invalid must be refused (4xx): the document is not looser
            extra = [negative_data_rejection] if mode is GenerationMode.NEGATIVE else []
            case.call_and_validate(checks=[*CHECKS, *extra], timeout=30)

        check()
