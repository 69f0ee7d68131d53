"""HTTP benchmark of the real work: hook calls with and without cards, feedback, against the real server.

Bodies (``bench/cases.py``): every Synthea patient's latest encounter as a client would
prefetch it, the same encounter with a leg complaint written in for every third patient,
and a few corpus vignettes, so about a third of the calls carry a complaint and get
cards. By default the server is ``cds-service serve`` with its default workers and
threads, started here on a free loopback port with authentication off and every other
setting at its default (logging included); ``--workers``/``--threads`` override.

One run measures, on the same bodies and the same machine state:

* ``json.loads`` of the bodies in this process (the floor: reading the request at all);
* at concurrency 1, hook calls interleaved with ``GET /healthz`` (the HTTP round trip),
  so *service time* = hook p50 - healthz p50;
* at each further level, hook calls mixed with feedback posts on cards just received;
* ``--compare URL``: a second, already running CDS service (another build, a peer),
  called with the same patients in the same run, each request alternating between the
  two; its bodies are filled from its own discovery templates and hook;
* ``--profile``: where the time goes inside the service, from the ``stages`` the service
  logs for every hook call (``hook-call`` lines of the server's log).

The load generator is ``bench/raw_http.py`` (one plain keep-alive socket per client, a
thread each); ``--client httpx`` sends the same calls through httpx instead, whose own cost
per call lands in the figures (see that module).

    python bench/bench_http.py [--requests 400] [--levels 1,8] [--compare URL] [--profile] [--client raw|httpx]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.cases import Case, corpus_cases, latest_encounter, resources_of, search, synthea_cases  # noqa: E402,F401
from bench.cases import build_request as _build_request  # noqa: E402
from bench.raw_http import ConnectionClosed, RawClient  # noqa: E402

SERVICE = "leg-weakness"
VIGNETTES = 6  # with 35 Synthea patients, 12 of them with a complaint: 18 of 53 calls carry one


@dataclass
class Target:
    """One CDS service under test: its hook endpoint, hook name and one body per case."""

    label: str
    url: str  # .../cds-services/{id}
    health: str | None
    bodies: list[bytes] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.url.split("/cds-services/")[0]


@dataclass
class Sample:
    kind: str  # hook | feedback | healthz
    target: str
    ms: float
    status: int
    cards: int = 0


class Server:
    """``cds-service serve`` on a free loopback port, its log in ``data_dir``, stopped by ``close``."""

    def __init__(self, data_dir: str, workers: int | None, threads: int | None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
        env |= {"CDS_REQUIRE_AUTH": "false", "CDS_DATA_DIR": data_dir}
        self.log_path = Path(data_dir) / "server.log"
        self.log = open(self.log_path, "wb")
        command = [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(workers)] if workers else []
        command += ["--threads", str(threads)] if threads else []
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cds-service serve exited; see {self.log_path}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def build_request(bundle: dict[str, Any], templates: dict[str, str]) -> dict[str, Any]:
    """An encounter-start call for the bundle's patient and latest encounter (``search`` fills the keys)."""
    resources = resources_of(bundle)
    return _build_request(resources, templates, "encounter-start", latest_encounter(resources))


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def choose_cases(templates: dict[str, dict[str, str]]) -> list[Case]:
    synthea = list(synthea_cases(templates, complaint_every=3))
    vignettes = [c for c in corpus_cases(templates) if c.complaint]
    step = max(1, len(vignettes) // VIGNETTES)
    return synthea + vignettes[::step][:VIGNETTES]


def discovery(base: str) -> list[dict[str, Any]]:
    return list(httpx.get(base.rstrip("/") + "/cds-services", timeout=30).json()["services"])


def make_target(label: str, url: str, cases: list[Case], own: bool) -> Target:
    """The service at ``url`` (…/cds-services/{id}); bodies from its own discovery entry."""
    base, _, service_id = url.rstrip("/").rpartition("/cds-services/")
    entry = next(s for s in discovery(base) if s["id"] == service_id)
    if own:
        bodies = [json.dumps(c.body).encode() for c in cases]
    else:
        bodies = [json.dumps(c.request_for(entry.get("prefetch") or {}, entry["hook"])).encode() for c in cases]
    probe = httpx.get(base + "/healthz", timeout=5) if own else None
    return Target(label, url, base + "/healthz" if probe is not None and probe.status_code == 200 else None, bodies)


class Load:
    """Sends the calls and keeps every sample; collects card and suggestion uuids for feedback."""

    def __init__(self, client: str = "raw") -> None:
        self.kind = client
        self.clients: list[Any] = []  # one per sending thread (a RawClient is one connection)
        self.local = threading.local()
        self.samples: list[Sample] = []
        self.cards: list[tuple[str, list[str]]] = []  # (card uuid, suggestion uuids) of our service
        self.counter = itertools.count()
        self.lock = threading.Lock()
        self.retried = 0  # calls repeated once on a fresh connection (see ``timed``)

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def client(self) -> Any:
        """This thread's client, made on its first call."""
        if not hasattr(self.local, "client"):
            self.local.client = RawClient(timeout=30) if self.kind == "raw" else httpx.Client(timeout=30)
            with self.lock:
                self.clients.append(self.local.client)
        return self.local.client

    def timed(self, kind: str, target: str, send: Callable[[Any], Any]) -> Any:
        """One call, timed. A connection the server closed while idle (Node closes keep-alive
        connections after 5 s) is retried once on a new connection, as HTTP clients do; a
        call that fails again is an error (status 0)."""
        client = self.client()
        started = time.perf_counter()
        try:
            response = send(client)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, ConnectionClosed):
            with self.lock:
                self.retried += 1
            started = time.perf_counter()
            try:
                response = send(client)
            except (httpx.TransportError, ConnectionClosed):
                with self.lock:
                    self.samples.append(Sample(kind, target, (time.perf_counter() - started) * 1000, 0))
                return {}
        ms = (time.perf_counter() - started) * 1000
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        cards = body.get("cards") if isinstance(body, dict) else None
        with self.lock:
            self.samples.append(Sample(kind, target, ms, response.status_code, len(cards or [])))
        return body

    def hook(self, target: Target, i: int, keep_cards: bool) -> None:
        body = self.timed("hook", target.label, lambda c: c.post(
            target.url, content=target.bodies[i % len(target.bodies)], headers={"Content-Type": "application/json"}))
        if keep_cards and isinstance(body, dict):
            with self.lock:
                self.cards += [(card["uuid"], [s["uuid"] for s in card.get("suggestions") or []])
                               for card in body.get("cards") or []]

    def feedback(self, target: Target) -> None:
        with self.lock:
            if not self.cards:
                return
            card, suggestions = self.cards[next(self.counter) % len(self.cards)]
        stamp = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
        item: dict[str, Any] = {"card": card, "outcomeTimestamp": stamp}
        if suggestions:
            item |= {"outcome": "accepted", "acceptedSuggestions": [{"id": suggestions[0]}]}
        else:
            item |= {"outcome": "overridden"}
        payload = json.dumps({"feedback": [item]}).encode()
        self.timed("feedback", target.label, lambda c: c.post(
            target.url + "/feedback", content=payload, headers={"Content-Type": "application/json"}))

    def healthz(self, target: Target) -> None:
        assert target.health is not None
        self.timed("healthz", target.label, lambda c: c.get(target.health))  # type: ignore[arg-type]


def run_sequential(targets: list[Target], total: int, client: str) -> tuple[list[Sample], float]:
    """Concurrency 1: each target's hook call then its /healthz, round-robin over the bodies."""
    load = Load(client)
    began = time.perf_counter()
    for i in range(total):
        for target in targets:
            load.hook(target, i, keep_cards=False)
            if target.health:
                load.healthz(target)
    elapsed = time.perf_counter() - began
    load.close()
    return load.samples, elapsed


def run_concurrent(targets: list[Target], concurrency: int, total: int, feedback_every: int,
                   seed_cards: list[tuple[str, list[str]]], client: str) -> tuple[list[Sample], float]:
    """``total`` calls per target from ``concurrency`` clients; every ``feedback_every``-th of ours is feedback."""
    load = Load(client)
    load.cards = list(seed_cards)
    ours = targets[0]
    jobs: list[Callable[[], None]] = []
    for i in range(total):
        for target in targets:
            if target is ours and feedback_every and i % feedback_every == feedback_every - 1:
                jobs.append(lambda t=target: load.feedback(t))
            else:
                jobs.append(lambda t=target, n=i: load.hook(t, n, keep_cards=t is ours))
    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda job: job(), jobs))
    elapsed = time.perf_counter() - began
    load.close()
    return load.samples, elapsed


def warm(targets: list[Target], client: str) -> list[tuple[str, list[str]]]:
    """Each body once per target (imports, caches, first connections); returns our cards for feedback."""
    load = Load(client)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda i: [load.hook(t, i, keep_cards=t is targets[0]) for t in targets],
                      range(max(len(t.bodies) for t in targets))))
    load.close()
    bad = [s for s in load.samples if s.status != 200]
    if bad:
        raise RuntimeError(f"warm-up: {len(bad)} calls failed, e.g. {bad[0]}")
    return load.cards


def json_loads_ms(bodies: list[bytes], rounds: int = 5) -> tuple[float, float]:
    """(p50, p99) ms to ``json.loads`` one body; per body the best of ``rounds`` (a stray GC pause
    or a busy core does not count as parsing)."""
    times = []
    for body in bodies:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            json.loads(body)
            best = min(best, (time.perf_counter() - started) * 1000)
        times.append(best)
    return statistics.median(times), percentile(times, 0.99)


def summarize(samples: list[Sample], kind: str, target: str, elapsed: float | None = None) -> dict[str, Any]:
    chosen = [s for s in samples if s.kind == kind and s.target == target]
    statuses: dict[int, int] = {}
    for s in chosen:
        statuses[s.status] = statuses.get(s.status, 0) + 1
    ms = [s.ms for s in chosen]
    return {"n": len(chosen), "p50": statistics.median(ms) if ms else float("nan"), "p99": percentile(ms, 0.99),
            "rps": len(chosen) / elapsed if elapsed else None, "statuses": statuses,
            "with_cards": sum(1 for s in chosen if s.cards)}


def profile(log_path: Path) -> list[str]:
    """Per-stage time inside the service (its own ``hook-call`` log lines), with and without cards."""
    calls = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "hook-call" and event.get("status") == 200:
            calls.append(event)
    out = ["| calls | n | durationMs p50 | p99 | mean | " + " | ".join(f"{s} p50 / mean" for s in _STAGES)
           + " | other (parse, auth, routing) mean |", "|---|---:|---:|---:|---:|" + "---:|" * (len(_STAGES) + 1)]
    for label, chosen in (("with cards", [c for c in calls if c.get("cards")]),
                          ("no cards", [c for c in calls if not c.get("cards")]), ("all", calls)):
        if not chosen:
            continue
        durations = [float(c["durationMs"]) for c in chosen]
        cells = []
        stage_means = 0.0
        for stage in _STAGES:
            values = [float((c.get("stages") or {}).get(stage, 0.0)) for c in chosen]
            stage_means += statistics.mean(values)
            cells.append(f"{statistics.median(values):.2f} / {statistics.mean(values):.2f}")
        other = statistics.mean(durations) - stage_means
        out.append(f"| {label} | {len(chosen)} | {statistics.median(durations):.2f} | "
                   f"{percentile(durations, 0.99):.2f} | {statistics.mean(durations):.2f} | "
                   + " | ".join(cells) + f" | {other:.2f} |")
    return out


_STAGES = ("validate", "fetch", "detect", "cards", "check")


def _row(level: str, target: str, kind: str, r: dict[str, Any]) -> str:
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
    rps = f"{r['rps']:.1f}" if r["rps"] else ""
    cards = f"{r['with_cards']}/{r['n']}" if kind == "hook" else ""
    return f"| {level} | {target} | {kind} | {r['n']} | {r['p50']:.2f} | {r['p99']:.2f} | {rps} | {cards} | {statuses} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="hook calls per level and target")
    parser.add_argument("--levels", default="1,8", help="concurrency levels (1 = interleaved with /healthz)")
    parser.add_argument("--workers", type=int, default=None, help="default: cds-service serve's default")
    parser.add_argument("--threads", type=int, default=None, help="default: cds-service serve's default")
    parser.add_argument("--url", help="measure this running service (…/cds-services/leg-weakness) instead")
    parser.add_argument("--compare", help="a second running CDS service (…/cds-services/{id}), measured interleaved")
    parser.add_argument("--feedback-every", type=int, default=4, help="at c>1, every Nth call of ours is feedback")
    parser.add_argument("--profile", action="store_true", help="stage breakdown from the server's hook-call log")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="load generator: a plain keep-alive socket (bench/raw_http.py) or httpx")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        server = None if args.url else Server(tmp, args.workers, args.threads)
        try:
            url = args.url or f"{server.url}/cds-services/{SERVICE}"  # type: ignore[union-attr]
            base = url.split("/cds-services/")[0]
            templates = {s["id"]: s.get("prefetch") or {} for s in discovery(base)}
            cases = choose_cases(templates)
            targets = [make_target("this service", url, cases, own=True)]
            if args.compare:
                targets.append(make_target(f"compare ({urlsplit(args.compare).netloc})", args.compare, cases,
                                           own=False))
            seed = warm(targets, args.client)
            results: list[tuple[str, list[Sample], float]] = []
            for level in (int(c) for c in args.levels.split(",")):
                if level == 1:
                    samples, elapsed = run_sequential(targets, args.requests, args.client)
                else:
                    samples, elapsed = run_concurrent(targets, level, args.requests, args.feedback_every, seed,
                                                     args.client)
                results.append((f"c={level}", samples, elapsed))
            log_lines = profile(server.log_path) if args.profile and server else []
        finally:
            if server is not None:
                server.close()
    load_after = os.getloadavg()
    report(args, cases, targets, results, log_lines, load_before, load_after)
    return 0


def report(args: argparse.Namespace, cases: list[Case], targets: list[Target],
           results: list[tuple[str, list[Sample], float]], log_lines: list[str],
           load_before: tuple[float, float, float], load_after: tuple[float, float, float]) -> None:
    ours = targets[0]
    sizes = sorted(len(b) for b in ours.bodies)
    parse_p50, parse_p99 = json_loads_ms(ours.bodies)
    config = "a running service" if args.url else (
        f"cds-service serve {'--workers ' + str(args.workers) if args.workers else '(default workers)'} "
        f"{'--threads ' + str(args.threads) if args.threads else '(default threads)'}")
    print(f"{len(cases)} bodies ({sum(c.complaint for c in cases)} with a complaint), "
          f"{sizes[0] / 1024:.0f}-{sizes[-1] / 1024:.0f} KiB (median {statistics.median(sizes) / 1024:.0f} KiB); "
          f"{config}, auth off, loopback; client {args.client}; {os.cpu_count()} cores; load average before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f}\n")
    print("| level | service | call | n | p50 ms | p99 ms | calls/s | with cards | statuses |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    summary: dict[str, dict[str, Any]] = {}
    for level, samples, elapsed in results:
        for target in targets:
            for kind in ("hook", "feedback", "healthz"):
                r = summarize(samples, kind, target.label, elapsed if kind == "hook" else None)
                if r["n"]:
                    r["all_rps"] = sum(1 for s in samples if s.target == target.label and s.kind != "healthz") / elapsed
                    print(_row(level, target.label, kind, r))
                    summary[f"{level} {target.label} {kind}"] = r
    print(f"\njson.loads of the same bodies (this process, no HTTP): p50 {parse_p50:.3f} ms, p99 {parse_p99:.3f} ms")
    hook1, health1 = summary.get(f"c=1 {ours.label} hook"), summary.get(f"c=1 {ours.label} healthz")
    if hook1 and health1:
        service = hook1["p50"] - health1["p50"]
        limit = 3 * parse_p50 + 2
        print(f"service time at c=1: hook p50 {hook1['p50']:.2f} - /healthz p50 {health1['p50']:.2f} = "
              f"{service:.2f} ms (target <= 3 x {parse_p50:.3f} + 2 = {limit:.2f} ms: "
              f"{'met' if service <= limit else 'NOT met'})")
    for key, r in summary.items():
        if key.startswith("c=8 " + ours.label):
            kind = key.rsplit(" ", 1)[-1]
            errors = sum(v for k, v in r["statuses"].items() if k != 200)
            if kind == "hook":
                print(f"c=8 hook: p99 {r['p99']:.1f} ms (<= 50), {r['rps']:.0f} hook calls/s, "
                      f"{r['all_rps']:.0f} calls/s with feedback (>= 250), {errors} errors")
            elif kind == "feedback":
                print(f"c=8 feedback: p99 {r['p99']:.1f} ms (<= 50), {errors} errors")
    if log_lines:
        print("\nInside the service (ms, from the hook-call log of every call in the run):\n")
        print("\n".join(log_lines))


if __name__ == "__main__":
    raise SystemExit(main())
