"""The Overview's verdict cards and tiles, from the report fixture."""

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
