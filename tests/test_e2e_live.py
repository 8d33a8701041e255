"""abkit.simulate.live: the live driver's replay plan, and driving a real service in-process.

The service is the real app (abkit.serving) on a uvicorn thread, scoring with a randomly
initialised tiny GPT-NeoX over the demo model's template catalogue: the model is bad on
purpose, the plumbing is what is tested.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from abkit.assignment import standing_experiment
from abkit.cli.main import cli
from abkit.cli.simulate import simulate as simulate_command
from abkit.events import EventStore
from abkit.serving.app import create_app
from abkit.serving.scorer import HFScorer
from abkit.serving.service import ModelSlot, ServiceSettings, SuggestionService
from abkit.serving.writer import EventWriter, WriterSettings
from abkit.simulate.catalogue import build_catalogue
from abkit.simulate.live import (
    DEMO_TEMPLATES,
    LiveError,
    LiveSettings,
    Turn,
    case_turns,
    draw_advocates,
    drive,
    rank_of,
)
from abkit.simulate.transcripts import TRANSFER_MESSAGE, generate_transcripts
from abkit.training.tiny import build_random_classifier
from tests.serve_thread import background_server

FAST_WRITER = WriterSettings(flush_interval_s=0.01, health_check_interval_s=0.2)


def _message(message_id, role, text="words", template_id=None):
    return {"message_id": message_id, "role": role, "text": text, "template_id": template_id}


# -- the replay plan (pure) ----------------------------------------------------------------------


def test_each_customer_message_asks_and_the_labelled_reply_answers_the_latest():
    messages = [
        _message("u0", "system"),
        _message("u1", "customer"),
        _message("u2", "advocate"),  # small talk: no label, no request
        _message("u3", "customer"),  # follow-up: a second request
        _message("a0", "advocate", template_id="T0007"),
    ]
    assert case_turns(messages) == [
        Turn("suggest", 2, "u1", 0),
        Turn("suggest", 4, "u3", 0),
        Turn("select", 4, "u3", 0, "T0007"),
    ]


def test_a_transfer_starts_a_new_interaction_that_asks_for_its_own_suggestions():
    messages = [
        _message("u0", "customer"),
        _message("a0", "advocate", template_id="T0001"),
        _message("u1", "system", TRANSFER_MESSAGE),
        _message("a1", "advocate", template_id="T0002"),  # no customer message since the transfer
    ]
    assert case_turns(messages) == [
        Turn("suggest", 1, "u0", 0),
        Turn("select", 1, "u0", 0, "T0001"),
        Turn("suggest", 3, "u1", 1),  # asked on the conversation so far by the second advocate
        Turn("select", 3, "u1", 1, "T0002"),
    ]


def test_a_labelled_first_message_is_skipped_there_is_nothing_to_score():
    assert case_turns([_message("a0", "advocate", template_id="T0001")]) == []


def test_simulated_transcripts_give_one_selection_per_labelled_message():
    for case in generate_transcripts(3, 40, n_templates=DEMO_TEMPLATES):
        turns = case_turns(case["messages"])
        labels = [m["template_id"] for m in case["messages"] if m["template_id"] is not None]
        assert [t.template_id for t in turns if t.kind == "select"] == labels
        customer = sum(m["role"] == "customer" for m in case["messages"])
        assert sum(t.kind == "suggest" for t in turns) == customer
        for turn in (t for t in turns if t.kind == "suggest"):  # the newest message sent is the one answered
            assert case["messages"][turn.upto - 1]["message_id"] == turn.message_id


def test_the_default_label_set_is_the_demo_models():
    # Traffic must use the catalogue the demo model was trained on, or no label matches.
    from abkit.training.demo import DEMO_TEMPLATES as TRAINING_DEMO_TEMPLATES

    assert DEMO_TEMPLATES == TRAINING_DEMO_TEMPLATES == LiveSettings().n_templates
    assert simulate_command.params[[p.name for p in simulate_command.params].index("n_templates")].default == (
        DEMO_TEMPLATES
    )


def test_a_transfer_always_goes_to_another_advocate():
    rng = np.random.default_rng(0)
    for _ in range(500):
        first, second = draw_advocates(rng, 2, 3)
        assert first != second and 0 <= first < 3 and 0 <= second < 3


def test_rank_of_the_chosen_template_among_those_shown():
    shown = [{"template_id": t, "score": 0.1} for t in ("T1", "T2", "T3")]
    assert [rank_of("T1", shown), rank_of("T3", shown), rank_of("T9", shown), rank_of("T1", [])] == [1, 3, 0, 0]


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"n_cases": 0}, "n_cases"), ({"concurrency": 0}, "concurrency"), ({"max_retries": -1}, "max_retries")],
)
def test_bad_settings_are_refused_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        LiveSettings(**changes)


# -- against the real service ------------------------------------------------------------------


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    corpus = generate_transcripts(seed=5, n_cases=40, n_templates=DEMO_TEMPLATES)
    texts = [m["text"] for case in corpus for m in case["messages"]]
    directory = build_random_classifier(
        tmp_path_factory.mktemp("model") / "v1", texts, build_catalogue(DEMO_TEMPLATES).template_ids
    )
    return HFScorer(directory, device="cpu")


def _service(db_url, scorer, holdout_weight=0.3):
    writer = EventWriter(lambda: EventStore.open(db_url), settings=FAST_WRITER)
    experiment = standing_experiment("v1", holdout_weight=holdout_weight)
    return SuggestionService([ModelSlot("v1", lambda: scorer)], experiment, writer, ServiceSettings(deadline_s=30))


def _store(db_url):
    engine = create_engine(db_url)
    with engine.connect() as conn:
        counts = {
            table: dict(conn.execute(text(f"SELECT arm, COUNT(*) FROM {table} GROUP BY arm")).all())
            for table in ("predictions", "selections")
        }
        counts["answered"] = conn.execute(text("SELECT COUNT(prediction_id) FROM selections")).scalar_one()
        counts["cases"] = conn.execute(text("SELECT COUNT(*) FROM cases")).scalar_one()
    engine.dispose()
    return counts


@pytest.mark.slow
def test_driven_events_match_the_drivers_counts_and_the_holdout_sees_nothing(sqlite_url, scorer):
    with background_server(create_app(_service(sqlite_url, scorer))) as url:
        result = drive(url, LiveSettings(n_cases=12, seed=21, concurrency=4))
    stored = _store(sqlite_url)  # the service flushed its events on shutdown
    arms = {arm.arm: arm for arm in result.arms}
    assert set(arms) == {"holdout", "v1"}  # seed 21: both arms get cases at a 30% holdout
    assert stored["predictions"] == {name: a.predictions for name, a in arms.items()}
    assert stored["selections"] == {name: a.selections for name, a in arms.items()}
    assert stored["answered"] == result.selections
    assert stored["cases"] == result.cases == 12
    assert arms["holdout"].shown == 0 and arms["holdout"].top5 == 0
    assert arms["v1"].shown == arms["v1"].predictions
    assert all(a.experiment == "standing" for a in result.arms)


@pytest.mark.slow
def test_the_requests_sent_do_not_depend_on_concurrency(tmp_path, scorer):
    results = []
    for concurrency in (1, 5):
        db_url = f"sqlite:///{tmp_path / f'c{concurrency}.sqlite'}"
        with background_server(create_app(_service(db_url, scorer))) as url:
            results.append(drive(url, LiveSettings(n_cases=6, seed=4, concurrency=concurrency)))
    assert [a.to_dict() for a in results[0].arms] == [a.to_dict() for a in results[1].arms]


@pytest.mark.slow
def test_a_refused_request_stops_the_drive_naming_the_status(sqlite_url, scorer):
    app = create_app(_service(sqlite_url, scorer), token="e2e-secret-token-0123")
    with background_server(app) as url:
        with pytest.raises(LiveError, match="POST /v1/suggest: 401"):
            drive(url, LiveSettings(n_cases=1))
        assert drive(url, LiveSettings(n_cases=1, token="e2e-secret-token-0123")).cases == 1


def test_a_service_that_never_answers_is_reported_not_ready():
    from abkit.serving.server import free_port

    with pytest.raises(LiveError, match="not ready after 0.5 s"):
        drive(f"http://127.0.0.1:{free_port()}", LiveSettings(n_cases=1, ready_timeout_s=0.5))


# -- the command -------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["--db", "x.sqlite", "--serve-url", "http://127.0.0.1:1"]])
def test_simulate_needs_exactly_one_of_db_and_serve_url(args):
    result = CliRunner().invoke(cli, ["simulate", *args])
    assert result.exit_code == 2
    assert "either --db" in result.output


@pytest.mark.slow
def test_simulate_serve_url_prints_the_arms_and_writes_the_summary(sqlite_url, scorer, tmp_path):
    summary = tmp_path / "summary.json"
    with background_server(create_app(_service(sqlite_url, scorer))) as url:
        result = CliRunner().invoke(
            cli, ["simulate", "--serve-url", url, "--cases", "3", "--seed", "21", "-q", "--summary", str(summary)]
        )
    assert result.exit_code == 0, result.output
    document = json.loads(summary.read_text())
    assert document["cases"] == 3
    assert f"drove 3 cases through {url}" in result.output
    for arm in document["arms"]:
        assert f"standing             {arm['arm']:<10}" in result.output
