"""CSV and HTML downloads through Flask's test client, on the hand-written report fixture."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from abkit.events import EventStore
from abkit.report.snapshots import store_snapshot
from dashboards import create_app
from dashboards.view import TABLES, View

FIXTURE = json.loads((Path(__file__).parent / "data" / "report_snapshot.json").read_text())


@pytest.fixture
def client(sqlite_url):
    snapshot_id = store_snapshot(EventStore.open(sqlite_url).engine, FIXTURE)
    return create_app(sqlite_url).server.test_client(), snapshot_id


def _rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_every_table_downloads_as_csv(client):
    http, snapshot_id = client
    for name in TABLES:
        response = http.get(f"/download/{name}.csv?snapshot={snapshot_id}")
        assert response.status_code == 200, name
        assert response.mimetype == "text/csv"
        assert f'filename="{name}.csv"' in response.headers["Content-Disposition"]
        assert response.get_data(as_text=True).count("\n") >= 1  # at least the header


def test_csv_follows_the_filters_of_the_page(client):
    http, snapshot_id = client
    view = View(snapshot_id, version="v2", top_n=3)
    rows = _rows(http.get(f"/download/overview.csv?{view.query()}"))
    assert [(r["model_version"], r["experiment"]) for r in rows] == [("v2", "standing"), ("v2", "v2-challenger")]
    assert rows[1]["verdict"] == "keep collecting" and rows[1]["verdict_reason"].startswith("v2 saves 6.50 s")
    rows = _rows(http.get(f"/download/templates.csv?{view.query()}"))
    assert [r["template_id"] for r in rows] == ["T0001", "T0002", "T0003"]
    assert rows[0]["saving_ci95_low_s"] == "7.4" and rows[0]["treatment_n"] == "9610"
    assert rows[0]["holdout_top5_accuracy"] == "0.91"
    everything = _rows(http.get(f"/download/overview.csv?snapshot={snapshot_id}"))
    assert [r["model_version"] for r in everything] == ["v1", "v2", "v2", "v3"]
    assert everything[3]["case_time_saved_share"] == ""  # missing stays empty, not "nan"


HOSTILE_IDS = ("=cmd|' /C calc'!A0", "+SUM(1)", "@SUM(1)", "-2+3", "\t=1+2", "\r=1+2")


@pytest.fixture
def hostile_client(sqlite_url):
    """A report whose template ids are formulas, as a client of the serving API may send them."""
    report = json.loads(json.dumps(FIXTURE))
    for row, template_id in zip(report["templates"]["rows"], HOSTILE_IDS, strict=False):
        row["template_id"] = template_id
    report["templates"]["rows"][6]["saving_s"] = -0.45  # a negative figure is data, not a formula
    snapshot_id = store_snapshot(EventStore.open(sqlite_url).engine, report)
    return create_app(sqlite_url).server.test_client(), snapshot_id


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(hostile_client):
    http, snapshot_id = hostile_client
    rows = _rows(http.get(f"/download/templates.csv?snapshot={snapshot_id}"))
    by_volume = [row["template_id"] for row in rows]
    # OWASP CSV injection: a leading single quote makes each one text.
    assert by_volume[:6] == ["'" + template_id for template_id in HOSTILE_IDS]
    assert by_volume[6:] == ["T0007", "T0008"]
    assert rows[6]["saving_s"] == "-0.45"  # numbers stay numbers
    assert rows[0]["saving_s"] == "8.2"


def test_neutralise_formulas_touches_text_cells_only():
    import pandas as pd

    from dashboards.downloads import neutralise_formulas

    frame = pd.DataFrame({"id": ["=1+2", "-2+3", "a=b", None, "@x"], "delta_s": [-0.45, -1.0, 2.0, None, 0.0]})
    safe = neutralise_formulas(frame)
    assert list(safe["id"].fillna("")) == ["'=1+2", "'-2+3", "a=b", "", "'@x"]
    assert safe["delta_s"].equals(frame["delta_s"]) and frame["id"][0] == "=1+2"  # the input is left alone


def test_download_errors_name_the_problem(client):
    http, snapshot_id = client
    assert http.get(f"/download/nope.csv?snapshot={snapshot_id}").status_code == 404
    response = http.get("/download/overview.csv")
    assert response.status_code == 400 and b"snapshot: missing" in response.data
    response = http.get(f"/download/overview.csv?snapshot={snapshot_id}&since=yesterday")
    assert response.status_code == 400 and b"since: expected a date" in response.data
    assert http.get("/download/overview.csv?snapshot=999").status_code == 400
    # Beyond what a database key holds, or below 1: named, never a 500.
    for bad in ("99999999999999999999999", "0", "-1"):
        response = http.get(f"/download/overview.csv?snapshot={bad}")
        assert response.status_code == 400 and b"snapshot: expected an integer from 1" in response.data
    response = http.get(f"/download/templates.csv?snapshot={snapshot_id}&top_n=0")
    assert response.status_code == 400 and b"top_n" in response.data


def test_html_report_download(client):
    http, snapshot_id = client
    response = http.get(f"/download/report.html?snapshot={snapshot_id}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert b"v1" in response.data


def test_view_round_trips_through_its_query():
    from datetime import date
    from urllib.parse import parse_qsl

    view = View(3, "standing", "v1", date(2026, 1, 5), date(2026, 1, 25), 20)
    assert View.from_query(dict(parse_qsl(view.query()))) == view
    assert View.from_query({}) == View()
    with pytest.raises(ValueError, match="top_n"):
        View.from_query({"top_n": "many"})


def test_a_renderer_failure_gives_a_plain_error(client, monkeypatch):
    http, snapshot_id = client

    def failing_renderer(report):
        return report["versions"][0]["no such figure"]

    monkeypatch.setattr("dashboards.downloads.html_renderer", lambda: (failing_renderer, None))
    response = http.get(f"/download/report.html?snapshot={snapshot_id}")
    assert response.status_code == 500 and response.mimetype == "text/plain"
    assert b"HTML renderer failed on snapshot" in response.data and b"no such figure" in response.data


def test_html_report_is_unavailable_without_a_renderer(client, monkeypatch):
    http, snapshot_id = client
    monkeypatch.setattr("dashboards.downloads.html_renderer", lambda: (None, "no renderer here"))
    response = http.get(f"/download/report.html?snapshot={snapshot_id}")
    assert response.status_code == 503 and b"no renderer here" in response.data
