"""Where the event writer saves the events it could not write before closing: JSON Lines files
that ``abkit ingest`` loads. Writes are idempotent by id, so a saved event that did reach the
database after all is harmless to load again.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("abkit.serving.writer")


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def spill(directory: str | Path, kind: str, events: list[dict[str, Any]]) -> Path | None:
    """Save ``events`` of one kind to a new file in ``directory``; its path, or None when it failed (logged)."""
    try:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = folder / f"unwritten-{kind}-{stamp}-{os.getpid()}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(event, default=_json_default) + "\n")
    except OSError as error:
        log.error("event writer: could not save unwritten %s events to %s: %s", kind, directory, error)
        return None
    log.error(
        "event writer: %d unwritten %s events saved to %s; load them with `abkit ingest`", len(events), kind, path
    )
    return path
