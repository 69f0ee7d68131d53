"""Structured JSON logging.

Every line is one JSON object. Callers pass fields, never formatted strings with
tokens or patient data; ``hash_patient_id`` turns a patient id into a salted hash.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from typing import Any

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
