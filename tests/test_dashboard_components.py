"""Table cells and column formats of the on-page tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboards import components as ui
from dashboards import theme
from dashboards.view import View


def test_records_blank_missing_values_and_spell_out_flags():
    frame = pd.DataFrame({"p": [0.5, np.nan], "flag": [np.True_, False], "first_seen": ["2026-01-05T04:43:26.6", None]})
    assert ui.table_records(frame) == [
        {"p": 0.5, "flag": "yes", "first_seen": "2026-01-05 04:43"},
        {"p": None, "flag": "no", "first_seen": None},
    ]


def test_columns_are_formatted_by_meaning():
    frame = pd.DataFrame(
        {"template_id": ["T1"], "volume": [10], "top5": [0.5], "selection_level_p": [1e-9], "delta_s": [-1.0]}
    )
    specs = {c["id"]: c for c in ui.table_columns(frame)}
    assert "type" not in specs["template_id"]
    assert specs["volume"]["format"] == {"specifier": ",.0f"}
    assert specs["top5"]["format"] == {"specifier": ".1%"}
    assert specs["selection_level_p"]["format"] == {"specifier": ".3g"}
    assert specs["delta_s"]["format"] == {"specifier": ",.3f"} and specs["delta_s"]["name"] == "delta s"


def test_csv_href_carries_the_view():
    assert ui.csv_href("templates", View(7, top_n=20)) == "/download/templates.csv?snapshot=7&top_n=20"


def test_verdict_styles_cover_every_decision_of_the_report():
    queries = [style["if"]["filter_query"] for style in ui.verdict_styles()]
    for decision in (
        "saves time",
        "costs time",
        "no detectable difference",
        "keep collecting",
        "do not trust: sample ratio mismatch",
        "do not ship: guardrail",
    ):
        assert f'{{verdict}} = "{decision}"' in queries


def test_verdict_card_shows_the_decision_its_reason_and_the_analysis():
    card = ui.verdict_card("v4 · standing", "saves time", "v4 saves 7.9 s per selection.", "sequential")
    head, reason, method = card.children
    assert [part.children for part in head.children] == ["v4 · standing", "saves time"]
    assert head.children[1].style["backgroundColor"] == theme.GOOD == card.style["borderLeftColor"]
    assert reason.children == "v4 saves 7.9 s per selection."
    assert method.children == "sequential (always-valid) analysis"
    assert ui.verdict_card("v1 · x", "n/a", None, None).children[1].children.startswith("The report gives no verdict")
