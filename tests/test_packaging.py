"""The installed package works from any directory: data folders ship inside it."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

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


# ---------------------------------------------------------------- the Docker image's files

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = "requirements.lock"  # created by the hardening issue (12); the Dockerfile installs from it


def _dockerfile_copies() -> list[tuple[list[str], str]]:
    """(sources, destination relative to WORKDIR) of each build-context COPY in the Dockerfile."""
    lines = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    copies, workdir = [], "/"
    for line in (raw.strip() for raw in lines):
        words = shlex.split(line, comments=True) if line and not line.startswith("#") else []
        if not words:
            continue
        if words[0].upper() == "WORKDIR":
            workdir = words[1]
        elif words[0].upper() in ("COPY", "ADD"):
            args = [w for w in words[1:] if not w.startswith("--")]
            assert not any(w.startswith("--from") for w in words), "multi-stage COPY: extend this test"
            assert workdir == "/src", f"COPY outside the build directory /src: {line}"
            copies.append((args[:-1], args[-1]))
    return copies


def _dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        regex = re.escape(pattern.strip("/")).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _build_context(tmp_path: Path) -> Path:
    """A copy of exactly what the Dockerfile COPYs into /src, filtered by .dockerignore."""
    patterns = _dockerignore()
    src = tmp_path / "src"
    src.mkdir()
    for sources, dest in _dockerfile_copies():
        for source in sources:
            if source == LOCK and not (ROOT / LOCK).exists():
                continue  # the wheel does not need it; test_every_copy_source_exists says why it is missing
            origin = ROOT / source
            target = src / dest / (origin.name if dest.endswith("/") or len(sources) > 1 else "")
            files = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
            for file in files:
                relative = str(file.relative_to(ROOT))
                if _dockerignore_excludes(relative, patterns):
                    continue
                out = target if origin.is_file() else target / file.relative_to(origin)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)
    return src


def test_every_copy_source_exists_and_passes_the_dockerignore() -> None:
    patterns = _dockerignore()
    sources = [s for sources, _ in _dockerfile_copies() for s in sources]
    assert {"pyproject.toml", "cds_service", "schemas", LOCK} <= set(sources)
    for source in sources:
        assert not _dockerignore_excludes(source, patterns), f".dockerignore hides {source} from COPY"
    missing = [s for s in sources if not (ROOT / s).exists()]
    assert missing in ([], [LOCK]), f"the Dockerfile copies files that do not exist: {missing}"
    if missing:
        pytest.skip(f"{LOCK} is not in the repository yet (the hardening issue creates it)")


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    patterns = _dockerignore()
    for path in (".venv/bin/python", ".git/HEAD", "tests/data/README.md", "bench/bench_http.py",
                 "cds_service/__pycache__/app.cpython-311.pyc", "cds-service.sqlite3", "examples/stroke.json"):
        assert _dockerignore_excludes(path, patterns), path
    assert not _dockerignore_excludes("cds_service/services/leg_weakness/knowledge/codes.yaml", patterns)


def test_wheel_builds_from_exactly_the_dockerfile_copy_set(tmp_path: Path) -> None:
    """No Docker daemon here: a wrong COPY (or a force-include of an uncopied folder) fails this instead."""
    context = _build_context(tmp_path)
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--no-index", "--quiet", "-w", str(dist), str(context)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    (wheel,) = dist.glob("cds_service-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("cds_service/schemas/hook-request.schema.json",
                   "cds_service/services/leg_weakness/knowledge/codes.yaml",
                   "cds_service/services/leg_weakness/cards/workup.yaml",
                   "cds_service/clinical/language/context-rules.yaml",
                   "cds_service/storage/migrations/versions/0001_initial.py"):
        assert needed in names, needed
    assert any(n.startswith("cds_service/services/leg_weakness/corpus/") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "bench/", "examples/")) or "__pycache__" in n]
    # The wheel alone (dependencies from this environment) evaluates an example from an unrelated folder.
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                              "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")} | {
        "PYTHONPATH": str(site), "CDS_DATA_DIR": str(tmp_path / "data"), "CDS_REQUIRE_AUTH": "false"}
    probe = ("import cds_service, runpy, sys\n"
             "assert cds_service.__file__.startswith(sys.argv[1]), cds_service.__file__\n"
             "sys.argv = ['cds-service', 'evaluate', sys.argv[2]]\n"
             "runpy.run_module('cds_service', run_name='__main__')\n")
    run = subprocess.run([sys.executable, "-c", probe, str(site), str(ROOT / "examples" / "cauda-equina.json")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "red-flag-cauda-equina" in run.stdout
