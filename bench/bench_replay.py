"""Cost per hook call of the jti replay store: per-host SQLite file vs the shared PostgreSQL table.

Each call remembers a fresh (issuer, jti), exactly what a verified token costs on top of
its signature check. Measured in process, sequentially (c=1) and from several threads
at once (the workers of one process), so the numbers are the store's cost, not HTTP's.

    python bench/bench_replay.py [--calls 2000] [--threads 4] [--database-url URL | --throwaway-postgres]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", default=None, help="a migrated PostgreSQL database")
    parser.add_argument("--throwaway-postgres", action="store_true")
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
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
