"""``python -m abkit.report.contract [PATH]``: write the report's JSON Schema (default: docs/report.schema.json)."""

from __future__ import annotations

import sys
from pathlib import Path

from abkit.report.contract.schema import PUBLISHED, schema_text

target = Path(sys.argv[1]) if len(sys.argv) > 1 else PUBLISHED
target.write_text(schema_text(), encoding="utf-8")
print(f"wrote {target}")
