"""The repository stands alone: every test data file is in tests/data with its source named,
and no test or CI script reaches outside the repository for data."""
from __future__ import annotations

import json
import re
from pathlib import Path

from .conftest import DATA

ROOT = Path(__file__).resolve().parents[1]
README = (DATA / "README.md").read_text(encoding="utf-8")
MANIFEST = json.loads((DATA / "fhir" / "manifest.json").read_text(encoding="utf-8"))
#: Folders that carry their own README (named in the index as "see .../README.md").
OWN_README = ("nlp/negex-testset", "nlp/assertions")
#: A path outside the repository where the team's reference copy lives (never read at test time).
OUTSIDE = re.compile(r"/work/shared|\.\./shared|/ \"shared\"|SHARED_DATA_DIR")


def _data_files() -> list[str]:
    return sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*")
                  if p.is_file() and p.name != "README.md" and "__pycache__" not in p.parts)


def test_every_data_file_names_its_source() -> None:
    in_manifest = {"fhir/" + row["file"] for row in MANIFEST}
    unnamed = []
    for path in _data_files():
        if path == "fhir/manifest.json" or path.startswith(OWN_README) or path in in_manifest:
            continue
        if f"`{path.split('/', 1)[1]}`" not in README and f"`{path}`" not in README:
            unnamed.append(path)
    assert unnamed == [], f"data files with no source in tests/data/README.md: {unnamed}"
    for folder in OWN_README:
        assert f"see [{folder}/README.md]" in README


def test_manifest_rows_match_the_files_byte_counts() -> None:
    for row in MANIFEST:
        path = DATA / "fhir" / row["file"]
        assert path.is_file(), row["file"]
        assert path.stat().st_size == row["bytes"], row["file"]
        assert row["source_repo"] and row["commit"] and row["license"], row["file"]


def test_no_test_or_ci_script_reads_outside_the_repository() -> None:
    here = Path(__file__).resolve()
    scripts = [p for p in (*(ROOT / "tests").rglob("*.py"), *(ROOT / ".ci").iterdir(), ROOT / "pyproject.toml")
               if p.is_file() and p.resolve() != here and DATA not in p.parents]
    offenders = [str(p.relative_to(ROOT)) for p in scripts if OUTSIDE.search(p.read_text(errors="replace"))]
    assert offenders == []
