"""The report contract: the published JSON Schema is the generated one, and reports follow it.

Every report the suite builds is validated by the autouse fixture in conftest.py; this module
checks the schema file itself, a report built from hostile data that holds every kind of null,
and that the schema refuses what the contract forbids.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pytest

from abkit.events import EventStore
from abkit.report.build import build_report
from abkit.report.contract import Report
from abkit.report.contract.schema import schema_text
from tests.report_events import EXPERIMENTS, PHASES_RECORDED, event_frames
from tests.report_schema import PUBLISHED, schema_errors

NOW = datetime(2026, 2, 1)
# A phase row exists only where both arms have interactions, so its delta always exists (its
# interval may not): the contract allows the null, no data can produce it.
UNREACHABLE = {"versions[].phases[].delta_s_missing", "comparisons[].phases[].delta_s_missing"}


def test_published_schema_is_the_generated_one():
    assert PUBLISHED.read_text(encoding="utf-8") == schema_text(), (
        "docs/report.schema.json is stale: run `python -m abkit.report.contract docs/report.schema.json`"
    )


def _hostile_frames() -> dict[str, pl.DataFrame]:
    """The report test events, cut down and twisted so that every figure with a reason is null somewhere.

    One holdout selection in ``standing`` (n = 1: no interval, no MDE), on a template nobody else
    chose; no other holdout but v8's below; one v1 and one v2 selection in ``v2-challenger`` (the
    comparison cannot be tested, neither arm has an sd); units in an arm with no weight (``v9``) in
    both registered experiments (SRM without a p); ``v3-pilot`` not registered (no SRM), v4 beside
    v3 and v5 a month after them (never side by side), and v8 only in its holdout (no treatment
    selections); no cases (no case share, no guardrail).
    """
    frames = event_frames(seed=11)
    s = frames["selection"]
    first_holdout = (
        s.filter((pl.col("arm") == "holdout") & (pl.col("experiment") == "standing"))
        .head(1)
        .with_columns(pl.lit("T-holdout-only").alias("template_id"))
    )
    kept = s.filter(pl.col("arm") != "holdout")
    one_v2 = kept.filter(pl.col("model_version") == "v2").head(1)
    one_v1 = kept.filter((pl.col("experiment") == "v2-challenger") & (pl.col("model_version") == "v1")).head(1)
    stray = (
        kept.filter(pl.col("experiment").is_in(["standing", "v2-challenger"]))
        .head(6)
        .with_columns(pl.lit("v9").alias("arm"), pl.lit("v9").alias("model_version"))
    )
    kept = kept.filter((pl.col("model_version") != "v2") & (pl.col("experiment") != "v2-challenger"))
    pilot = kept.filter(pl.col("experiment") == "v3-pilot")
    held_only = pilot.head(2).with_columns(pl.lit("holdout").alias("arm"), pl.lit("v8").alias("model_version"))
    beside = pilot.head(20).with_columns(pl.lit("v4").alias("arm"), pl.lit("v4").alias("model_version"))
    later = pilot.with_columns(
        pl.lit("v5").alias("arm"), pl.lit("v5").alias("model_version"), pl.col("created_at") + timedelta(days=30)
    )
    selections = pl.concat([kept, one_v1, one_v2, first_holdout, stray, beside, later, held_only])
    selections = selections.with_columns((pl.col("selection_id") + "-" + pl.col("arm")).alias("selection_id"))
    predictions = frames["prediction"].filter(pl.col("prediction_id").is_in(first_holdout["prediction_id"].to_list()))
    return {"selection": selections, "prediction": predictions, "case": frames["case"].head(0)}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'events.sqlite'}"
    store = EventStore.open(url)
    for name, arms in EXPERIMENTS.items():
        if name != "v3-pilot":
            store.register_experiment(name, name, arms, at=PHASES_RECORDED)
    for kind, frame in _hostile_frames().items():
        store.write(kind, frame)
    return build_report(url, now=NOW).to_dict()


def _schema_paths(schema: dict[str, Any], keep) -> set[str]:
    """Paths (``versions[].clustered.delta_s_missing``) of the properties ``keep`` selects, through $refs."""
    definitions = schema["$defs"]
    found: set[str] = set()

    def walk(node: dict[str, Any], path: str) -> None:
        if "$ref" in node:
            walk(definitions[node["$ref"].rsplit("/", 1)[-1]], path)
        for option in node.get("anyOf", []):
            walk(option, path)
        if node.get("type") == "array" and "items" in node:
            walk(node["items"], path + "[]")
        for name, child in node.get("properties", {}).items():
            child_path = f"{path}.{name}" if path else name
            if keep(name):
                found.add(child_path)
            walk(child, child_path)

    walk(schema, "")
    return found


def _document_paths(document: Any, keep, path: str = "") -> set[str]:
    """Paths of the keys ``keep(name, value)`` selects in a document, list indices as ``[]``."""
    found: set[str] = set()
    if isinstance(document, dict):
        for name, value in document.items():
            child_path = f"{path}.{name}" if path else name
            if keep(name, value):
                found.add(child_path)
            found |= _document_paths(value, keep, child_path)
    elif isinstance(document, list):
        for item in document:
            found |= _document_paths(item, keep, path + "[]")
    return found


def test_hostile_report_holds_every_kind_of_null_with_its_reason(hostile):
    assert schema_errors(hostile) == []
    schema = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    # every "<figure>_missing" the contract defines appears (so its figure is null) somewhere
    reasons = _schema_paths(schema, lambda name: name.endswith("_missing"))
    present = _document_paths(hostile, lambda name, value: name.endswith("_missing") and isinstance(value, str))
    assert reasons - present == UNREACHABLE
    # and every object's "missing" is a reason somewhere
    objects = _schema_paths(schema, lambda name: name == "missing")
    said = _document_paths(hostile, lambda name, value: name == "missing" and isinstance(value, str))
    assert objects - said == set()


# Nullable fields the hostile report leaves filled. Online figures are left out of the JSON when
# unknown (a report stored before they existed), never written as null:
LEFT_OUT = {
    f"{result}[].{name}"
    for result in ("versions", "comparisons")
    for name in ("analysis", "sequential", "sequence", "sequence_cuped", "cuped", "guardrail")
}
# A phase row exists only where both arms have interactions (UNREACHABLE above), and a comparison
# row only where both arms have selections (each arm's summary describes its own when no phase is shared):
NO_EMPTY_PHASE = {
    "versions[].phases[].delta_s",
    "comparisons[].phases[].delta_s",
    "comparisons[].baseline_summary.mean_s",
    "comparisons[].challenger_summary.mean_s",
}
# Filled in every report of these events: phases recorded before phase history existed
# (started_at), power beyond ten years or without CUPED (days_to_detect, mde_s) and the rest need
# data these events lack, or cannot be null in a freshly built report (a stored one may differ).
# Named here so that a new nullable field is either null in the hostile report or added knowingly.
NOT_IN_THESE_EVENTS = {
    "phases[].started_at",
    "versions[].phases[].started_at",
    "releases[].first_seen",
    "versions[].first_seen",
    "versions[].last_seen",
    "versions[].srm.flag",
    "versions[].phases[].srm.flag",
    "versions[].sequential.interactions",
    "versions[].sequence[].interactions",
    "comparisons[].sequential.interactions",
    "timeline.rows[].mean_s",
    "weekly[].mean_s",
    "power[].comparisons[].days_to_detect.fixed",
    "power[].comparisons[].days_to_detect.sequential",
    "power[].comparisons[].days_to_detect.cuped",
    "power[].comparisons[].days_to_detect.sequential_cuped",
    "power[].comparisons[].mde_s[].cuped",
    "power[].comparisons[].mde_s[].sequential_cuped",
}


def _nullable_paths(schema: dict[str, Any]) -> set[str]:
    """Paths of the properties whose schema allows null, through $refs."""
    definitions = schema["$defs"]
    found: set[str] = set()

    def walk(node: dict[str, Any], path: str) -> None:
        if "$ref" in node:
            walk(definitions[node["$ref"].rsplit("/", 1)[-1]], path)
        for option in node.get("anyOf", []):
            if option.get("type") == "null":
                found.add(path)
            walk(option, path)
        if node.get("type") == "array" and "items" in node:
            walk(node["items"], path + "[]")
        for name, child in node.get("properties", {}).items():
            walk(child, f"{path}.{name}" if path else name)

    walk(schema, "")
    return found


def test_every_nullable_field_is_null_in_the_hostile_report_or_named(hostile):
    schema = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    nullable = _nullable_paths(schema)
    null_here = _document_paths(hostile, lambda name, value: value is None)
    reasons = {path for path in nullable if path.endswith("missing")}  # checked by the test above
    assert nullable - null_here - reasons == LEFT_OUT | NO_EMPTY_PHASE | NOT_IN_THESE_EVENTS


def test_schema_refuses_what_the_contract_forbids(hostile):
    broken = json.loads(json.dumps(hostile))
    index, target = next((i, c) for i, c in enumerate(broken["comparisons"]) if c["delta_s"] is not None)
    target["delta_s"] = None  # a null without its reason
    assert f"comparisons/{index}: 'delta_s_missing' is a required property" in schema_errors(broken)
    broken = json.loads(json.dumps(hostile))
    broken["versions"][0]["delta_pct"] = "NaN"
    broken["totals"]["surprise"] = 1
    errors = schema_errors(broken)
    assert any("versions/0/delta_pct" in error for error in errors)
    assert any("'surprise' was unexpected" in error for error in errors)


def test_a_stored_document_reads_back_as_the_same_report(hostile):
    report = Report.model_validate(hostile)
    assert report.to_dict() == hostile
    assert report.versions[0].verdict.decision == hostile["versions"][0]["verdict"]["decision"]
    with pytest.raises(ValueError, match="delta_s"):
        Report.model_validate({**hostile, "versions": [{**hostile["versions"][0], "delta_s": "fast"}]})


def test_nan_in_a_figure_becomes_null_never_json_nan():
    from abkit.report.contract.figures import WelchFigures

    assert WelchFigures(t=float("nan"), df=float("inf"), p=0.5, missing=None).model_dump() == {
        "t": None,
        "df": None,
        "p": 0.5,
        "missing": None,
    }
