"""The shape docs/architecture.md promises, enforced: the dependency rule (import-linter
contracts in pyproject.toml), small card-builder modules, and no clinical service named
in the generic layers."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cds_service"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.skip(f"{LINT_IMPORTS} missing: install the test extras (pip install '.[test]')")
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_no_module_imports_from_a_layer_above_it() -> None:
    result = _lint()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_the_import_check_does_catch_a_broken_rule(tmp_path: Path) -> None:
    """Negative control: a contract the code breaks (the card builder does import the
    clinical layer) is reported, so a passing check means something."""
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_package = "cds_service"\n\n[[tool.importlinter.contracts]]\n'
                      'name = "control"\ntype = "forbidden"\nsource_modules = ["cds_service.card_builder"]\n'
                      'forbidden_modules = ["cds_service.clinical"]\n')
    result = _lint("--config", str(config))
    assert result.returncode != 0 and "control BROKEN" in result.stdout


@pytest.mark.parametrize("module", sorted((PACKAGE / "card_builder").glob("*.py")), ids=lambda p: p.name)
def test_card_builder_modules_stay_small(module: Path) -> None:
    assert len(module.read_text().splitlines()) <= 250


GENERIC = [p for p in PACKAGE.rglob("*.py") if "leg_weakness" not in p.parts]


@pytest.mark.parametrize("module", GENERIC, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_generic_code_states_no_card_topic_and_no_code(module: Path) -> None:
    """Card topics and clinical codes are data: no ``red-flag-...`` topic literal and no
    SNOMED CT / LOINC / ICD-10-CM code literal in code outside a service's data folder."""
    code = "\n".join(line for line in module.read_text().splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"[\"']red-flag-[a-z]", code)
    assert not re.search(r"[\"'](?:\d{6,18}|\d{4,5}-\d|[A-TV-Z]\d\d\.\d{1,4})[\"']", code)
