"""The README tells the truth: every CDS_ setting, command and endpoint is documented."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from cds_service.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_with_its_variable() -> None:
    missing = [f"CDS_{f.name.upper()}" for f in dataclasses.fields(Settings)
               if f"`CDS_{f.name.upper()}`" not in README]
    assert not missing, f"settings missing from the README: {missing}"


def test_endpoints_and_commands_are_documented() -> None:
    for name in ("GET /cds-services", "POST /cds-services/{id}", "POST /cds-services/{id}/feedback",
                 "POST /evaluate", "GET /healthz", "GET /readyz", "GET /metrics", "GET /patient-education/leg-weakness",
                 "GET /openapi.json", "cds-service serve", "cds-service evaluate", "cds-service client",
                 "cds-service report", "cds-service purge", "cds-service corpus", "cds-service migrate"):
        assert name in README, name
