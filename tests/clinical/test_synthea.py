"""Every Synthea patient runs through the clinical layer without a crash or a false alarm.

The report logic lives in bench/synthea_report.py (it also writes docs/synthea-report.md);
a red flag on a Synthea patient fails here unless it has been reviewed and justified there.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import DATA as TEST_DATA

ROOT = Path(__file__).resolve().parents[2]
DATA = TEST_DATA / "fhir" / "synthea"


def _report_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synthea_report", ROOT / "bench" / "synthea_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs() -> tuple[ModuleType, list]:
    report = _report_module()
    return report, report.run_all(DATA)


def test_every_synthea_patient_runs(runs: tuple[ModuleType, list]) -> None:
    _, results = runs
    assert len(results) >= 38 + 10  # 38 whole bundles + the NDJSON patients


def test_no_unreviewed_red_flag(runs: tuple[ModuleType, list]) -> None:
    report, results = runs
    assert report.unreviewed_red_flags(results) == []


def test_old_stroke_on_the_problem_list_is_history_not_a_flag(runs: tuple[ModuleType, list]) -> None:
    _, results = runs
    strokes = [r for r in results if any(f.concept == "stroke" for f in r.findings.risk_factors)]
    assert strokes, "the data set has stroke patients (Synthea stroke module)"
    for run in strokes:
        assert not any(f.id == "stroke" for f in run.findings.red_flags), run.name
        assert all(f.historical for f in run.findings.risk_factors if f.concept == "stroke"), run.name


def test_report_renders(runs: tuple[ModuleType, list]) -> None:
    report, results = runs
    text = report.render(results)
    assert f"patients: **{len(results)}**" in text


def test_every_synthea_bundle_evaluates_end_to_end(runs: tuple[ModuleType, list], tmp_path: Path) -> None:
    """The whole pipeline (record, findings, cards, response schema) on every patient."""
    from cds_service.services.bundle import answer_bundle, bundle_service
    from cds_service.services.catalog import build_catalog
    from cds_service.settings import Settings

    report, _ = runs
    _, service = bundle_service(build_catalog(Settings(require_auth=False, data_dir=str(tmp_path))).registry)
    red = []
    for name, bundle in report.iter_patients(DATA):
        response = answer_bundle(service, bundle, None)
        red += [(name, card.get("indicator")) for card in response["cards"] if card.get("indicator") == "critical"]
    assert red == []
