"""Cost per hook call of the jti replay store: per-host SQLite file vs the shared PostgreSQL table.

Each call remembers a fresh (issuer, jti), exactly what a verified token costs on top of
its signature check. Measured in process, sequentially (c=1) and from several threads
at once (the workers of one process), so the numbers are the store's cost, not HTTP's.

    python bench/bench_replay.py [--calls 2000] [--threads 4] [--database-url URL | --throwaway-postgres]
                                 [--http 300]

``--http N`` also times N signed hook calls per store over HTTP against a real
``cds-service serve`` (default workers and threads, authentication on, loopback trust
file), at c=1 and c=4: the end-to-end price of the store, and the per-instance
throughput that docs/deploy.md sizes from.

``--throwaway-postgres`` starts a PostgreSQL cluster with initdb on a loopback port for
the run (the tests' helper, tests/postgres.py; needs .ci/setup-postgres.sh), with
fsync on, as a real server has it. Without a PostgreSQL URL only SQLite is measured.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "https://ehr.bench"


def measure(store: Any, calls: int, threads: int) -> tuple[list[float], float]:
    """Per-call milliseconds and the calls per second of ``calls`` remembers over ``threads`` threads."""
    expires = int(time.time()) + 300
    jtis = [str(uuid.uuid4()) for _ in range(calls)]
    for jti in jtis[:20]:  # warm: connections open, statements prepared
        store.remember(ISSUER, "warm-" + jti, expires)

    def one(jti: str) -> float:
        started = time.perf_counter()
        assert store.remember(ISSUER, jti, expires)
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    if threads == 1:
        times = [one(j) for j in jtis]
    else:
        with ThreadPoolExecutor(threads) as pool:
            times = list(pool.map(one, jtis))
    return sorted(times), calls / (time.perf_counter() - started)


def report(name: str, store: Any, calls: int, threads: int) -> None:
    for concurrency in sorted({1, threads}):
        times, rate = measure(store, calls, concurrency)
        print(f"{name:<34} c={concurrency}: p50 {statistics.median(times):.3f} ms, "
              f"p99 {times[int(len(times) * 0.99) - 1]:.3f} ms, max {times[-1]:.3f} ms, {rate:,.0f} calls/s")


def measure_http(database_url: str | None, calls: int, tmp: str) -> None:
    """Signed hook calls against a real server whose jti store follows ``database_url``."""
    import json
    import os
    import socket
    import subprocess

    import httpx

    from cds_service.client import generate_key, public_jwks, sign_token
    sys.path.insert(0, str(ROOT))
    from tests.storage.helpers import vignette_call

    key = generate_key("ES384")
    trust = Path(tmp) / "trust.yaml"
    trust.write_text(f"clients:\n  - issuer: {ISSUER}\n    jwks: {json.dumps(public_jwks([key]))}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")} | {
        "CDS_TRUST_FILE": str(trust), "CDS_BASE_URL": base, "CDS_DATA_DIR": str(Path(tmp) / "data"),
        "CDS_DATABASE_URL": database_url or ""}
    server = subprocess.Popen([sys.executable, "-m", "cds_service", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        body = vignette_call()
        url = base + "/cds-services/leg-weakness"
        for concurrency in (1, 4):
            tokens = [sign_token(key, ISSUER, url) for _ in range(calls + 20)]
            with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as http:
                def call(token: str) -> float:
                    started = time.perf_counter()
                    answer = http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
                    assert answer.status_code == 200, answer.text
                    return (time.perf_counter() - started) * 1000
                for token in tokens[:20]:
                    call(token)
                started = time.perf_counter()
                with ThreadPoolExecutor(concurrency) as pool:
                    times = sorted(pool.map(call, tokens[20:]))
                rate = calls / (time.perf_counter() - started)
            name = "http, " + ("postgresql" if database_url else "sqlite") + " jti store"
            print(f"{name:<34} c={concurrency}: p50 {statistics.median(times):.2f} ms, "
                  f"p99 {times[int(len(times) * 0.99) - 1]:.2f} ms, {rate:,.0f} calls/s")
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", default=None, help="a migrated PostgreSQL database")
    parser.add_argument("--throwaway-postgres", action="store_true")
    parser.add_argument("--http", type=int, default=0, metavar="N", help="also N hook calls per store over HTTP")
    args = parser.parse_args()

    from cds_service.http.replay import ReplayStore
    from cds_service.storage import Storage
    from cds_service.storage.replay import SharedReplayStore

    with tempfile.TemporaryDirectory() as tmp:
        report("sqlite (per host, WAL)", ReplayStore(Path(tmp) / "jti.sqlite3"), args.calls, args.threads)
    cluster = None
    url = args.database_url
    if args.throwaway_postgres:
        sys.path.insert(0, str(ROOT))
        from tests.postgres import PostgresCluster, _pg_bin
        bin_dir = _pg_bin()
        if bin_dir is None:
            sys.exit("PostgreSQL is not installed: run .ci/setup-postgres.sh")
        cluster = PostgresCluster(bin_dir, fsync=True)
        url = cluster.create_database()
    try:
        if url:
            storage = Storage(url)
            storage.migrate()
            storage.close()
            shared = SharedReplayStore(url)
            report("postgresql (shared, async commit)", shared, args.calls, args.threads)
            shared.close()
            durable = SharedReplayStore(url)
            durable.database = type(durable.database)(url, engine_options={
                "isolation_level": "AUTOCOMMIT", "pool_pre_ping": False})
            report("postgresql (same, synchronous)", durable, args.calls, args.threads)
            durable.close()
        if args.http:
            with tempfile.TemporaryDirectory() as tmp:
                measure_http(None, args.http, tmp)
            if url:
                with tempfile.TemporaryDirectory() as tmp:
                    measure_http(url, args.http, tmp)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
