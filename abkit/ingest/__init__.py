"""Loading existing logs (CSV, JSON Lines, Parquet) into the event store: `abkit ingest`."""

from abkit.ingest.detect import IngestError, detect_format, infer_kind
from abkit.ingest.run import DEFAULT_CHUNK_ROWS, FileResult, PlannedFile, ingest_file, ingest_paths, plan

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FileResult",
    "IngestError",
    "PlannedFile",
    "detect_format",
    "infer_kind",
    "ingest_file",
    "ingest_paths",
    "plan",
]
