"""EventStore: round trip, idempotence, all-or-nothing batches, rejects, on SQLite, PostgreSQL and DuckDB."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import select, text

from abkit.assignment.config import ConfigError
from abkit.events import EventError, EventStore, WriteResult
from abkit.events.schema import cases, predictions, rejects, selections
from abkit.events.store import Reject, UnreadableRow


def _prediction(i: int, **changes) -> dict:
    row = {
        "prediction_id": f"p{i}",
        "case_id": f"c{i}",
        "message_id": f"m{i}",
        "advocate_id": "a1",
        "experiment": "standing",
        "arm": "v1",
        "model_version": "v1",
        "template_id_1": "T0001",
        "template_id_2": "T0002",
        "template_id_3": "T0003",
        "template_id_4": None,
        "template_id_5": None,
        "score_1": 0.5,
        "score_2": 0.25,
        "score_3": 0.125,
        "score_4": None,
        "score_5": None,
        "latency_ms": 12.5,
        "created_at": "2026-01-01T10:00:00.250000Z",
    }
    row.update(changes)
    return row


def _selection(i: int, **changes) -> dict:
    row = {
        "selection_id": f"s{i}",
        "case_id": f"c{i}",
        "message_id": f"m{i}",
        "advocate_id": "a1",
        "experiment": "standing",
        "arm": "holdout",
        "model_version": "v1",
        "template_id": "T0002",
        "selection_time_s": 19.5,
        "created_at": "2026-01-01T10:00:05+01:00",
        "prediction_id": f"p{i}",
    }
    row.update(changes)
    return row


def _case(i: int, **changes) -> dict:
    row = {"case_id": f"c{i}", "handle_time_s": 300.0, "closed_at": "2026-01-01T11:00:00"}
    row.update(changes)
    return row


def _round_trip(url: str) -> None:
    store = EventStore.open(url)
    assert store.has_schema()
    assert store.write("prediction", [_prediction(1)]).accepted == 1
    assert store.write("selection", [_selection(1)]).accepted == 1
    assert store.write("case", [_case(1)]).accepted == 1
    with store.engine.connect() as conn:
        prediction = conn.execute(select(predictions)).mappings().one()
        selection = conn.execute(select(selections)).mappings().one()
        case = conn.execute(select(cases)).mappings().one()
    assert prediction["template_id_3"] == "T0003"
    assert prediction["template_id_4"] is None
    assert prediction["score_2"] == pytest.approx(0.25)
    # "Z" and "+01:00" are converted to naive UTC.
    assert prediction["created_at"] == datetime(2026, 1, 1, 10, 0, 0, 250000)
    assert selection["created_at"] == datetime(2026, 1, 1, 9, 0, 5)
    assert selection["arm"] == "holdout"
    assert selection["selection_time_s"] == pytest.approx(19.5)
    assert selection["prediction_id"] == "p1"
    assert case["handle_time_s"] == pytest.approx(300.0)
    assert case["closed_at"] == datetime(2026, 1, 1, 11, 0)


def test_round_trip_sqlite(sqlite_url):
    _round_trip(sqlite_url)


@pytest.mark.postgres
def test_round_trip_postgres(postgres_url):
    _round_trip(postgres_url)


def test_round_trip_duckdb(tmp_path):
    _round_trip(f"duckdb:///{tmp_path / 'events.duckdb'}")


def test_plain_path_means_sqlite(tmp_path):
    store = EventStore.open(str(tmp_path / "sub" / "events.sqlite"))
    assert store.engine.dialect.name == "sqlite"
    assert (tmp_path / "sub" / "events.sqlite").exists()


def _idempotent(url: str) -> None:
    store = EventStore.open(url)
    batch = [_selection(i) for i in range(5)]
    assert store.write("selection", batch) == WriteResult(accepted=5, duplicates=0, rejected=0)
    again = store.write("selection", batch + [_selection(5)])
    assert (again.accepted, again.duplicates, again.rejected) == (1, 5, 0)
    # An id repeated inside one batch is stored once: the same event again is a duplicate,
    # other content under the same id a conflict, counted apart and never written.
    repeated = store.write("selection", [_selection(9), _selection(9), _selection(9, selection_time_s=1.0)])
    assert (repeated.accepted, repeated.duplicates, repeated.conflicts) == (1, 1, 1)
    assert [(x.row, x.event_id, x.fields) for x in repeated.conflicting] == [(2, "s9", ("selection_time_s",))]
    # The same against events stored by an earlier write; the timestamp is not compared.
    later = store.write(
        "selection",
        [_selection(1, created_at="2026-02-01T00:00:00"), _selection(2, template_id="t-other", arm="v1")],
    )
    assert (later.accepted, later.duplicates, later.conflicts, later.rejected) == (0, 1, 1, 0)
    assert later.conflicting[0].fields == ("arm", "template_id")
    with store.engine.connect() as conn:
        assert conn.execute(text("select count(*) from selections")).scalar() == 7
        kept = conn.execute(text("select selection_time_s from selections where selection_id = 's9'")).scalar()
        template = conn.execute(text("select template_id from selections where selection_id = 's2'")).scalar()
        filed = conn.execute(text("select field, reason, raw from rejects order by reject_id")).all()
    assert kept == pytest.approx(19.5)  # the first of the repeated rows wins
    assert template == _selection(2)["template_id"]
    assert [(fld, reason.split(" (")[0]) for fld, reason, _ in filed] == [
        ("selection_id", "conflicts with the stored event of this id")
    ] * 2
    assert '"template_id": "t-other"' in filed[1][2]  # the conflicting event's content is kept there


def test_idempotent_writes_sqlite(sqlite_url):
    _idempotent(sqlite_url)


@pytest.mark.postgres
def test_idempotent_writes_postgres(postgres_url):
    _idempotent(postgres_url)


def test_idempotent_writes_duckdb(tmp_path):
    _idempotent(f"duckdb:///{tmp_path / 'events.duckdb'}")


@pytest.mark.parametrize(
    ("kind", "row", "field", "reason"),
    [
        ("selection", _selection(1, selection_time_s=-1.0), "selection_time_s", "out of range"),
        ("selection", _selection(1, selection_time_s="fast"), "selection_time_s", "not a number"),
        ("selection", _selection(1, selection_id=""), "selection_id", "missing"),
        ("selection", _selection(1, arm="v7"), "arm", "unknown arm v7"),
        ("selection", _selection(1, created_at="yesterday"), "created_at", "not an ISO 8601 timestamp"),
        ("selection", _selection(1, created_at=None), "created_at", "missing"),
        ("selection", _selection(1, case_id="bad\ufffdbyte"), "case_id", "not valid UTF-8"),
        ("prediction", _prediction(1, score_1=1.5), "score_1", "out of range"),
        ("prediction", _prediction(1, template_id_4="T4"), "score_4", "must be given together"),
        ("prediction", _prediction(1, latency_ms=None), "latency_ms", "missing"),
        ("case", _case(1, handle_time_s=float("nan")), "handle_time_s", "not finite"),
    ],
)
def test_malformed_event_names_the_field(sqlite_url, kind, row, field, reason):
    store = EventStore.open(sqlite_url)
    with pytest.raises(EventError) as caught:
        store.write(kind, [row])
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert caught.value.index == 0


def test_missing_column_names_the_column(sqlite_url):
    store = EventStore.open(sqlite_url)
    row = _selection(1)
    del row["template_id"]
    with pytest.raises(EventError, match="template_id: column missing"):
        store.write("selection", [row])


def test_unknown_kind_is_refused(sqlite_url):
    with pytest.raises(EventError, match="unknown event kind"):
        EventStore.open(sqlite_url).write("click", [{"id": 1}])  # type: ignore[arg-type]


def _all_or_nothing(url: str) -> None:
    store = EventStore.open(url)
    batch = [_selection(i) for i in range(10)]
    batch[7] = _selection(7, selection_time_s=-3.0)
    with pytest.raises(EventError) as caught:
        store.write("selection", batch)
    assert caught.value.index == 7
    with store.engine.connect() as conn:
        assert conn.execute(text("select count(*) from selections")).scalar() == 0
        assert conn.execute(text("select count(*) from rejects")).scalar() == 0


def test_strict_batch_is_all_or_nothing_sqlite(sqlite_url):
    _all_or_nothing(sqlite_url)


@pytest.mark.postgres
def test_strict_batch_is_all_or_nothing_postgres(postgres_url):
    _all_or_nothing(postgres_url)


def test_quarantine_keeps_rejects_with_reason_and_raw_text(sqlite_url):
    store = EventStore.open(sqlite_url)
    batch = [_case(1), _case(2, handle_time_s=-5), _case(3)]
    result = store.write(
        "case",
        batch,
        quarantine=True,
        source="cases.csv",
        raw_rows=["r1", "r2", "r3"],
        row_numbers=[101, 102, 104],
        unreadable=[UnreadableRow(103, "expected 3 fields, found 4", "c9,1,2,3")],
    )
    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, 2)
    assert result.rejects == (Reject(row=1, field="handle_time_s", reason=result.rejects[0].reason),)
    with store.engine.connect() as conn:
        stored, unreadable = conn.execute(select(rejects).order_by(rejects.c.row_number)).mappings().all()
    assert (unreadable["row_number"], unreadable["field"], unreadable["raw"]) == (103, "row", "c9,1,2,3")
    assert unreadable["reason"] == "expected 3 fields, found 4"
    assert stored["source"] == "cases.csv"
    assert stored["row_number"] == 102
    assert stored["field"] == "handle_time_s"
    assert "out of range" in stored["reason"]
    assert stored["raw"] == "r2"
    assert stored["event_kind"] == "case"


@pytest.mark.postgres
def test_quarantine_on_postgres_uses_the_sequence(postgres_url):
    store = EventStore.open(postgres_url)
    for _ in range(2):
        store.write("case", [_case(1, closed_at="never")], quarantine=True, source="x")
    with store.engine.connect() as conn:
        ids = conn.execute(select(rejects.c.reject_id).order_by(rejects.c.reject_id)).scalars().all()
    assert len(ids) == 2 and ids[0] < ids[1]


def test_unreadable_rows_need_quarantine(sqlite_url):
    store = EventStore.open(sqlite_url)
    with pytest.raises(EventError, match="row: not a JSON object"):
        store.write("case", [_case(1)], unreadable=[UnreadableRow(1, "not a JSON object", "[]")])
    only_unreadable = store.write("case", [], quarantine=True, unreadable=[UnreadableRow(1, "not a JSON object", "[]")])
    assert (only_unreadable.accepted, only_unreadable.rejected) == (0, 1)


def test_historical_arms_are_not_refused_by_the_current_experiment(sqlite_url):
    # The standing experiment is now holdout/v2; v1 events from before the release must still load.
    store = EventStore.open(sqlite_url)
    store.register_experiment("standing", "standing", [("holdout", 0.02), ("v2", 0.98)])
    old = store.write("selection", [_selection(1, arm="v1", model_version="v1")])
    assert old.accepted == 1
    assert {arm for arm, _ in store.registered_experiments()["standing"][1]} == {"holdout", "v2"}


def test_register_experiment_and_model_version_upsert(sqlite_url):
    store = EventStore.open(sqlite_url)
    store.register_experiment("standing", "salt-a", [("holdout", 0.02), ("v1", 0.98)])
    store.register_experiment("standing", "salt-b", [("holdout", 0.05), ("v1", 0.95)])
    assert store.registered_experiments() == {"standing": ("salt-b", [("holdout", 0.05), ("v1", 0.95)])}
    store.register_model_version("v1", base_model="pythia-410m", released_at=datetime(2026, 1, 1))
    store.register_model_version("v1", base_model="pythia-1.4b", details={"top1": 0.486})
    with store.engine.connect() as conn:
        rows = conn.execute(text("select model_version, base_model, metadata_json from model_versions")).all()
    assert rows == [("v1", "pythia-1.4b", '{"top1": 0.486}')]


def _frame(n: int, start: int = 0) -> pl.DataFrame:
    t0 = datetime(2026, 1, 1)
    ids = range(start, start + n)
    return pl.DataFrame(
        {
            "selection_id": [f"s{i}" for i in ids],
            "case_id": [f"c{i // 3}" for i in ids],
            "message_id": [f"m{i}" for i in ids],
            "advocate_id": [f"a{i % 7}" for i in ids],
            "experiment": ["standing"] * n,
            "arm": ["holdout" if i % 50 == 0 else "v1" for i in ids],
            "model_version": ["v1"] * n,
            "template_id": [f"T{i % 640:04d}" for i in ids],
            "selection_time_s": [13.0 + i % 5 for i in ids],
            "created_at": [t0 + timedelta(seconds=i) for i in ids],
            "prediction_id": [None] * n,
        }
    )


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
def test_polars_frame_larger_than_one_insert_chunk(tmp_path, monkeypatch, backend):
    from abkit.events import insert as insert_module

    monkeypatch.setattr(insert_module, "INSERT_CHUNK", 1000)
    url = f"{backend}:///{tmp_path / ('events.' + backend)}"
    store = EventStore.open(url)
    n = 1000 * 2 + 17
    first = store.write("selection", _frame(n))
    assert (first.accepted, first.duplicates) == (n, 0)
    overlap = store.write("selection", _frame(100, start=n - 50))
    assert (overlap.accepted, overlap.duplicates) == (50, 50)
    with store.engine.connect() as conn:
        count, total, last = conn.execute(
            text("select count(*), sum(selection_time_s), max(created_at) from selections")
        ).one()
    assert count == n + 50
    assert total == pytest.approx(sum(13.0 + i % 5 for i in range(n + 50)))
    assert str(last).startswith(str(datetime(2026, 1, 1) + timedelta(seconds=n + 49)))


@pytest.mark.postgres
def test_polars_frame_on_postgres_counts_new_rows(postgres_url):
    store = EventStore.open(postgres_url)
    assert store.write("selection", _frame(3000)).accepted == 3000
    overlap = store.write("selection", _frame(1000, start=2500))
    assert (overlap.accepted, overlap.duplicates) == (500, 500)


def test_clear_rejects_removes_only_that_source(sqlite_url):
    store = EventStore.open(sqlite_url)
    store.write("case", [_case(1, handle_time_s=-1)], quarantine=True, source="a.csv")
    store.write("case", [_case(2, handle_time_s=-1)], quarantine=True, source="b.csv")
    assert store.clear_rejects("a.csv") == 1
    with store.engine.connect() as conn:
        assert conn.execute(select(rejects.c.source)).scalars().all() == ["b.csv"]


def test_records_with_mixed_value_types_are_validated_not_crashed(sqlite_url):
    store = EventStore.open(sqlite_url)
    rows = [
        _case(1, closed_at=datetime(2026, 1, 1, 11, 0)),
        _case(2, closed_at="2026-01-01T12:00:00+01:00"),
        _case(3, closed_at={"when": "today"}),
        _case(4, handle_time_s="12.5"),
    ]
    result = store.write("case", rows, quarantine=True)
    assert (result.accepted, result.rejected) == (3, 1)
    assert result.rejects[0].row == 2 and result.rejects[0].field == "closed_at"
    with store.engine.connect() as conn:
        closed = conn.execute(select(cases.c.case_id, cases.c.closed_at).order_by(cases.c.case_id)).all()
    assert closed[:2] == [("c1", datetime(2026, 1, 1, 11, 0)), ("c2", datetime(2026, 1, 1, 11, 0))]


def test_records_whose_nested_values_polars_miscounts_are_validated_not_crashed(sqlite_url):
    # pl.Series([[""], [None, []]], strict=False) has three rows, not two (found by a hypothesis
    # fuzz of EventStore.write): the frame could not be built and write raised ShapeError.
    store = EventStore.open(sqlite_url)
    result = store.write("case", [_case(1, case_id=[""]), _case(2, case_id=[None, []])], quarantine=True)
    assert result.accepted + result.duplicates + result.rejected == 2


@pytest.mark.parametrize(
    ("name", "salt", "arms", "message"),
    [
        (" standing", "s", [("holdout", 0.5), ("v1", 0.5)], "leading or trailing whitespace"),
        ("x", "", [("holdout", 0.5), ("v1", 0.5)], "empty salt"),
        ("x", "s", [("holdout", 0.5), ("v1", 0.7)], "sum to 1.2, not 1"),
    ],
)
def test_register_experiment_holds_a_definition_to_the_experiments_file_rules(tmp_path, name, salt, arms, message):
    store = EventStore.open(f"sqlite:///{tmp_path / 'e.sqlite'}")
    with pytest.raises(ConfigError, match=message):
        store.register_experiment(name, salt, arms)
    assert store.experiment_phases() == []  # nothing recorded
