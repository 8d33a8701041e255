"""Ingest runs: exact counts and reasons for mixed files, idempotent re-ingest, nothing written on a bad file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select

from abkit.events import EventStore
from abkit.events.schema import cases, predictions, rejects, selections
from abkit.ingest import IngestError, ingest_paths, plan

SELECTION_HEADER = (
    "selection_id,case_id,message_id,advocate_id,experiment,arm,model_version,"
    "template_id,selection_time_s,created_at,prediction_id"
)


def _selection_line(i: int, **changes: str) -> str:
    fields = {
        "selection_id": f"s{i}",
        "case_id": f"c{i}",
        "message_id": f"m{i}",
        "advocate_id": "a1",
        "experiment": "standing",
        "arm": "v1",
        "model_version": "v1",
        "template_id": "T0001",
        "selection_time_s": "12.5",
        "created_at": "2026-01-05T09:30:00Z",
        "prediction_id": f"p{i}",
    }
    fields.update(changes)
    return ",".join(fields.values())


def _mixed_csv(path: Path) -> Path:
    # Lines 2-4 are good; then one bad row of each kind the issue lists.
    lines = [
        SELECTION_HEADER,
        _selection_line(1),
        _selection_line(2, arm="holdout"),
        _selection_line(3, prediction_id=""),
        _selection_line(4, created_at="2026-13-45T99:00:00"),  # line 5: bad timestamp
        _selection_line(5, selection_time_s="-4.2"),  # line 6: negative selection time
        _selection_line(6, arm="v3"),  # line 7: unknown arm (model_version is v1)
        _selection_line(7, selection_id=""),  # line 8: missing id
    ]
    body = ("\n".join(lines) + "\n").encode()
    body += _selection_line(8).replace("c8", "c\xff\xfe8").encode("latin-1") + b"\n"  # line 9: not UTF-8
    path.write_bytes(body)
    return path


def _count(store: EventStore, table) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_mixed_good_and_bad_rows_give_exact_counts_and_reasons(tmp_path, sqlite_url):
    store = EventStore.open(sqlite_url)
    path = _mixed_csv(tmp_path / "selections.csv")
    (result,) = ingest_paths(store, [path])
    assert (result.rows_read, result.accepted, result.duplicates, result.rejected) == (8, 3, 0, 5)
    with store.engine.connect() as conn:
        stored = conn.execute(select(rejects).order_by(rejects.c.row_number)).mappings().all()
    assert [(r["row_number"], r["field"]) for r in stored] == [
        (5, "created_at"),
        (6, "selection_time_s"),
        (7, "arm"),
        (8, "selection_id"),
        (9, "case_id"),
    ]
    reasons = [r["reason"] for r in stored]
    assert reasons[0] == "not an ISO 8601 timestamp: 2026-13-45T99:00:00"
    assert reasons[1] == "out of range [0, 86400]: -4.2"
    assert reasons[2] == "unknown arm v3: expected 'holdout' or the model_version v1"
    assert reasons[3] == "missing or empty"
    assert reasons[4] == "not valid UTF-8"
    assert stored[1]["raw"] == _selection_line(5, selection_time_s="-4.2")
    assert "c\ufffd\ufffd8" in stored[4]["raw"]
    assert {r["source"] for r in stored} == {str(path.resolve())}
    assert {r["event_kind"] for r in stored} == {"selection"}
    assert _count(store, selections) == 3
    assert result.reasons[0][2] == 1 and len(result.reasons) == 5


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
def test_reingesting_the_same_file_is_idempotent(tmp_path, backend):
    store = EventStore.open(f"{backend}:///{tmp_path / ('events.' + backend)}")
    path = _mixed_csv(tmp_path / "selections.csv")
    ingest_paths(store, [path])
    (again,) = ingest_paths(store, [path])
    assert (again.rows_read, again.accepted, again.duplicates, again.rejected) == (8, 0, 3, 5)
    assert _count(store, selections) == 3
    assert _count(store, rejects) == 5  # the latest run's rejects, not a second copy


@pytest.mark.postgres
def test_ingest_on_postgres(tmp_path, postgres_url):
    store = EventStore.open(postgres_url)
    path = _mixed_csv(tmp_path / "selections.csv")
    (first,) = ingest_paths(store, [path])
    (again,) = ingest_paths(store, [path])
    assert (first.accepted, first.rejected) == (3, 5)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 3, 5)
    assert _count(store, rejects) == 5


def test_ragged_lines_and_blank_lines(tmp_path, sqlite_url):
    path = tmp_path / "ragged.csv"
    path.write_text(
        "\n".join([SELECTION_HEADER, _selection_line(1), "", _selection_line(2) + ",extra", "s3,c3"]) + "\n"
    )
    store = EventStore.open(sqlite_url)
    (result,) = ingest_paths(store, [path])
    assert (result.rows_read, result.accepted, result.rejected) == (3, 1, 2)
    with store.engine.connect() as conn:
        stored = conn.execute(select(rejects.c.row_number, rejects.c.reason).order_by(rejects.c.row_number)).all()
    assert stored == [(4, "expected 11 fields, found 12"), (5, "expected 11 fields, found 2")]


def test_chunks_are_transactions_and_counts_add_up(tmp_path, sqlite_url):
    path = tmp_path / "many.csv"
    rows = [_selection_line(i, selection_time_s="-1" if i % 10 == 0 else "9") for i in range(1, 251)]
    path.write_text("\n".join([SELECTION_HEADER, *rows]) + "\n")
    store = EventStore.open(sqlite_url)
    (result,) = ingest_paths(store, [path], chunk_rows=32, progress=False)
    assert (result.rows_read, result.accepted, result.rejected) == (250, 225, 25)
    with store.engine.connect() as conn:
        numbers = conn.execute(select(rejects.c.row_number).order_by(rejects.c.row_number)).scalars().all()
    assert numbers == [i + 1 for i in range(10, 251, 10)]  # line = data row + header


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


def test_jsonl_cases_with_unparseable_lines(tmp_path, sqlite_url):
    path = _jsonl(
        tmp_path / "cases.jsonl",
        [
            {"case_id": "c1", "handle_time_s": 310.5, "closed_at": "2026-01-05T10:00:00"},
            {"case_id": "c2", "handle_time_s": "420", "closed_at": "2026-01-05T11:00:00+02:00"},
            "{not json",
            "[1, 2]",
            {"case_id": "c3", "handle_time_s": True, "closed_at": "2026-01-05T10:00:00"},
            {"case_id": "c4", "handle_time_s": 5, "closed_at": None, "note": "ignored"},
        ],
    )
    store = EventStore.open(sqlite_url)
    (result,) = ingest_paths(store, [path])
    assert result.kind == "case"
    assert (result.rows_read, result.accepted, result.rejected) == (6, 2, 4)
    with store.engine.connect() as conn:
        stored = conn.execute(
            select(rejects.c.row_number, rejects.c.field, rejects.c.reason).order_by(rejects.c.row_number)
        ).all()
        handle = conn.execute(select(cases.c.handle_time_s).order_by(cases.c.case_id)).scalars().all()
    assert [(n, f) for n, f, _ in stored] == [(3, "row"), (4, "row"), (5, "handle_time_s"), (6, "closed_at")]
    assert stored[0][2].startswith("not valid JSON")
    assert stored[1][2] == "not a JSON object"
    assert stored[2][2] == "not a number: true"
    assert handle == [310.5, 420.0]


def _selection_record(i: int, **changes: object) -> dict:
    record: dict[str, object] = dict(zip(SELECTION_HEADER.split(","), _selection_line(i).split(","), strict=True))
    del record["prediction_id"]
    record.update(changes)
    return {key: value for key, value in record.items() if value is not None}


@pytest.mark.parametrize("chunk_rows", [1, 2, 100])
def test_jsonl_columns_are_the_keys_of_every_record_not_of_the_first(tmp_path, sqlite_url, chunk_rows):
    # The first record has neither the optional prediction_id nor the required
    # selection_time_s; later records have both. Whatever the chunking, the file is a
    # selection file, the later prediction_ids are stored and only the first record is
    # rejected, naming its missing field.
    path = _jsonl(
        tmp_path / "selections.jsonl",
        [
            _selection_record(1, selection_time_s=None),
            _selection_record(2),
            _selection_record(3, prediction_id="p3"),
            _selection_record(4, prediction_id="p4"),
        ],
    )
    (planned,) = plan([path])
    assert planned.kind == "selection"
    assert {"selection_time_s", "prediction_id"} <= set(planned.columns)
    assert plan([path], "selection")[0].kind == "selection"
    store = EventStore.open(sqlite_url)
    (result,) = ingest_paths(store, [path], chunk_rows=chunk_rows, progress=False)
    assert (result.rows_read, result.accepted, result.rejected) == (4, 3, 1)
    assert result.reasons == (("selection_time_s", "missing", 1),)
    with store.engine.connect() as conn:
        stored = dict(conn.execute(select(selections.c.selection_id, selections.c.prediction_id)).all())
        reject = conn.execute(select(rejects.c.row_number, rejects.c.field)).one()
    assert stored == {"s2": None, "s3": "p3", "s4": "p4"}
    assert tuple(reject) == (1, "selection_time_s")


def test_jsonl_record_missing_a_required_key_is_a_reject_like_an_empty_csv_field(tmp_path, sqlite_url):
    path = _jsonl(
        tmp_path / "cases.jsonl",
        [
            {"case_id": "c1", "handle_time_s": 1, "closed_at": "2026-01-05"},
            {"handle_time_s": 2, "closed_at": "2026-01-05"},
            {"case_id": "c3", "handle_time_s": 3, "closed_at": "2026-01-05", "note": "x"},
        ],
    )
    (planned,) = plan([path])
    assert planned.ignored_columns == ["note"]  # a key first seen after the first record is reported too
    store = EventStore.open(sqlite_url)
    (result,) = ingest_paths(store, [path], chunk_rows=1, progress=False)
    assert (result.accepted, result.rejected) == (2, 1)
    assert result.reasons == (("case_id", "missing or empty", 1),)


def test_jsonl_keys_first_seen_after_the_records_the_plan_reads_are_still_stored_and_reported(
    tmp_path, sqlite_url, monkeypatch
):
    # The plan reads the keys of a prefix of the file (here one record); the load reads every
    # record's keys, so a prediction_id or an unknown key first seen later is not lost.
    monkeypatch.setattr("abkit.ingest.jsonl.JSONL_PLAN_RECORDS", 1)
    path = _jsonl(
        tmp_path / "selections.jsonl",
        [_selection_record(1), _selection_record(2, prediction_id="p2", note="x"), _selection_record(3, extra=1)],
    )
    (planned,) = plan([path])
    assert "prediction_id" not in planned.columns and planned.ignored_columns == []
    store = EventStore.open(sqlite_url)
    (result,) = ingest_paths(store, [path], chunk_rows=1, progress=False)
    assert (result.accepted, result.rejected) == (3, 0)
    assert result.ignored_columns == ("note", "extra")
    with store.engine.connect() as conn:
        stored = dict(conn.execute(select(selections.c.selection_id, selections.c.prediction_id)).all())
    assert stored == {"s1": None, "s2": "p2", "s3": None}


def test_jsonl_whose_first_records_lack_a_required_key_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr("abkit.ingest.jsonl.JSONL_PLAN_RECORDS", 2)
    records = [{"case_id": f"c{i}", "closed_at": "2026-01-05"} for i in range(2)]
    path = _jsonl(
        tmp_path / "cases.jsonl", [*records, {"case_id": "c3", "handle_time_s": 1, "closed_at": "2026-01-05"}]
    )
    with pytest.raises(IngestError, match="missing column\\(s\\) handle_time_s \\(the keys of its first 2 records\\)"):
        plan([path], "case")


def test_jsonl_file_whose_records_never_have_a_required_key_is_refused(tmp_path):
    path = _jsonl(tmp_path / "cases.jsonl", [{"case_id": "c1", "closed_at": "2026-01-05"}] * 3)
    with pytest.raises(IngestError, match="not a case file: missing column\\(s\\) handle_time_s"):
        plan([path], "case")


def _prediction_frame(n: int) -> pl.DataFrame:
    from datetime import datetime, timedelta

    return pl.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "case_id": [f"c{i}" for i in range(n)],
            "message_id": [f"m{i}" for i in range(n)],
            "advocate_id": ["a1"] * n,
            "experiment": ["standing"] * n,
            "arm": ["holdout" if i == 0 else "v2" for i in range(n)],
            "model_version": ["v2"] * n,
            "template_id_1": ["T0001"] * n,
            "score_1": [0.9 if i != 3 else 1.9 for i in range(n)],
            "latency_ms": [float(i) for i in range(n)],
            "created_at": [datetime(2026, 2, 1) + timedelta(minutes=i) for i in range(n)],
        }
    )


def test_parquet_predictions_typed_columns(tmp_path, sqlite_url):
    path = tmp_path / "predictions.parquet"
    _prediction_frame(5).write_parquet(path)
    store = EventStore.open(sqlite_url)
    (result,) = ingest_paths(store, [path])
    assert result.kind == "prediction"
    assert (result.rows_read, result.accepted, result.rejected) == (5, 4, 1)
    with store.engine.connect() as conn:
        reject = conn.execute(select(rejects)).mappings().one()
        latencies = conn.execute(select(predictions.c.latency_ms).order_by(predictions.c.latency_ms)).scalars().all()
    assert (reject["row_number"], reject["field"]) == (4, "score_1")
    assert json.loads(reject["raw"])["prediction_id"] == "p3"
    assert latencies == [0.0, 1.0, 2.0, 4.0]


def test_parquet_columns_of_the_wrong_type_are_rejects_not_a_traceback_nor_cast(tmp_path, sqlite_url):
    # Ids given as lists would stop polars' cast mid-ingest; handle times given as booleans
    # would be cast to 1.0 s. Either way each row is a reject naming the field.
    closed = [datetime(2026, 2, 1)] * 5
    good, lists, bools = tmp_path / "good.parquet", tmp_path / "lists.parquet", tmp_path / "bools.parquet"
    pl.DataFrame(
        {"case_id": [f"c{i}" for i in range(5)], "handle_time_s": [60.0] * 5, "closed_at": closed}
    ).write_parquet(good)
    pl.DataFrame(
        {"case_id": [[f"l{i}"] for i in range(5)], "handle_time_s": [60.0] * 5, "closed_at": closed}
    ).write_parquet(lists)
    pl.DataFrame(
        {"case_id": [f"b{i}" for i in range(5)], "handle_time_s": [True] * 5, "closed_at": closed}
    ).write_parquet(bools)
    store = EventStore.open(sqlite_url)
    results = ingest_paths(store, [good, lists, bools], chunk_rows=2)
    assert [(r.rows_read, r.accepted, r.rejected) for r in results] == [(5, 5, 0), (5, 0, 5), (5, 0, 5)]
    assert results[1].reasons == (("case_id", "wrong type", 5),)
    assert results[2].reasons == (("handle_time_s", "wrong type", 5),)
    assert _count(store, cases) == 5


def test_several_files_are_all_checked_before_any_is_written(tmp_path, sqlite_url):
    good = _mixed_csv(tmp_path / "good.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    store = EventStore.open(sqlite_url)
    with pytest.raises(IngestError, match="bad.csv: columns \\(foo, bar\\) match no event kind"):
        ingest_paths(store, [good, bad])
    assert _count(store, selections) == 0
    assert _count(store, rejects) == 0


def test_kind_given_must_match_the_columns(tmp_path):
    path = _mixed_csv(tmp_path / "selections.csv")
    with pytest.raises(IngestError, match="not a case file: missing column\\(s\\) handle_time_s, closed_at"):
        plan([path], "case")
    with pytest.raises(IngestError, match="unknown event kind"):
        plan([path], "click")  # type: ignore[arg-type]
    with pytest.raises(IngestError, match="no files given"):
        plan([])


def test_progress_bar_on_request(tmp_path, sqlite_url, capsys):
    path = tmp_path / "many.csv"
    path.write_text("\n".join([SELECTION_HEADER, *(_selection_line(i) for i in range(1, 41))]) + "\n")
    store = EventStore.open(sqlite_url)
    ingest_paths(store, [path], chunk_rows=10, progress=True)
    assert "many.csv" in capsys.readouterr().err  # tqdm draws on stderr, labelled with the file
    ingest_paths(store, [path], chunk_rows=10, progress=False)
    assert capsys.readouterr().err == ""
