"""Structured daemon events: one log record per event, formatted as one line.

``event("job_done", id=3, path="/in/a.mp4")`` logs through the ``filmcolor.daemon`` logger
with the event name and its fields attached to the record. The CLI picks the formatter:
``PlainEventFormatter`` (``filmcolor: watch: job_done id=3 path=/in/a.mp4``) or
``JsonEventFormatter`` (``{"ts": "...", "level": "info", "event": "job_done", "id": 3, ...}``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

log = logging.getLogger("filmcolor.daemon")


def _plain_value(value: Any) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in "\"'=\\" for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def format_fields(name: str, fields: dict[str, Any]) -> str:
    """``name key=value ...``; values with spaces or quotes are JSON-quoted."""
    parts = [name, *(f"{k}={_plain_value(v)}" for k, v in fields.items() if v is not None)]
    return " ".join(parts)


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one daemon event ``name`` with ``fields`` (JSON-serialisable values)."""
    log.log(level, format_fields(name, fields), extra={"event": name, "fields": fields})


class PlainEventFormatter(logging.Formatter):
    """``filmcolor: watch: EVENT key=value ...`` (warnings and errors say so)."""

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        text = f"filmcolor: watch: {level}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonEventFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC ISO 8601), ``level``, ``event``, the fields."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        data: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": getattr(record, "event", "log"),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update({k: v for k, v in fields.items() if k not in data})
        else:
            data["message"] = record.getMessage()
            data["logger"] = record.name
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)
