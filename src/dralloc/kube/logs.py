"""Logs a cluster's log pipeline can read: one JSON object per line (`--log-format json`),
with the objects a message is about as fields (`pod`, `claim`, `node`), as kube-scheduler's
structured logs carry `pod="ns/name"`; or plain text for a terminal.

    log.info("bound", extra={"pod": "default/train-0", "node": "gpu-3"})
    -> {"ts":"2026-12-07T03:04:05.123Z","level":"info","logger":"dralloc.kube.live",
        "msg":"bound","pod":"default/train-0","node":"gpu-3"}
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# The fields a record may carry beside its message, in this order.
REFERENCES = ("pod", "claim", "node", "plugin", "reason")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, object] = {
            "ts": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for field in REFERENCES:
            value = record.__dict__.get(field)
            if value is not None:
                out[field] = value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """Plain lines, the references appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        refs = [
            f"{field}={record.__dict__[field]}"
            for field in REFERENCES
            if record.__dict__.get(field) is not None
        ]
        return f"{line} {' '.join(refs)}" if refs else line


def configure(level: int, log_format: str) -> None:
    """Send the process's logs to stderr in `log_format` ("text" or "json")."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
