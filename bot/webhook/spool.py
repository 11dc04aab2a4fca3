"""A durable fallback for inbound messages the database could not take: one JSON file each.

`healthbot db replay-spool` stores them once the database is back.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bot.store.models import utcnow

SPOOL_DIR = "spool"


def spool_inbound(instance_dir: Path, form: dict[str, str]) -> Path:
    """Write the raw form atomically; the MessageSid names the file, so retries overwrite."""
    folder = instance_dir / SPOOL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    sid = "".join(c for c in form.get("MessageSid", "unknown") if c.isalnum())[:64] or "unknown"
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
