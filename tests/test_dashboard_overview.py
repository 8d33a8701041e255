"""The Overview's verdict cards and tiles, and page callbacks given a hand-made request."""

from __future__ import annotations

import json
from pathlib import Path

from dashboards import tables
from dashboards.pages import overview

REPORT = json.loads((Path(__file__).parent / "data" / "report_snapshot.json").read_text())


def _tiles(report: dict, version: str | None = None) -> dict[str, str]:
    tiles = overview._kpis(report, tables.overview_table(report, version))
    return {tile.children[1].children: tile.children[0].children for tile in tiles}


def test_one_verdict_card_per_version_row_and_comparison_in_report_order():
    cards = overview._verdicts(tables.overview_table(REPORT), tables.challengers_table(REPORT))
    titles = [card.children[0].children[0].children for card in cards]
    assert titles == [
        "v1 · standing",
        "v2 · standing",
        "v2 · v2-challenger",
        "v3 · standing",
        "v2 vs v1 · v2-challenger",
        "v3 vs v2 · v3-challenger",
    ]
    decisions = [card.children[0].children[1].children for card in cards]
    assert decisions[2:4] == ["keep collecting", "do not trust: sample ratio mismatch"]


def test_best_saving_counts_only_savings_the_verdict_stands_behind():
    tiles = _tiles(REPORT)
    # v2 in v2-challenger saves 6.40 s but keeps collecting; the best "saves time" row is v2 standing.
    assert tiles["best significant saving, s"] == "6.14"
    assert tiles["versions saving time"] == "2 of 4"
    assert tiles["SRM flags"] == "1"
    assert _tiles(REPORT, "v3")["best significant saving, s"] == "none"


def _callback(app, output: str, values: list) -> dict:
    """POST the callback whose outputs include ``output`` as the browser would, with its inputs
    set to ``values`` in order; the JSON answer (output id -> property -> value)."""
    key = next(k for k in app.callback_map if f"..{output}.." in f".{k}.")
    outputs = [part.rsplit(".", 1) for part in key.strip(".").split("...")]
    inputs = app.callback_map[key]["inputs"]
    body = {
        "output": key,
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": [{**spec, "value": value} for spec, value in zip(inputs, values, strict=True)],
        "changedPropIds": [f"{inputs[1]['id']}.{inputs[1]['property']}"],
    }
    response = app.server.test_client().post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[-300:]
    return response.get_json()["response"]


def test_a_malformed_date_in_a_callback_is_named_not_a_server_error(sqlite_url):
    from abkit.events import EventStore
    from abkit.report.snapshots import store_snapshot
    from dashboards import create_app

    snapshot_id = store_snapshot(EventStore.open(sqlite_url).engine, REPORT)
    app = create_app(sqlite_url)
    # The shell (experiment, since, until, refresh generation) and a page (snapshot, version, since, until).
    shell = _callback(app, "snapshot-info.children", [None, "2026-13-45", None, 0])
    assert "since: expected a date YYYY-MM-DD, got '2026-13-45'" in shell["snapshot-info"]["children"]
    page = _callback(app, "overview-notice.children", [{"snapshot_id": snapshot_id}, None, "yesterday", None])
    assert "since: expected a date" in str(page["overview-notice"]["children"])
    page = _callback(app, "overview-notice.children", [{"snapshot_id": 10**30}, None, None, None])
    assert "snapshot: expected an integer from 1" in str(page["overview-notice"]["children"])


def test_a_sqlite_file_deleted_while_the_app_runs_is_named_not_shown_stale(tmp_path):
    from abkit.events import EventStore
    from abkit.report.snapshots import store_snapshot
    from dashboards import create_app

    path = tmp_path / "events.sqlite"
    engine = EventStore.open(str(path)).engine
    snapshot_id = store_snapshot(engine, REPORT)
    engine.dispose()
    app = create_app(str(path))
    shell = _callback(app, "snapshot-info.children", [None, None, None, 0])
    assert shell["snapshot"]["data"]["snapshot_id"] == snapshot_id  # read (and its connection pooled)

    path.unlink()
    # The pooled connection could still read the unlinked file: the page went on showing it as if nothing happened.
    layout = app.server.test_client().get("/_dash-layout").get_data(as_text=True)
    assert "Database unreachable" in layout and "no SQLite file" in layout
    shell = _callback(app, "snapshot-info.children", [None, None, None, 0])
    assert "Cannot read the stored reports: database: no SQLite file" in shell["snapshot-info"]["children"]
    page = _callback(app, "overview-notice.children", [{"snapshot_id": snapshot_id}, None, None, None])
    assert "no SQLite file" in str(page["overview-notice"]["children"]) and page["overview-table"]["data"] == []
    download = app.server.test_client().get(f"/download/overview.csv?snapshot={snapshot_id}")
    assert download.status_code == 503 and "no SQLite file" in download.get_data(as_text=True)
