"""``python -m abkit.report.contract [PATH]``: print the report's JSON Schema, or write it to PATH.

In a source checkout: ``python -m abkit.report.contract docs/report.schema.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from abkit.report.contract.schema import schema_text

if len(sys.argv) > 1:
    Path(sys.argv[1]).write_text(schema_text(), encoding="utf-8")
else:
    sys.stdout.write(schema_text())
