"""Validation of report documents against the published JSON Schema (docs/report.schema.json).

The validator is the ``jsonschema`` library reading the committed file, so a report is checked
by something that knows nothing of the pydantic models the schema was generated from.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

PUBLISHED = Path(__file__).resolve().parents[1] / "docs" / "report.schema.json"


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(document: Any) -> list[str]:
    """Every way ``document`` breaks the published schema, as ``path: message`` lines."""
    errors = sorted(validator().iter_errors(document), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}" for error in errors]


def assert_valid_report(document: Any) -> None:
    """Fail with every schema error of ``document`` (a report's JSON form)."""
    errors = schema_errors(document)
    assert not errors, "report breaks docs/report.schema.json:\n" + "\n".join(errors[:20])
