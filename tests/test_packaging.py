"""The installed package works from any directory: data folders ship inside it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import DATA

PROBE = """
import json, cds_service, cds_service.resources as r
from pathlib import Path
print(json.dumps({
    "package": str(Path(cds_service.__file__).parent),
    "cards": str(r.service_root("leg_weakness") / "cards"),
    "schemas": sorted(r.list_files(r.data_root("schemas"))),
}))
"""


def test_data_folders_load_from_an_unrelated_directory(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True,
                         check=True)
    found = json.loads(out.stdout)
    assert {"discovery-response.schema.json", "hook-request.schema.json", "response.schema.json",
            "feedback.schema.json"} <= set(found["schemas"])
    if "site-packages" in found["package"]:  # a non-editable install: data must be inside it
        assert found["cards"].startswith(found["package"])


def test_cli_evaluate_runs_from_an_unrelated_directory(tmp_path: Path) -> None:
    bundle = DATA / "fhir/synthea/generated-sample-data-r4/Liz_Conn_27c911c6-f045-4ffa-af5d-6eba57ac94b2.json"
    out = subprocess.run([sys.executable, "-m", "cds_service", "evaluate", str(bundle)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert isinstance(json.loads(out.stdout)["cards"], list)
