"""The report contract: typed models of the JSON `abkit report` writes, and its JSON Schema.

The models serialise themselves (``Report.to_dict()``) and read a document back
(``Report.model_validate``); ``docs/report.schema.json`` is generated from them
(``python -m abkit.report.contract``) and a test keeps the two equal.
"""

from abkit.report.contract.report import SCHEMA_VERSION, Report
from abkit.report.contract.schema import report_json_schema

__all__ = ["SCHEMA_VERSION", "Report", "report_json_schema"]
