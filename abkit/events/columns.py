"""Column names, in one place. They are also the field names of the files `abkit ingest` reads."""

from typing import Final, Literal

EventKind = Literal["prediction", "selection", "case"]
EVENT_KINDS: Final[tuple[EventKind, ...]] = ("prediction", "selection", "case")

HOLDOUT_ARM: Final = "holdout"
TOP_K: Final = 5

# shared
CASE_ID: Final = "case_id"
MESSAGE_ID: Final = "message_id"
ADVOCATE_ID: Final = "advocate_id"
EXPERIMENT: Final = "experiment"
ARM: Final = "arm"
MODEL_VERSION: Final = "model_version"
CREATED_AT: Final = "created_at"

# prediction
PREDICTION_ID: Final = "prediction_id"
LATENCY_MS: Final = "latency_ms"
TEMPLATE_ID_COLUMNS: Final = tuple(f"template_id_{rank}" for rank in range(1, TOP_K + 1))
SCORE_COLUMNS: Final = tuple(f"score_{rank}" for rank in range(1, TOP_K + 1))

# selection
SELECTION_ID: Final = "selection_id"
TEMPLATE_ID: Final = "template_id"
SELECTION_TIME_S: Final = "selection_time_s"

# case
HANDLE_TIME_S: Final = "handle_time_s"
CLOSED_AT: Final = "closed_at"

PREDICTION_COLUMNS: Final = (
    PREDICTION_ID,
    CASE_ID,
    MESSAGE_ID,
    ADVOCATE_ID,
    EXPERIMENT,
    ARM,
    MODEL_VERSION,
    *TEMPLATE_ID_COLUMNS,
    *SCORE_COLUMNS,
    LATENCY_MS,
    CREATED_AT,
)
SELECTION_COLUMNS: Final = (
    SELECTION_ID,
    CASE_ID,
    MESSAGE_ID,
    ADVOCATE_ID,
    EXPERIMENT,
    ARM,
    MODEL_VERSION,
    TEMPLATE_ID,
    SELECTION_TIME_S,
    CREATED_AT,
    PREDICTION_ID,
)
CASE_COLUMNS: Final = (CASE_ID, HANDLE_TIME_S, CLOSED_AT)

COLUMNS_BY_KIND: Final[dict[EventKind, tuple[str, ...]]] = {
    "prediction": PREDICTION_COLUMNS,
    "selection": SELECTION_COLUMNS,
    "case": CASE_COLUMNS,
}
ID_COLUMN_BY_KIND: Final[dict[EventKind, str]] = {
    "prediction": PREDICTION_ID,
    "selection": SELECTION_ID,
    "case": CASE_ID,
}
TABLE_BY_KIND: Final[dict[EventKind, str]] = {
    "prediction": "predictions",
    "selection": "selections",
    "case": "cases",
}
