"""Structured JSON logging.

Every line is one JSON object. Callers pass fields, never formatted strings with
tokens or patient data; ``hash_patient_id`` turns a patient id into a salted hash.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

LOGGER_NAME = "cds_service"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with the fields passed in ``extra={"fields": ...}``."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            body.update(fields)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


def configure(level: str = "INFO") -> logging.Logger:
    """Send the service's logs to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level.upper())
    if not any(getattr(h, "_cds_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._cds_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = True
    return logger


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def log_event(event: str, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    """Log one structured event."""
    get_logger().log(level, event, extra={"fields": fields}, exc_info=exc_info)


def hash_patient_id(patient_id: str | None, salt: str) -> str | None:
    """A salted SHA-256 of a patient id (first 32 hex chars), for logs and audit rows."""
    if not patient_id:
        return None
    return hashlib.sha256(f"{salt}:{patient_id}".encode()).hexdigest()[:32]


SALT_FILE = "patient-hash-salt"


def patient_hash_salt(configured: str, data_dir: str | Path) -> str:
    """The salt of the patient-id hash: ``CDS_PATIENT_HASH_SALT``, else one kept in the data dir.

    With no salt configured, a random one is made on the first start and kept in
    ``CDS_DATA_DIR/patient-hash-salt`` (mode 600), so hashes stay stable across restarts and
    cannot be reversed with a dictionary of patient ids. Several instances (hosts, containers)
    must share one explicit ``CDS_PATIENT_HASH_SALT``, or the same patient hashes differently on
    each. Creating the file is atomic (a worker that loses the race reads the winner's salt).
    """
    if configured:
        return configured
    path = Path(data_dir) / SALT_FILE
    try:
        return _read_salt(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = path.with_name(f".{SALT_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    try:
        os.link(candidate, path)  # fails if another process made it first: then theirs is used
    except FileExistsError:
        pass
    finally:
        candidate.unlink()
    return _read_salt(path)


def _read_salt(path: Path) -> str:
    salt = path.read_text(encoding="ascii").strip()
    if not salt:
        raise ConfigurationError(f"{path} is empty: delete it to make a new salt, or set CDS_PATIENT_HASH_SALT")
    return salt
