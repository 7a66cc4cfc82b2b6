"""One JSON object per log line, carrying the request and job in hand (never an API key)."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

# Read-only default: every change sets a new dict (log_context, bind), so tasks never share one.
_context: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({}))
_STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


@contextlib.contextmanager
def log_context(**fields):
    """Add fields (request_id, job_id, owner, ...) to every line logged inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields) -> contextvars.Token:
    return _context.set({**_context.get(), **fields})


def unbind(token: contextvars.Token) -> None:
    _context.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            event.update(_access_fields(record.args))
        else:
            event["message"] = record.getMessage()
        event.update(_context.get())
        event.update({key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES})
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str)


def _access_fields(atoms: dict) -> dict:
    """gunicorn hands its access-log atoms over as a dict: keep the useful ones, named."""
    return {
        "message": f"{atoms.get('m')} {atoms.get('U')} {atoms.get('s')}",
        "method": atoms.get("m"),
        "path": atoms.get("U"),
        "status": int(atoms.get("s") or 0),
        "bytes": atoms.get("B"),
        "duration_ms": round(int(atoms.get("D") or 0) / 1000, 1),
        "remote": atoms.get("h"),
        "request_id": atoms.get("{x-request-id}o") or None,
    }


def configure(level: str = "INFO") -> None:
    """Send every logger's records to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
