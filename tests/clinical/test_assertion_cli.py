"""`cds-service assertions FILE [--format table|json]`: shapes, counts, and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cds_service.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "nlp" / "assertions"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["assertions", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_has_exactly_the_shape_of_the_issue() -> None:
    code, out, _ = run(str(DATA / "small.tsv"), "--format", "json")
    assert code == 0
    body = json.loads(out)
    assert list(body) == ["n", "skipped", "negation", "historical", "hypothetical", "experiencer"]
    assert set(body["negation"]) == {"accuracy", "precision", "recall", "f1", "confusion"}
    assert all(set(body[k]) == {"precision", "recall", "f1"} for k in ("historical", "hypothetical", "experiencer"))
    assert body["n"] == 7 and body["skipped"] == 1
    assert body["negation"]["confusion"] == {"tp": 2, "fp": 0, "fn": 0, "tn": 4}
    assert body["negation"]["accuracy"] == 1.0
    assert body["historical"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert body["hypothetical"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert body["experiencer"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_table_lists_every_attribute_with_counts() -> None:
    code, out, _ = run(str(DATA / "small.tsv"))
    assert code == 0
    assert "7 annotated conditions, 1 skipped" in out
    negation = next(line for line in out.splitlines() if line.startswith("negation"))
    assert negation.split()[1:5] == ["2", "0", "0", "4"]
    for name in ("historical", "hypothetical", "experiencer"):
        assert any(line.startswith(name) for line in out.splitlines())


def test_the_four_column_form_scores_negation_only() -> None:
    code, out, _ = run(str(DATA / "negation-only.tsv"), "--format", "json")
    body = json.loads(out)
    assert code == 0 and body["negation"]["confusion"] == {"tp": 1, "fp": 0, "fn": 0, "tn": 1}
    assert body["historical"] == {"precision": None, "recall": None, "f1": None}
    assert "not annotated" in run(str(DATA / "negation-only.tsv"))[1]


@pytest.mark.parametrize("content,message", [
    (b"", "empty file"),
    (b"id\tcondition\n1\tx\n", "expected 4 to 6"),
    (b"id\tcondition\tsentence\tnegation\n1\tfever\tno fever\n", "line 2: 3 tab-separated columns"),
    (b"id\tcondition\tsentence\tnegation\n1\tfever\tno fever\tmaybe\n", "line 2: negation is 'maybe'"),
    (b"id\tcondition\tsentence\tnegation\ttemporality\n1\tfever\tno fever\tNegated\tyesterday\n", "temporality"),
    (b"id\tcondition\tsentence\tnegation\n", "no annotated rows"),
    (b"id\tcondition\tsentence\tnegation\n1\t\tno fever\tNegated\n", "must not be empty"),
    (b"\xff\xfe\x00b\x00a\x00d", "not UTF-8"),
])
def test_bad_files_give_a_clear_error_and_exit_code(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    code, out, err = run(str(path))
    assert code == 1
    assert message in err and "Traceback" not in err + out


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "nope.tsv"))
    assert code == 2 and "does not exist" in err
