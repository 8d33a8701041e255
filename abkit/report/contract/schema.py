"""The JSON Schema of the report, generated from the models (published as docs/report.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from abkit.report.contract.report import Report


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``Report.to_dict()``: what the JSON holds, as it is written."""
    schema = Report.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """The schema as the published file holds it (two-space indent, trailing newline)."""
    return json.dumps(report_json_schema(), indent=2, ensure_ascii=False) + "\n"
