"""A bounded atheris run over the body parser (see fuzz_body.py for what counts as a crash)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import hook_body

HERE = Path(__file__).resolve().parent
SEEDS = [hook_body(), b'{"a": [1, 2.5, "x\\u003a", {"b": null}], "c": true}', b'"' + b'\\"' * 40,
         b"[" * 70 + b"]" * 70, b'{"a\\u003a":1,"a:":2}', b'{"k":"v:","k":1}', b"\xef\xbb\xbf[-0.0, 1e308]"]
#: libFuzzer dictionary: JSON tokens and the escapes the duplicate count must get right
TOKENS = ['"{"', '"}"', '"["', '"]"', '"\\""', '":"', '","', '"\\\\u003a"', '"\\\\u003A"', '"\\\\\\\\"',
          '"\\\\\\""', '"true"', '"null"', '"NaN"', '"1e400"', '"\\\\ud800"', '"\\xef\\xbb\\xbf"']


def test_atheris_finds_no_crash_in_the_body_parser(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is a test extra: pip install '.[test]'")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for index, seed in enumerate(SEEDS):
        (corpus / f"seed-{index}").write_bytes(seed)
    (tmp_path / "json.dict").write_text("\n".join(TOKENS) + "\n")
    run = subprocess.run(
        [sys.executable, str(HERE / "fuzz_body.py"), "-runs=50000", "-max_total_time=30", "-max_len=2048",
         "-timeout=5", "-rss_limit_mb=2048", "-print_final_stats=1", f"-dict={tmp_path / 'json.dict'}",
         str(corpus)],
        capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done" in run.stderr or "stat::number_of_executed_units" in run.stderr, run.stderr[-2000:]
