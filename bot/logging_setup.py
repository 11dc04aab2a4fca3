"""Logs as JSON lines with a request id, scrubbed of what could identify a person.

Every process (web workers, the gunicorn master, queue workers) logs one JSON object per line to
stderr: time, level, logger, message, the request or job id, the pid, and a redacted traceback.
The code never logs message text or names on purpose; the scrubber is the second line for what
libraries put in error messages: SQL parameters, PostgreSQL's `DETAIL: Key (...)=(...)`, query
strings, phone numbers and e-mail addresses.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from gunicorn.glogging import Logger as GunicornLogger

# The id of the request (or queue job) this thread is working on, put on every log line.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_OURS = "_healthbot_handler"
# Libraries that log request URLs, parameters or headers at INFO (twilio logs the query
# parameters of every REST call, which carry phone numbers): only their warnings are kept.
_QUIET = ("twilio.http_client", "httpx", "httpcore", "urllib3")

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # SQLAlchemy's "[parameters: {...}]" (hide_parameters=True avoids it; this is the backstop).
    (re.compile(r"\[parameters: [^\n]*"), "[parameters hidden]"),
    # PostgreSQL error details quote the row's values.
    (re.compile(r"(Key \([^)]*\))=\((?:[^()\n]|\([^()\n]*\))*\)"), r"\1=(…)"),
    (re.compile(r"Failing row contains \([^\n]*"), "Failing row contains (…)"),
    # Query strings: staff searches (?q=<number>), Twilio's list filters (?To=whatsapp:+…).
    (re.compile(r"\?[^\s'\"<>]*=[^\s'\"<>]*"), "?[query]"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    # E.164 numbers (with or without "+", "whatsapp:" or spaces), WhatsApp ids.
    (re.compile(r"\+\d[\d ()-]{5,18}\d"), "[number]"),
    (re.compile(r"(?<![\w.])\d{7,15}(?![\w.])"), "[number]"),
)
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{6,64}")


def redact(text: str) -> str:
    """Remove SQL parameters, row values, query strings, e-mail addresses and phone numbers."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def new_request_id(offered: str | None = None) -> str:
    """Return the caller's X-Request-Id when it is a plain token, else a fresh random id."""
    if offered and _SAFE_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


@contextmanager
def bound_request_id(value: str | None) -> Iterator[str | None]:
    """Put this id on every log line written inside the block (a request or a job)."""
    token = request_id.set(value)
    try:
        yield value
    finally:
        request_id.reset(token)


class RedactingFormatter(logging.Formatter):
    """The classic one-line format, scrubbed (HEALTHBOT_LOG_FORMAT=text)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `extra={"fields": {...}}` adds structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
            "pid": record.process,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, redact(value) if isinstance(value, str) else value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def make_formatter(fmt: str = "json") -> logging.Formatter:
    return RedactingFormatter() if fmt == "text" else JsonFormatter()


def configure_logging(level: str = "INFO", fmt: str = "json", *,
                      stream: TextIO | None = None) -> None:
    """Send the root logger to stderr through the scrubbing formatter (idempotent).

    Other handlers on the root logger (pytest's capture, for one) are left alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _OURS, True)
    handler.setFormatter(make_formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _AlembicChatter) for f in migration.filters):
        migration.addFilter(_AlembicChatter())


class _AlembicChatter(logging.Filter):
    """Alembic says which dialect it uses every time a revision is read (/readyz): drop that."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


class JsonGunicornLogger(GunicornLogger):  # type: ignore[misc]  # untyped library class
    """gunicorn's error and access logs as the same JSON lines; the access log has no query.

    The access line carries the method, the path without its query string, the status, the
    size, the duration and the request id the app put on the response (X-Request-Id).
    """

    log_format = "json"

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if cfg.accesslog == "-":
            # One stream for every log line of every process: stderr, like the app's own.
            for handler in list(self.access_log.handlers):
                self.access_log.removeHandler(handler)
            self.access_log.addHandler(logging.StreamHandler(sys.stderr))
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            handler.setFormatter(make_formatter(self.log_format))

    def access(self, resp: Any, req: Any, environ: dict[str, Any],
               request_time: dt.timedelta) -> None:
        if not self.cfg.accesslog:
            return
        rid = next((value for name, value in getattr(resp, "headers", None) or ()
                    if name.lower() == "x-request-id"), None)
        status = str(getattr(resp, "status", "") or "").split(" ", 1)[0]
        fields = {
            "remote": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),  # never the query string
            "status": int(status) if status.isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
        }
        try:
            self.access_log.info("%s %s %s", fields["method"], fields["path"], status,
                                 extra={"fields": fields, "request_id": rid})
        except Exception:
            self.error("failed to write the access log line")


class TextGunicornLogger(JsonGunicornLogger):
    log_format = "text"
