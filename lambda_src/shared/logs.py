"""Structured logs: one JSON object per line on stdout, which Lambda ships to CloudWatch Logs, so a metric filter or
a Logs Insights query reads fields, not prose."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from typing import Any


class _JsonFormatter(logging.Formatter):
    def __init__(self, context: contextvars.ContextVar[str | None] | None) -> None:
        super().__init__()
        self._context = context

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"level": record.levelname, "message": record.getMessage()}
        if self._context is not None:  # the job an invocation works on, on every line it logs
            entry[self._context.name] = self._context.get()
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, sort_keys=True, default=str)


class _StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at emit time (a test's captured stdout, Lambda's log stream)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(self.format(record) + "\n")


class StructuredLog:
    """``log(logging.INFO, "message", field=value, ...)``; ``context``, when given, adds its variable's current value
    under its name to every line (e.g. the restore job an invocation handles)."""

    def __init__(self, name: str, context: contextvars.ContextVar[str | None] | None = None) -> None:
        self._logger = logging.getLogger(name)
        if not self._logger.handlers:  # a warm start imports the module once; a test may import it again
            handler = _StdoutHandler()
            handler.setFormatter(_JsonFormatter(context))
            self._logger.addHandler(handler)
            self._logger.propagate = False
        self._logger.setLevel(logging.INFO)

    def __call__(self, level: int, message: str, **fields: Any) -> None:
        self._logger.log(level, message, extra={"fields": fields})
