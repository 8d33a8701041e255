"""The HTTP service end to end: a real uvicorn on 127.0.0.1, a tiny GPT-NeoX built here."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from abkit.assignment import ExperimentConfig, standing_experiment
from abkit.events import EventStore
from abkit.events.schema import cases, predictions, selections
from abkit.serving.app import create_app
from abkit.serving.batcher import BatcherSettings
from abkit.serving.scorer import HFScorer
from abkit.serving.service import ModelSlot, ServiceSettings, SuggestionService
from abkit.serving.writer import EventWriter, WriterSettings
from abkit.simulate.transcripts import generate_transcripts
from abkit.text import Message
from abkit.training.tiny import build_random_classifier
from tests.serve_thread import background_server

TEMPLATES = [f"T{i:04d}" for i in range(40)]
FAST_WRITER = WriterSettings(
    flush_interval_s=0.01, backoff_initial_s=0.02, backoff_max_s=0.2, health_check_interval_s=0.2
)


@pytest.fixture(scope="module")
def corpus():
    return generate_transcripts(seed=5, n_cases=60, n_templates=len(TEMPLATES))


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, corpus):
    texts = [m["text"] for case in corpus for m in case["messages"]]
    root = tmp_path_factory.mktemp("models")
    return {
        version: build_random_classifier(root / version, texts, TEMPLATES, model_version=version, seed=seed)
        for seed, version in enumerate(("v1", "v2"))
    }


@pytest.fixture(scope="module")
def scorers(model_dirs):
    return {version: HFScorer(directory, device="cpu") for version, directory in model_dirs.items()}


class Gated:
    """A scorer whose forward passes wait for ``gate`` (to hold the worker busy on purpose)."""

    def __init__(self, inner: HFScorer):
        self.inner = inner
        self.model_version = inner.model_version
        self.max_tokens = inner.max_tokens
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # set when a forward pass starts

    def encode(self, messages):
        return self.inner.encode(messages)

    def score(self, sequences):
        self.entered.set()
        assert self.gate.wait(30), "test gate never opened"
        return self.inner.score(sequences)


def make_service(
    db_url,
    scorers,
    *,
    versions=("v1",),
    experiment=None,
    batcher=None,
    writer=FAST_WRITER,
    deadline_s=5.0,
    durable_events=True,
    durable_timeout_s=5.0,
):
    models = [ModelSlot(v, lambda v=v: scorers[v]) for v in versions]
    experiment = experiment or standing_experiment(versions[0])
    event_writer = EventWriter(lambda: EventStore.open(db_url), settings=writer)
    settings = ServiceSettings(
        batcher=batcher or BatcherSettings(),
        deadline_s=deadline_s,
        durable_events=durable_events,
        durable_timeout_s=durable_timeout_s,
    )
    return SuggestionService(models, experiment, event_writer, settings)


def wait_until(condition, timeout=20.0, message="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.02)


@contextmanager
def running(service, **app_options):
    with background_server(create_app(service, **app_options)) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_until(lambda: client.get("/ready").status_code == 200, message="/ready")
        yield client


def request_body(case, n_messages=3, advocate="adv-1", message_index=None):
    messages = case["messages"][:n_messages]
    return {
        "case_id": case["case_id"],
        "message_id": messages[-1]["message_id"] if message_index is None else message_index,
        "advocate_id": advocate,
        "messages": [{"role": m["role"], "text": m["text"]} for m in messages],
    }


def unit_in_arm(experiment: ExperimentConfig, arm: str) -> tuple[str, str]:
    for i in range(100_000):
        advocate, case = f"adv-{i}", f"case-{i}"
        if experiment.assign(advocate, case) == arm:
            return advocate, case
    raise AssertionError(f"no unit in arm {arm}")


def rows(db_url, table):
    with EventStore.open(db_url).engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


# -- assignment and the holdout ---------------------------------------------------------------


def test_holdout_share_over_20k_interactions_is_2_percent(sqlite_url, scorers):
    service = make_service(sqlite_url, scorers)
    n = 20_000
    holdout = sum(service.arm_of(f"adv-{i % 700}", f"case-{i}")[0] == "holdout" for i in range(n))
    share, p = holdout / n, 0.02
    standard_error = (p * (1 - p) / n) ** 0.5  # binomial SE of a share
    assert abs(share - p) < 4 * standard_error, (share, standard_error)


def test_holdout_gets_no_suggestions_but_its_prediction_is_logged(sqlite_url, scorers, corpus):
    service = make_service(sqlite_url, scorers)
    held_advocate, held_case = unit_in_arm(service.experiment, "holdout")
    shown_advocate, shown_case = unit_in_arm(service.experiment, "v1")
    with running(service) as client:
        held = client.post(
            "/v1/suggest", json=request_body({**corpus[0], "case_id": held_case}, advocate=held_advocate)
        )
        shown = client.post(
            "/v1/suggest", json=request_body({**corpus[0], "case_id": shown_case}, advocate=shown_advocate)
        )
    assert held.status_code == 200 and shown.status_code == 200
    assert held.json()["arm"] == "holdout" and held.json()["suggestions"] == []
    assert held.json()["model_version"] == "v1"  # the baseline scores the holdout
    assert shown.json()["arm"] == "v1" and len(shown.json()["suggestions"]) == 5
    logged = {r["prediction_id"]: r for r in rows(sqlite_url, predictions)}
    held_row = logged[held.json()["prediction_id"]]
    assert held_row["arm"] == "holdout" and held_row["advocate_id"] == held_advocate
    assert all(held_row[f"template_id_{k}"] for k in range(1, 6))
    # Same conversation, same model: the holdout was scored exactly like the treatment.
    assert [held_row[f"template_id_{k}"] for k in range(1, 6)] == [
        s["template_id"] for s in shown.json()["suggestions"]
    ]


def test_challenger_arms_are_served_by_their_model(sqlite_url, scorers, corpus):
    experiment = ExperimentConfig("v2-challenger", "salt-x", (("holdout", 0.02), ("v1", 0.49), ("v2", 0.49)))
    service = make_service(sqlite_url, scorers, versions=("v1", "v2"), experiment=experiment)
    with running(service) as client:
        for arm in ("v1", "v2", "holdout"):
            advocate, case = unit_in_arm(experiment, arm)
            body = client.post(
                "/v1/suggest", json=request_body({**corpus[1], "case_id": case}, advocate=advocate)
            ).json()
            expected_version = "v1" if arm == "holdout" else arm
            assert (body["arm"], body["model_version"], body["experiment"]) == (arm, expected_version, "v2-challenger")
            ids = scorers[expected_version].encode([Message(m["role"], m["text"]) for m in corpus[1]["messages"][:3]])
            if arm != "holdout":
                assert [s["template_id"] for s in body["suggestions"]] == list(
                    scorers[arm].score([ids])[0].template_ids
                )


def test_an_experiment_arm_without_a_served_model_is_refused(sqlite_url, scorers):
    experiment = ExperimentConfig("x", "salt", (("holdout", 0.02), ("v9", 0.98)))
    with pytest.raises(ValueError, match=r"arm\(s\) \['v9'\] are not served model versions"):
        make_service(sqlite_url, scorers, experiment=experiment)


# -- batching ------------------------------------------------------------------------------------


def test_concurrent_requests_get_the_same_top5_as_scoring_alone(sqlite_url, scorers, corpus):
    gated = Gated(scorers["v1"])
    service = make_service(sqlite_url, {"v1": gated}, batcher=BatcherSettings(max_batch_size=8))
    bodies = [request_body(case, n_messages=2 + i % 6, advocate=f"adv-{i}") for i, case in enumerate(corpus[:24])]

    async def fire(url):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            gated.gate.clear()  # hold the worker so that the requests queue up and are batched
            tasks = [asyncio.ensure_future(client.post("/v1/suggest", json=b)) for b in bodies]
            await asyncio.sleep(0.3)
            gated.gate.set()
            return await asyncio.gather(*tasks)

    with running(service) as client:
        responses = asyncio.run(fire(str(client.base_url)))
        batch_sizes = client.get("/metrics").text
    assert "abkit_batch_size_count" in batch_sizes
    count = float(batch_sizes.split("abkit_batch_size_count ")[1].split()[0])
    assert count < 24  # fewer forward passes than requests: they were batched
    for body, response in zip(bodies, responses, strict=True):
        assert response.status_code == 200, response.text
        got = response.json()
        if got["arm"] == "holdout":
            continue
        ids = scorers["v1"].encode([Message(m["role"], m["text"]) for m in body["messages"]])
        alone = scorers["v1"].score([ids])[0]
        assert [s["template_id"] for s in got["suggestions"]] == list(alone.template_ids)
        np.testing.assert_allclose([s["score"] for s in got["suggestions"]], alone.scores, rtol=1e-4, atol=1e-6)


# -- bad input ------------------------------------------------------------------------------------

GOOD = {
    "case_id": "c1",
    "message_id": "m1",
    "advocate_id": "a1",
    "messages": [{"role": "customer", "text": "my card was declined"}],
}
TEN_MB = 10 * 1024 * 1024


def _with(**changes):
    body = {**GOOD, **changes}
    return {k: v for k, v in body.items() if v is not ...}


BAD_SUGGEST = [
    ("malformed JSON", b'{"case_id": ', 400, "malformed JSON"),
    ("invalid UTF-8", b'{"case_id": "\xff\xfe"}', 400, "not valid UTF-8 (byte 13)"),
    ("empty body", b"", 400, "empty request body"),
    ("not an object", b"[1, 2]", 422, "expected a JSON object, got list"),
    ("missing field", _with(advocate_id=...), 422, "advocate_id: Field required"),
    (
        "wrong type text",
        _with(messages=[{"role": "customer", "text": 5}]),
        422,
        "messages[0].text: Input should be a valid string",
    ),
    ("wrong type messages", _with(messages="hello"), 422, "messages: Input should be a valid array"),
    ("wrong type id", _with(case_id=17), 422, "case_id: Input should be a valid string"),
    ("empty messages", _with(messages=[]), 422, "messages: List should have at least 1 item"),
    ("empty text", _with(messages=[{"role": "customer", "text": "   "}]), 422, "messages[0].text: missing or empty"),
    (
        "unknown role",
        _with(messages=[{"role": "bot", "text": "hi"}]),
        422,
        "messages[0].role: Input should be 'customer', 'system' or 'advocate'",
    ),
    ("unknown field", _with(extra=1), 422, "extra: unknown field"),
    ("empty id", _with(case_id=""), 422, "case_id: String should have at least 1 character"),
    ("blank id", _with(case_id=" \u3000"), 422, "case_id: String should have at least 1 character"),
    ("long id", _with(case_id="x" * 129), 422, "case_id: String should have at most 128 characters"),
    ("separator in id", _with(case_id="a\x1fb"), 422, "case_id: must not contain the \\x1f separator"),
    ("bad deadline", _with(deadline_ms=-5), 422, "deadline_ms: Input should be greater than or equal to 50"),
]


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory, scorers):
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'events.sqlite'}"
    with running(make_service(url, scorers)) as client:
        yield client


@pytest.mark.parametrize(("name", "body", "status", "message"), BAD_SUGGEST, ids=[b[0] for b in BAD_SUGGEST])
def test_bad_suggest_input_gets_a_4xx_naming_the_problem(shared_client, name, body, status, message):
    if isinstance(body, bytes):
        response = shared_client.post("/v1/suggest", content=body, headers={"content-type": "application/json"})
    else:
        response = shared_client.post("/v1/suggest", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    # ... and the service keeps serving.
    assert shared_client.post("/v1/suggest", json=GOOD).status_code == 200


def test_a_10_mb_body_is_refused_whether_announced_or_streamed(shared_client):
    announced = shared_client.post("/v1/suggest", content=b"x" * TEN_MB)
    assert announced.status_code == 413
    assert f"request body of {TEN_MB} bytes exceeds the limit" in announced.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(10):
            yield b"x" * (1024 * 1024)

    streamed = shared_client.post("/v1/suggest", content=chunks())
    assert streamed.status_code == 413
    assert "exceeds the limit of 1000000 bytes" in streamed.json()["detail"]
    assert shared_client.post("/v1/suggest", json=GOOD).status_code == 200


BAD_EVENTS = [
    (
        "/v1/selections",
        {"case_id": "c", "message_id": "m", "advocate_id": "a", "template_id": "T1", "selection_time_s": "soon"},
        "selection_time_s: Input should be a valid number",
    ),
    (
        "/v1/selections",
        {"case_id": "c", "message_id": "m", "advocate_id": "a", "template_id": "T1", "selection_time_s": -1},
        "selection_time_s: Input should be greater than or equal to 0",
    ),
    (
        "/v1/selections",
        {"case_id": "c", "message_id": "m", "advocate_id": "a", "selection_time_s": 3},
        "template_id: Field required",
    ),
    ("/v1/cases", {"case_id": "c"}, "handle_time_s: Field required"),
    (
        "/v1/cases",
        {"case_id": "c", "handle_time_s": 10, "closed_at": "yesterday"},
        "closed_at: must be an RFC 3339 timestamp with a UTC offset",
    ),
]


@pytest.mark.parametrize(("path", "body", "message"), BAD_EVENTS)
def test_bad_event_input_gets_a_422_naming_the_field(shared_client, path, body, message):
    response = shared_client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_no_bad_input_ever_produced_a_5xx(shared_client):
    metrics = shared_client.get("/metrics").text
    server_errors = [
        line
        for line in metrics.splitlines()
        if line.startswith("abkit_requests_total") and 'status="5' in line and "/ready" not in line
    ]
    assert server_errors == []


def test_docs_and_openapi_describe_the_api(shared_client):
    assert shared_client.get("/docs").status_code == 200
    schema = shared_client.get("/openapi.json").json()
    assert {"/v1/suggest", "/v1/selections", "/v1/cases", "/ready", "/metrics"} <= set(schema["paths"])
    assert "messages" in schema["components"]["schemas"]["SuggestRequest"]["properties"]
    assert "MessageIn" in schema["components"]["schemas"]


# -- overload, deadlines, readiness, auth ------------------------------------------------------------


def test_overload_gives_429_with_retry_after_and_the_service_recovers(sqlite_url, scorers):
    gated = Gated(scorers["v1"])
    service = make_service(sqlite_url, {"v1": gated}, batcher=BatcherSettings(max_queue=3, max_batch_size=1))

    async def flood(url):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            gated.gate.clear()
            gated.entered.clear()
            first = asyncio.ensure_future(client.post("/v1/suggest", json=_with(case_id="c-first")))
            while not gated.entered.is_set():  # the first request now holds the worker
                await asyncio.sleep(0.01)
            tasks = [first] + [
                asyncio.ensure_future(client.post("/v1/suggest", json=_with(case_id=f"c{i}"))) for i in range(11)
            ]
            await asyncio.sleep(0.5)
            gated.gate.set()
            return await asyncio.gather(*tasks)

    with running(service) as client:
        responses = asyncio.run(flood(str(client.base_url)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) == 4  # one in the worker, three queued
        refused = [r for r in responses if r.status_code == 429]
        assert len(refused) == 8
        assert refused[0].headers["retry-after"] == "1"
        assert "queue is full" in refused[0].json()["detail"]
        assert all(client.post("/v1/suggest", json=_with(case_id=f"d{i}")).status_code == 200 for i in range(5))


def test_a_request_past_its_deadline_gets_504_and_is_never_run(sqlite_url, scorers):
    gated = Gated(scorers["v1"])
    service = make_service(sqlite_url, {"v1": gated})
    with running(service) as client:
        gated.gate.clear()
        response = client.post("/v1/suggest", json=_with(deadline_ms=100))
        gated.gate.set()
        assert response.status_code == 504
        assert response.json()["detail"] == "deadline of 100 ms passed before the model answered"
        assert client.post("/v1/suggest", json=GOOD).status_code == 200


def test_a_failing_forward_pass_is_a_clear_500_and_the_service_goes_on(sqlite_url, scorers):
    class Failing(Gated):
        fail = True

        def score(self, sequences):
            if Failing.fail:
                Failing.fail = False
                raise RuntimeError("CUDA error: an illegal memory access was encountered")
            return super().score(sequences)

    service = make_service(sqlite_url, {"v1": Failing(scorers["v1"])})
    with running(service) as client:
        failed = client.post("/v1/suggest", json=GOOD)
        assert failed.status_code == 500
        assert (
            failed.json()["detail"]
            == "internal error: RuntimeError: CUDA error: an illegal memory access was encountered"
        )
        assert client.post("/v1/suggest", json=GOOD).status_code == 200


def test_a_client_that_hangs_up_is_dropped_before_the_forward_pass(sqlite_url, scorers):
    gated = Gated(scorers["v1"])
    service = make_service(sqlite_url, {"v1": gated})
    with running(service) as client:
        gated.gate.clear()
        blocker = threading.Thread(target=lambda: client.post("/v1/suggest", json=_with(case_id="first")))
        blocker.start()  # occupies the worker
        wait_until(lambda: service.queue_sizes()["v1"] == 0 and "abkit_batch" in client.get("/metrics").text)
        time.sleep(0.1)
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v1/suggest", json=_with(case_id="impatient"), timeout=0.3)
        wait_until(lambda: service.queue_sizes()["v1"] == 1, message="the abandoned request to be queued")
        # The server hears of the hang-up asynchronously: release the worker only once the watcher has
        # cancelled the queued request, or on a busy machine the batcher may take it first.
        queued = service.batchers["v1"]._pending
        wait_until(lambda: all(item.future.cancelled() for item in queued), message="the hang-up to be noticed")
        gated.gate.set()
        blocker.join()
        wait_until(lambda: 'abkit_requests_dropped_total{reason="client_gone"} 1.0' in client.get("/metrics").text)
    assert "impatient" not in {r["case_id"] for r in rows(sqlite_url, predictions)}


def test_ready_is_503_until_the_model_is_loaded(sqlite_url, scorers):
    loaded = threading.Event()

    def slow_load():
        assert loaded.wait(30)
        return scorers["v1"]

    service = SuggestionService(
        [ModelSlot("v1", slow_load)],
        standing_experiment("v1"),
        EventWriter(lambda: EventStore.open(sqlite_url), settings=FAST_WRITER),
    )
    with background_server(create_app(service)) as url, httpx.Client(base_url=url) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503 and "models are loading" in ready.json()["problems"]
        early = client.post("/v1/suggest", json=GOOD)
        assert early.status_code == 503 and "not ready yet" in early.json()["detail"]
        assert client.get("/health").status_code == 200
        loaded.set()
        wait_until(lambda: client.get("/ready").status_code == 200)
        assert client.post("/v1/suggest", json=GOOD).status_code == 200


def test_a_model_that_fails_to_load_is_reported_not_hidden(sqlite_url):
    def broken_load():
        raise RuntimeError("weights file truncated")

    service = SuggestionService(
        [ModelSlot("v1", broken_load)],
        standing_experiment("v1"),
        EventWriter(lambda: EventStore.open(sqlite_url), settings=FAST_WRITER),
    )
    with background_server(create_app(service)) as url, httpx.Client(base_url=url) as client:
        wait_until(lambda: service.load_error is not None)
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "model load failed: RuntimeError: weights file truncated" in ready.json()["problems"]
        refused = client.post("/v1/suggest", json=GOOD)
        assert refused.status_code == 503 and "model failed to load" in refused.json()["detail"]


def test_bearer_token_is_required_when_configured(sqlite_url, scorers):
    with running(make_service(sqlite_url, scorers), token="s3cret-token-0123") as client:
        missing = client.post("/v1/suggest", json=GOOD)
        assert missing.status_code == 401 and "missing bearer token" in missing.json()["detail"]
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = client.post("/v1/suggest", json=GOOD, headers={"Authorization": "Bearer s3cret-token-0124"})
        assert wrong.status_code == 401 and "invalid bearer token" in wrong.json()["detail"]
        other_scheme = client.post("/v1/suggest", json=GOOD, headers={"Authorization": "Basic s3cret-token-0123"})
        assert other_scheme.status_code == 401
        assert client.get("/metrics").status_code == 401
        ok = client.post("/v1/suggest", json=GOOD, headers={"Authorization": "Bearer s3cret-token-0123"})
        assert ok.status_code == 200
        # RFC 7235: the scheme name is case-insensitive.
        lower = client.post("/v1/suggest", json=GOOD, headers={"Authorization": "bearer s3cret-token-0123"})
        assert lower.status_code == 200
        assert client.get("/health").status_code == 200  # probes stay open


@pytest.mark.parametrize("token", ["x", "fifteen-chars-x"])
def test_a_short_bearer_token_is_refused_at_startup(sqlite_url, scorers, token):
    with pytest.raises(ValueError, match=f"the bearer token has {len(token)} characters; use at least 16"):
        create_app(make_service(sqlite_url, scorers), token=token)


def test_full_event_buffer_refuses_with_503_instead_of_dropping(sqlite_url, scorers):
    # Buffered events (not durable), so that they can be held in the buffer.
    service = make_service(
        sqlite_url, scorers, writer=WriterSettings(max_pending=3, flush_interval_s=60), durable_events=False
    )
    with running(service) as client:
        # The writer waits up to 60 s for a fuller batch, so these stay buffered.
        accepted = [client.post("/v1/cases", json={"case_id": f"c{i}", "handle_time_s": 60}) for i in range(3)]
        assert [r.status_code for r in accepted] == [202] * 3
        refused = client.post("/v1/suggest", json=GOOD)
        assert refused.status_code == 503 and "event buffer full" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "1"
        assert client.post("/v1/cases", json={"case_id": "c9", "handle_time_s": 1}).status_code == 503
        assert "event buffer full" in client.get("/ready").json()["problems"][0]
    assert sorted(r["case_id"] for r in rows(sqlite_url, cases)) == ["c0", "c1", "c2"]  # flushed at shutdown


# -- events: shutdown flush and database outage ---------------------------------------------------


def test_shutdown_flushes_every_acknowledged_event(sqlite_url, scorers, corpus):
    # A writer that would wait a minute for a fuller batch: only the shutdown flush writes.
    service = make_service(
        sqlite_url, scorers, writer=WriterSettings(flush_interval_s=60, batch_size=10_000), durable_events=False
    )
    with running(service) as client:
        predicted = [
            client.post("/v1/suggest", json=request_body(case, advocate="a")).json()["prediction_id"]
            for case in corpus[:15]
        ]
        selected = [
            client.post(
                "/v1/selections",
                json={
                    "case_id": case["case_id"],
                    "message_id": "m",
                    "advocate_id": "a",
                    "template_id": "T0001",
                    "selection_time_s": 12.5,
                    "prediction_id": pid,
                },
            ).json()["selection_id"]
            for case, pid in zip(corpus[:15], predicted, strict=True)
        ]
        closed = client.post(
            "/v1/cases", json={"case_id": "c-closed", "handle_time_s": 300, "closed_at": "2026-01-01T10:00:00Z"}
        )
        assert closed.status_code == 202
        assert service.writer.pending == 31
    assert sorted(r["prediction_id"] for r in rows(sqlite_url, predictions)) == sorted(predicted)
    stored = rows(sqlite_url, selections)
    assert sorted(r["selection_id"] for r in stored) == sorted(selected)
    assert {r["arm"] for r in stored} <= {"holdout", "v1"} and {r["selection_time_s"] for r in stored} == {12.5}
    assert [(r["case_id"], r["handle_time_s"]) for r in rows(sqlite_url, cases)] == [("c-closed", 300.0)]


def _set_connections(postgres_url: str, allowed: bool) -> None:
    """Make the test database refuse (and drop) connections, as if its server had died."""
    import psycopg

    name = postgres_url.rsplit("/", 1)[1]
    port = postgres_url.rsplit(":", 1)[1].split("/")[0]
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


@pytest.mark.postgres
def test_database_outage_loses_no_acknowledged_event(postgres_url, scorers):
    service = make_service(postgres_url, scorers, durable_timeout_s=1.0)
    acknowledged: list[str] = []

    def suggest(client, tag, n):
        for i in range(n):
            response = client.post("/v1/suggest", json=_with(case_id=f"{tag}-{i}"))
            assert response.status_code == 200, response.text
            acknowledged.append(response.json()["prediction_id"])

    with running(service) as client:
        suggest(client, "before", 10)
        wait_until(lambda: service.writer.pending == 0, message="the first events to be written")
        _set_connections(postgres_url, allowed=False)
        try:
            suggest(client, "during", 10)
            selection = {
                "case_id": "during-0",
                "message_id": "m",
                "advocate_id": "a1",
                "template_id": "T0003",
                "selection_time_s": 4,
            }
            # A durable selection cannot be acknowledged while the database is down: a 503 that
            # names its id; it stays queued, and the retry after recovery is a duplicate.
            waiting = client.post("/v1/selections", json={**selection, "selection_id": "s-during"})
            assert waiting.status_code == 503, waiting.text
            assert "selection s-during not yet stored" in waiting.json()["detail"]
            assert waiting.headers["retry-after"] == "1"
            wait_until(lambda: client.get("/ready").status_code == 503, message="/ready to report the outage")
            assert "event database unavailable" in client.get("/ready").json()["problems"][0]
            assert service.writer.pending > 0
            metrics = client.get("/metrics").text
            assert "abkit_event_db_up 0.0" in metrics
        finally:
            _set_connections(postgres_url, allowed=True)
        wait_until(lambda: service.writer.pending == 0, message="the buffered events to be written after recovery")
        assert client.get("/ready").status_code == 200
        suggest(client, "after", 5)
        assert client.post("/v1/selections", json={**selection, "selection_id": "s-during"}).status_code == 202
        assert 'abkit_events_duplicates_total{kind="selection"} 1.0' in client.get("/metrics").text
    assert sorted(r["prediction_id"] for r in rows(postgres_url, predictions)) == sorted(acknowledged)
    assert [r["selection_id"] for r in rows(postgres_url, selections)] == ["s-during"]
