"""The README tells the truth: every CDS_ setting, command and endpoint is documented, and its
shell blocks work as written on a fresh machine (run against a live server on loopback)."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from cds_service.settings import Settings

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


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


# ---------------------------------------------------------------- the README's shell blocks, run

BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def _block(marker: str) -> str:
    (found,) = [b for b in BLOCKS if marker in b]
    return found


SERVE = _block("CDS_REQUIRE_AUTH=false .venv/bin/cds-service serve --port 8080")
TESTS = _block(".venv/bin/pytest")
TRY = _block("evaluate examples/cauda-equina.json")
ROUND_TRIP = _block("client keygen")
DOCKER = _block("docker run")


def test_every_shell_block_is_checked() -> None:
    """A new shell block in the README needs a test here (run it, or say why not)."""
    assert sorted(BLOCKS) == sorted({SERVE, TESTS, TRY, ROUND_TRIP, DOCKER})


def test_commands_use_the_venv_or_an_activated_shell() -> None:
    """On a fresh machine a bare `cds-service` is not on PATH: every command names .venv/bin/."""
    for block in (SERVE, TRY, ROUND_TRIP, TESTS):
        if "source .venv/bin/activate" in block:
            continue
        bare = [line for line in block.splitlines() if re.search(r"(^|[\s;&|(])(cds-service|pytest|pip) ", line)]
        assert bare == [], bare


def test_docker_run_mounts_a_directory_and_sets_the_public_url() -> None:
    """No Docker daemon here; the image's contents are checked by tests/test_packaging.py."""
    assert re.search(r'-v "\$PWD/[\w-]+:/etc/cds-service:ro"', DOCKER), DOCKER
    assert "CDS_TRUST_FILE=/etc/cds-service/trust.yaml" in DOCKER and "CDS_BASE_URL=https://" in DOCKER


@dataclass
class Workspace:
    """A fresh folder as a new user has it: .venv (this test run's environment) and examples/."""

    path: Path
    env: dict[str, str]
    groups: list[int] = field(default_factory=list)

    def run(self, script: str, port: int, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run a block in bash; output goes to files (a server it leaves in the background keeps pipes open)."""
        n = len(self.groups)
        out, err = self.path.parent / f"block{n}.out", self.path.parent / f"block{n}.err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script.replace("8080", str(port))],
                                    cwd=self.path, env=self.env, stdout=stdout, stderr=stderr,
                                    start_new_session=True)
            self.groups.append(proc.pid)
            proc.wait(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(), err.read_text())

    def start(self, script: str, port: int) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["bash", "-c", script.replace("8080", str(port))], cwd=self.path, env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.groups.append(proc.pid)
        _wait_healthy(port, proc)
        return proc

    def stop_all(self) -> None:
        """SIGTERM to each process group these blocks started (servers they left in the background)."""
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGTERM)
            except ProcessLookupError:
                continue
        time.sleep(0.5)


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"the README's serve command exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("the README's serve command did not become ready")


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    venv = Path(sys.prefix)
    if not (venv / "bin" / "cds-service").exists():
        pytest.skip(f"run the tests from the README's venv (no {venv}/bin/cds-service)")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (the README's examples use it)")
    work = tmp_path / "clone"
    work.mkdir()
    (work / ".venv").symlink_to(venv)
    (work / "examples").symlink_to(ROOT / "examples")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "VIRTUAL_ENV", "PYTHON"))}
    space = Workspace(work, env | {"HOME": str(home)})
    yield space
    space.stop_all()


def _serve_command() -> str:
    """The quick start's serve command without its install steps (done: this is that venv)."""
    steps = [s.strip() for s in SERVE.strip().split(" && ")]
    installs = [s for s in steps[1:] if s.startswith(".venv/bin/pip install ")]
    assert steps[0] == "python3 -m venv .venv" and installs == steps[1:1 + len(installs)] and installs
    return " && ".join(steps[1 + len(installs):])


def test_quick_start_commands_work_as_written(workspace: Workspace) -> None:
    port = free_port()
    workspace.start(_serve_command(), port)
    result = workspace.run(TRY, port)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert '"id": "leg-weakness"' in out  # discovery, pretty-printed
    for topic in ("red-flag-cauda-equina", "red-flag-stroke", "red-flag-spinal-infection"):
        assert topic in out, topic
    report = out.rsplit("Cards since", 1)[1]
    assert "red-flag-spinal-infection" in report and "leg-weakness" in report  # the hook call was audited


def test_security_round_trip_works_as_written(workspace: Workspace) -> None:
    result = workspace.run(ROUND_TRIP, free_port())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "HTTP 200" in result.stderr
    topics = [c["source"]["topic"]["code"] for c in json.loads(result.stdout[result.stdout.index("{"):])["cards"]]
    assert "red-flag-cauda-equina" in topics
