"""Time JWT verification in-process (ES384 sandbox-style, RS384 Epic-style), pinned keys.

Each call verifies a fresh token (new jti), so the SQLite replay insert is included.
Run: .venv/bin/python bench/bench_auth.py [N]
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cds_service.client import generate_key, public_jwks, sign_token
from cds_service.http.auth import TokenVerifier
from cds_service.settings import Settings

AUD = "https://cds.example.org/cds-services/leg-weakness"


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        keys = {"ES384": generate_key("ES384"), "RS384": generate_key("RS384")}
        trust = Path(tmp) / "trust.yaml"
        trust.write_text("clients:\n" + "".join(
            f"  - issuer: https://{alg.lower()}.test\n    jwks: {json.dumps(public_jwks([key]))}\n"
            for alg, key in keys.items()))
        verifier = TokenVerifier(Settings(data_dir=tmp, trust_file=str(trust), base_url="https://cds.example.org"))
        for alg, key in keys.items():
            style = "sandbox" if alg == "ES384" else "epic"
            tokens = [sign_token(key, f"https://{alg.lower()}.test", AUD, style=style) for _ in range(n)]
            timings = []
            for token in tokens:
                started = time.perf_counter()
                verifier.verify(f"Bearer {token}", "/cds-services/leg-weakness")  # aud = CDS_BASE_URL + path
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            print(f"{alg} ({style}): n={n} median {statistics.median(timings):.3f} ms, "
                  f"p95 {timings[int(n * 0.95) - 1]:.3f} ms, max {timings[-1]:.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
