"""A durable fallback for inbound messages the database could not take: one JSON file each.

`healthbot db replay-spool` stores them once the database is back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.store.models import utcnow

SPOOL_DIR = "spool"


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One spooled message: its file, the raw form Twilio posted, and when it came in."""

    path: Path
    form: dict[str, str]
    spooled_at: dt.datetime | None
    error: str | None = None  # why the file could not be read (it is left in place)


def spool_inbound(instance_dir: Path, form: dict[str, str]) -> Path:
    """Write the raw form atomically; the MessageSid names the file, so retries overwrite."""
    folder = instance_dir / SPOOL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    raw = form.get("MessageSid", "")
    sid = "".join(c for c in raw if c.isascii() and c.isalnum())[:64]
    if sid != raw or not sid:
        # Not a Twilio SID: two such ids must not share a file (nor climb out of the folder).
        digest = hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:16]
        sid = f"{sid[:40] or 'unknown'}-{digest}"
    target = folder / f"{sid}.json"
    payload = {"form": form, "spooled_at": utcnow().isoformat()}
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


def spooled(instance_dir: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """Yield (path, form) for every spooled message, oldest first."""
    folder = instance_dir / SPOOL_DIR
    if not folder.exists():
        return
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
        data = json.loads(path.read_text("utf-8"))
        yield path, data["form"]


def spool_entries(instance_dir: Path) -> Iterator[SpoolEntry]:
    """Yield every spooled message, oldest first (an unreadable file with its `error`)."""
    folder = instance_dir / SPOOL_DIR
    if not folder.exists():
        return
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
        try:
            data = json.loads(path.read_text("utf-8"))
            form = {str(k): str(v) for k, v in dict(data["form"]).items()}
            when = data.get("spooled_at")
            spooled_at = dt.datetime.fromisoformat(when) if isinstance(when, str) else None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            yield SpoolEntry(path, {}, None, error=f"unreadable: {type(exc).__name__}")
            continue
        if spooled_at is not None and spooled_at.tzinfo is None:
            spooled_at = spooled_at.replace(tzinfo=dt.UTC)
        yield SpoolEntry(path, form, spooled_at)
