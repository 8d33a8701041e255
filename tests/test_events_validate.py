"""validate_batch: pure polars validation of event batches, typed and untyped inputs."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from abkit.events.validate import MAX_ID_LENGTH, validate_batch


def _selections(**columns) -> pl.DataFrame:
    base = {
        "selection_id": ["s1"],
        "case_id": ["c1"],
        "message_id": ["m1"],
        "advocate_id": ["a1"],
        "experiment": ["standing"],
        "arm": ["v1"],
        "model_version": ["v1"],
        "template_id": ["T1"],
        "selection_time_s": ["12.5"],
        "created_at": ["2026-01-01T10:00:00"],
        "prediction_id": [None],
    }
    base.update(columns)
    return pl.DataFrame(base)


def _verdict(kind: str, frame: pl.DataFrame) -> list[tuple[int, str, str]]:
    return validate_batch(kind, frame).rejected.rows()  # type: ignore[arg-type]


def test_valid_rows_are_typed_and_keep_their_position():
    frame = pl.concat([_selections(selection_id=["s1"]), _selections(selection_id=["s2"], selection_time_s=["-1"])])
    checked = validate_batch("selection", frame)
    assert checked.valid["__row__"].to_list() == [0]
    assert checked.valid.schema["selection_time_s"] == pl.Float64
    assert checked.valid.schema["created_at"] == pl.Datetime("us")
    assert checked.rejected.rows() == [(1, "selection_time_s", "out of range [0, 86400]: -1.0")]


def test_strings_are_trimmed_and_empty_optional_becomes_null():
    checked = validate_batch("selection", _selections(case_id=["  c1 "], prediction_id=[""]))
    assert checked.valid["case_id"].to_list() == ["c1"]
    assert checked.valid["prediction_id"].to_list() == [None]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 10)),
        (datetime(2026, 1, 1, 10, tzinfo=timezone(timedelta(hours=2))), datetime(2026, 1, 1, 8)),
        (date(2026, 1, 1), datetime(2026, 1, 1)),
        ("2026-01-01 10:00:00.5", datetime(2026, 1, 1, 10, 0, 0, 500000)),
        ("2026-01-01T10:00:00-05:00", datetime(2026, 1, 1, 15)),
    ],
)
def test_timestamps_in_many_shapes_become_naive_utc(value, expected):
    checked = validate_batch("case", pl.DataFrame({"case_id": ["c1"], "handle_time_s": [1.0], "closed_at": [value]}))
    assert checked.rejected.height == 0
    assert checked.valid["closed_at"].to_list() == [expected]


def test_epoch_seconds_as_numbers():
    checked = validate_batch(
        "case", pl.DataFrame({"case_id": ["c1"], "handle_time_s": [1.0], "closed_at": [1767225600.0]})
    )
    assert checked.valid["closed_at"].to_list() == [datetime(2026, 1, 1)]


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # a valid date whose UTC time is before year 1
        "9999-12-31T23:59:59-01:00",  # ... or after year 9999
        10**15,  # epoch seconds past year 9999
        -(10**13),  # ... and before year 1
    ],
)
def test_timestamps_outside_the_datetime_range_are_rejected_not_raised(value):
    good = "2026-01-01" if isinstance(value, str) else 0
    frame = pl.DataFrame({"case_id": ["c1", "c2"], "handle_time_s": [1.0, 2.0], "closed_at": [value, good]})
    checked = validate_batch("case", frame)
    assert checked.valid["case_id"].to_list() == ["c2"]
    assert checked.rejected.rows() == [(0, "closed_at", f"not an ISO 8601 timestamp: {value}")]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"selection_id": ["x" * (MAX_ID_LENGTH + 1)]}, "selection_id", "longer than 128 characters"),
        ({"template_id": ["T\x001"]}, "template_id", "contains a NUL character"),
        ({"experiment": [None]}, "experiment", "missing or empty"),
        ({"selection_time_s": ["inf"]}, "selection_time_s", "not finite"),
        ({"selection_time_s": ["1\ufffd"]}, "selection_time_s", "not valid UTF-8"),
        ({"created_at": ["2026-01-01\ufffd"]}, "created_at", "not valid UTF-8"),
        ({"created_at": [""]}, "created_at", "missing"),
        ({"arm": ["v2"]}, "arm", "unknown arm v2: expected 'holdout' or the model_version v1"),
    ],
)
def test_first_failing_check_names_field_and_reason(changes, field, reason):
    assert _verdict("selection", _selections(**changes)) == [(0, field, reason)]


def test_first_field_in_declaration_order_wins():
    rows = _verdict("selection", _selections(selection_id=[""], selection_time_s=["-1"]))
    assert rows == [(0, "selection_id", "missing or empty")]


def test_missing_required_column_rejects_every_row():
    frame = _selections().drop("template_id")
    assert _verdict("selection", frame) == [(0, "template_id", "column missing from the input")]
    # An optional column may be left out.
    assert validate_batch("selection", _selections().drop("prediction_id")).rejected.height == 0


def _prediction(**changes) -> dict:
    row: dict = {
        "prediction_id": "p1", "case_id": "c1", "message_id": "m1", "advocate_id": "a1",
        "experiment": "standing", "arm": "holdout", "model_version": "v1",
        "template_id_1": "T1", "score_1": 0.6, "template_id_2": "T2", "score_2": 0.3,
        "template_id_3": None, "score_3": None, "template_id_4": None, "score_4": None,
        "template_id_5": None, "score_5": None, "latency_ms": 8.0, "created_at": "2026-01-01T10:00:00",
    }  # fmt: skip
    row.update(changes)
    return row


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"template_id_1": None, "score_1": None}, "template_id_1", "missing or empty"),
        ({"template_id_4": "T4", "score_4": 0.1}, "template_id_4", "ranks must be filled in order"),
        ({"score_2": None}, "score_2", "template_id_2 and score_2 must be given together"),
        ({"score_1": -0.1}, "score_1", "out of range [0, 1]: -0.1"),
        ({"latency_ms": -5.0}, "latency_ms", "out of range [0, 3.6e+06]: -5.0"),
    ],
)
def test_prediction_rules(changes, field, reason):
    frame = pl.DataFrame([_prediction(**changes)], infer_schema_length=None)
    rows = _verdict("prediction", frame)
    assert len(rows) == 1 and rows[0][:2] == (0, field)
    assert reason in rows[0][2]


def test_a_full_valid_prediction():
    frame = pl.DataFrame([_prediction()], infer_schema_length=None)
    checked = validate_batch("prediction", frame)
    assert checked.rejected.height == 0
    assert checked.valid["template_id_3"].to_list() == [None]


def test_ids_typed_as_integers_are_text():
    frame = pl.DataFrame({"case_id": [17], "handle_time_s": [1], "closed_at": ["2026-01-01"]})
    checked = validate_batch("case", frame)
    assert checked.valid["case_id"].to_list() == ["17"]
    assert checked.valid["handle_time_s"].to_list() == [1.0]


def test_optional_check_against_registered_arms():
    # EventStore.write does not use it (historical arms must load); callers may ask for it.
    registered = {"standing": frozenset({"holdout", "v2"})}
    assert _verdict("selection", _selections()) == []
    rows = validate_batch("selection", _selections(), known_arms=registered).rejected.rows()
    assert rows == [(0, "arm", "arm v1 is not an arm of experiment standing")]
    other = validate_batch("selection", _selections(experiment=["elsewhere"]), known_arms=registered)
    assert other.rejected.height == 0


def _two_selections(column: str, values: pl.Series) -> pl.DataFrame:
    frame = pl.concat([_selections(selection_id=["s1"]), _selections(selection_id=["s2"])])
    return frame.with_columns(values.alias(column))


@pytest.mark.parametrize(
    ("column", "values", "what"),
    [
        # Types a Parquet file (or a frame from the API) can hold that no field can: refused row
        # by row with the field named, not a polars exception that stopped the whole ingest.
        ("case_id", pl.Series([b"c1", None], dtype=pl.Binary), "text"),
        ("case_id", pl.Series([["c", "1"], None]), "text"),
        ("selection_time_s", pl.Series([{"s": 1.0}, None]), "a number"),
        ("created_at", pl.Series([[1], None]), "a timestamp"),
        # ... and types polars would cast into something else: True is not 1.0 second, and an id
        # typed as float (1.0, an integer id that went through a nullable float column) is not "1.0".
        ("selection_time_s", pl.Series([True, None]), "a number"),
        ("case_id", pl.Series([1.0, None]), "text"),
        ("created_at", pl.Series([True, None]), "a timestamp"),
    ],
)
def test_a_column_of_a_type_its_field_cannot_hold_is_rejected_naming_the_field(column, values, what):
    checked = validate_batch("selection", _two_selections(column, values))
    assert checked.valid.height == 0
    first, second = checked.rejected.rows()
    assert first == (0, column, f"wrong type: a {values.dtype} column, where {what} is expected")
    assert second[:2] == (1, column)  # null: the field's own rule (missing) or the type, never a pass


@pytest.mark.parametrize(
    ("values", "stored"),
    [
        (pl.Series([7, 8], dtype=pl.Int64), ["7", "8"]),
        (pl.Series([7, 8], dtype=pl.UInt32), ["7", "8"]),
        (pl.Series([" c1", "c2 "], dtype=pl.Categorical), ["c1", "c2"]),  # trimmed like any id
        (pl.Series([7, 8], dtype=pl.Decimal(38, 0)), ["7", "8"]),
    ],
)
def test_integer_and_categorical_ids_are_text(values, stored):
    checked = validate_batch("selection", _two_selections("case_id", values))
    assert checked.rejected.height == 0
    assert checked.valid["case_id"].to_list() == stored
