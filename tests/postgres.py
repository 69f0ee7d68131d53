"""A throwaway PostgreSQL cluster on loopback, shared by every test area that needs one.

The cluster is created with initdb in a temporary directory and started on a free
loopback port once per session (as the ``postgres`` user when we are root: PostgreSQL
refuses to run as root). Loaded as a plugin by tests/conftest.py, so ``pg_cluster`` is one
fixture for the storage and the deploy tests alike.
"""
from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

PG_BIN_DIRS = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15", "14")]
_counter = itertools.count()


def _pg_bin() -> Path | None:
    for candidate in PG_BIN_DIRS:
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _as_db_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PostgresCluster:
    def __init__(self, bin_dir: Path, fsync: bool = False) -> None:
        """``fsync=False`` for tests (speed); the bench turns it on, as a real server has it."""
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="cds-pg-"))
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        subprocess.run(_as_db_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "cds", "-A", "trust",
                                    "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync={'on' if fsync else 'off'} "
                   "-c max_connections=200")
        subprocess.run(_as_db_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                                    "-l", str(self.dir / "log"), "-w", "start"]),
                       check=True, capture_output=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://cds@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg
        name = f"t{os.getpid()}_{next(_counter)}_{int(time.time() * 1000) % 100000}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=cds dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Immediate shutdown without pg_ctl's wait loop (it can idle for 20 s), then clean up."""
        pid_file = self.dir / "data" / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        subprocess.run(_as_db_user([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                                    "-W", "stop"]), capture_output=True)
        deadline = time.monotonic() + 5
        while pid is not None and pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid is not None and pid_file.exists():
            try:
                os.kill(pid, signal.SIGKILL)  # our own throwaway postmaster
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed: run .ci/setup-postgres.sh (or use --db=sqlite)")
    cluster = PostgresCluster(bin_dir)
    yield cluster
    cluster.stop()
