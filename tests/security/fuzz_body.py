"""atheris (coverage-guided, libFuzzer) over the body parser; run by test_fuzz_body.py, bounded.

    python tests/security/fuzz_body.py -runs=20000 -max_total_time=60 [corpus dir]

Each input must either parse or raise InvalidJSONError (never another exception), must be
decided within 1 s, and an accepted value must have no repeated key and no depth over 64,
as decided by the standard library reference. Any violation is a crash (non-zero exit).
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any

import atheris

from cds_service.errors import InvalidJSONError
from cds_service.http import body
from cds_service.http.body import MAX_DEPTH, parse_json

# coverage feedback from the parser's own code only (importing the package loads the whole app)
for _function in [f for f in vars(body).values() if callable(f) and getattr(f, "__module__", "") == body.__name__
                  and hasattr(f, "__code__")]:
    atheris.instrument_func(_function)


class _Repeated(Exception):
    pass


def _strict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise _Repeated()
    return dict(pairs)


def _int(text: str) -> int | float:
    """orjson reads integers beyond 64 bits as floats (as JavaScript does); so does the reference."""
    number = int(text)
    return number if -(2**63) <= number < 2**64 else float(text)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def test_one_input(data: bytes) -> None:
    started = time.monotonic()
    try:
        value = parse_json(data)
    except InvalidJSONError:
        accepted = False
    else:
        accepted = True
    elapsed = time.monotonic() - started
    if elapsed > 1.0:
        raise AssertionError(f"{len(data)} bytes took {elapsed:.2f} s")
    if not accepted:
        return
    reference = json.loads(data.removeprefix(b"\xef\xbb\xbf").decode("utf-8"), object_pairs_hook=_strict,
                           parse_int=_int)
    if _depth(reference) > MAX_DEPTH:
        raise AssertionError("accepted a body nested too deep")
    if json.dumps(reference, sort_keys=True) != json.dumps(value, sort_keys=True):
        raise AssertionError("accepted value differs from the reference")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
