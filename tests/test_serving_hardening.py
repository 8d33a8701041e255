"""The HTTP service against hostile input: bad bodies, hang-ups, slow clients, the contract it declares.

A real uvicorn on 127.0.0.1 with the tiny GPT-NeoX of test_serving_app.
"""

from __future__ import annotations

import json
import logging
import socket
import time

import httpx
import pytest

from abkit.events import EventStore
from abkit.serving.app import create_app
from abkit.serving.service import ModelSlot, ServiceSettings, SuggestionService
from abkit.serving.writer import EventWriter, WriterSettings
from tests.serve_thread import background_server
from tests.test_serving_app import FAST_WRITER, GOOD, corpus, make_service, model_dirs, running, scorers, wait_until

__all__ = ["corpus", "model_dirs", "scorers"]  # module fixtures shared with test_serving_app

TOKEN = "hardening-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SELECTION = {"case_id": "c", "message_id": "m", "advocate_id": "a", "template_id": "T1", "selection_time_s": 3}


@pytest.fixture(scope="module")
def client(tmp_path_factory, scorers):
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'events.sqlite'}"
    with running(make_service(url, scorers)) as client:
        yield client


def _json(value) -> bytes:
    return json.dumps(value).encode()


def _suggest_text(text_json: str) -> bytes:
    """A suggest body whose one message text is the raw JSON string ``text_json``."""
    return (
        b'{"case_id": "c1", "message_id": "m1", "advocate_id": "a1", "messages": [{"role": "customer", "text": '
        + text_json.encode()
        + b"}]}"
    )


# Each was a 500 before (OverflowError, the tokenizer's TypeError, ValueError, RecursionError),
# or was accepted against the declared schema.
BAD = [
    (
        "offset before year 1",
        "/v1/selections",
        _json({**SELECTION, "created_at": "0001-01-01T00:30:00+01:00"}),
        422,
        "created_at: must be between 0001-01-02 and 9999-12-30",
    ),
    (
        "offset past year 9999",
        "/v1/cases",
        _json({"case_id": "c", "handle_time_s": 5, "closed_at": "9999-12-31T23:00:00-02:00"}),
        422,
        "closed_at: must be between 0001-01-02 and 9999-12-30",
    ),
    ("lone surrogate", "/v1/suggest", _suggest_text('"hi \\udfff"'), 400, "malformed JSON: lone"),
    (
        "5,000-digit integer",
        "/v1/cases",
        b'{"case_id": "c", "handle_time_s": ' + b"7" * 5000 + b"}",
        400,
        "malformed JSON: number out of range",
    ),
    (
        "nested 100,000 deep",
        "/v1/suggest",
        b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        400,
        "malformed JSON: recursion limit exceeded",
    ),
    (
        "NaN deadline",
        "/v1/suggest",
        _json(GOOD)[:-1] + b', "deadline_ms": NaN}',
        422,
        "deadline_ms: Input should be a finite number",
    ),
    (
        "numeric timestamp",
        "/v1/selections",
        _json({**SELECTION, "created_at": 0}),
        422,
        "created_at: must be a string",
    ),
    (
        "timestamp without offset",
        "/v1/selections",
        _json({**SELECTION, "created_at": "2026-12-03T10:00:00"}),
        422,
        "created_at: must be an RFC 3339 timestamp with a UTC offset",
    ),
    (
        "number as string",
        "/v1/selections",
        _json({**SELECTION, "selection_time_s": "3.5"}),
        422,
        "selection_time_s: Input should be a valid number",
    ),
    (
        "boolean as number",
        "/v1/selections",
        _json({**SELECTION, "selection_time_s": True}),
        422,
        "selection_time_s: Input should be a valid number",
    ),
    (
        "message over the limit",
        "/v1/suggest",
        _json({**GOOD, "messages": [{"role": "customer", "text": "x" * 20_001}]}),
        422,
        "messages[0].text: 20,001 characters, over the limit of 20,000 a message",
    ),
]


@pytest.mark.parametrize(("name", "path", "body", "status", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_4xx_naming_the_problem_in_the_error_shape(client, name, path, body, status, message):
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert set(error) <= {"detail", "errors"} and message in error["detail"]
    assert client.post("/v1/suggest", json=GOOD).status_code == 200


@pytest.mark.parametrize("characters", [4_000, 19_999])  # tokenized on the event loop, on a thread
def test_long_messages_within_the_limit_are_served(client, characters):
    body = {**GOOD, "messages": [{"role": "customer", "text": ("card declined " * 2000)[:characters]}]}
    response = client.post("/v1/suggest", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["suggestions"]) in (0, 5)


def test_a_body_that_is_not_json_by_content_type_is_415(client):
    response = client.post("/v1/suggest", content=_json(GOOD), headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json() == {"detail": "Content-Type 'text/plain' is not supported: send application/json"}
    charset = client.post(
        "/v1/suggest", content=_json(GOOD), headers={"content-type": "application/json; charset=utf-8"}
    )
    assert charset.status_code == 200


def test_bad_input_never_produced_a_5xx(client):
    # /ready answers 503 by design until the models are loaded, and the fixture polls it while starting
    statuses = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("abkit_requests_total") and 'endpoint="/ready"' not in line
    ]
    assert statuses and not [line for line in statuses if 'status="5' in line]


# -- what the schema declares ------------------------------------------------------------------


def test_the_schema_declares_what_is_accepted(sqlite_url, scorers):
    service = make_service(sqlite_url, scorers)
    service.settings = ServiceSettings(max_message_chars=777)
    schema = create_app(service, token=TOKEN).openapi()
    models = schema["components"]["schemas"]
    message = models["MessageIn"]["properties"]
    assert message["role"]["enum"] == ["customer", "system", "advocate"]
    assert (message["text"]["minLength"], message["text"]["maxLength"]) == (1, 777)
    suggest = models["SuggestRequest"]["properties"]
    assert suggest["messages"]["minItems"] == 1 and "pattern" in suggest["case_id"]
    deadline = suggest["deadline_ms"]["anyOf"][0]
    assert (deadline["type"], deadline["minimum"], deadline["maximum"]) == ("number", 50.0, 60_000.0)
    created_at = models["SelectionRequest"]["properties"]["created_at"]["anyOf"][0]
    assert created_at["format"] == "date-time" and created_at["pattern"].startswith("^(?!0001-01-01|9999-12-31)")
    metrics = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    assert schema["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert schema["paths"]["/v1/suggest"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in schema["paths"]["/ready"]["get"]  # probes stay open
    assert "Retry-After" in schema["paths"]["/v1/suggest"]["post"]["responses"]["429"]["headers"]


# -- clients that go away or never finish ----------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _head(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _status_lines(metrics: str, endpoint: str) -> dict[str, float]:
    prefix = f'abkit_requests_total{{endpoint="{endpoint}",status="'
    found = {}
    for line in metrics.splitlines():
        if line.startswith(prefix):
            status, value = line.removeprefix(prefix).split('"} ')
            found[status] = float(value)
    return found


def test_a_client_that_hangs_up_mid_body_is_a_quiet_499(sqlite_url, scorers):
    service = make_service(sqlite_url, scorers)
    with background_server(create_app(service)) as url, httpx.Client(base_url=url) as client:
        wait_until(lambda: client.get("/ready").status_code == 200)
        records = Records()
        loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn", "abkit", "")]
        for logger in loggers:
            logger.addHandler(records)
        try:
            for path in ("/v1/suggest", "/v1/selections"):
                with _raw(url) as sock:
                    sock.sendall(_head(path, 1000) + b'{"case_id": ')
                    time.sleep(0.2)
            wait_until(lambda: _status_lines(client.get("/metrics").text, "/v1/selections").get("499") == 1)
        finally:
            for logger in loggers:
                logger.removeHandler(records)
        metrics = client.get("/metrics").text
        assert _status_lines(metrics, "/v1/suggest") == {"499": 1.0}
        assert _status_lines(metrics, "/v1/selections") == {"499": 1.0}
        assert [r.getMessage() for r in records.records if r.levelno >= logging.WARNING] == []
        assert client.post("/v1/suggest", json=GOOD).status_code == 200


def test_slow_clients_are_timed_out_and_their_connections_closed(sqlite_url, scorers):
    service = make_service(sqlite_url, scorers)
    with background_server(create_app(service), read_timeout_s=0.5) as url, httpx.Client(base_url=url) as client:
        wait_until(lambda: client.get("/ready").status_code == 200)
        started = time.monotonic()
        silent = [_raw(url) for _ in range(10)]  # connect and send nothing
        half_headers = [_raw(url) for _ in range(10)]
        half_bodies = [_raw(url) for _ in range(10)]
        for sock in half_headers:
            sock.sendall(b"POST /v1/suggest HTTP/1.1\r\nHost: x\r\nContent-Le")
        for sock in half_bodies:
            sock.sendall(_head("/v1/suggest", 500) + b'{"case_id": "c1", ')
        answers = []
        for sock in silent + half_headers + half_bodies:
            received = b""
            while chunk := sock.recv(4096):  # the server closes the connection: recv returns b""
                received += chunk
            answers.append(received)
            sock.close()
        took = time.monotonic() - started
        assert took < 8, f"slow connections stayed open for {took:.1f} s"  # 0.5 s asked; generous for a busy machine
        assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
        assert b"request not received within 0.5 s" in answers[-1]
        assert _status_lines(client.get("/metrics").text, "/v1/suggest") == {"408": 10.0}
        assert client.post("/v1/suggest", json=GOOD).status_code == 200  # kept-alive clients are unaffected


# -- readiness without the token, the spill log line ------------------------------------------------


def test_ready_without_the_token_does_not_show_the_database_host(scorers, tmp_path):
    unreachable = "postgresql+psycopg://abkit@127.0.0.1:9/abkit"  # port 9: nothing listens
    writer = EventWriter(lambda: EventStore.open(unreachable), settings=FAST_WRITER)
    service = SuggestionService(
        [ModelSlot("v1", lambda: scorers["v1"])],
        make_service(f"sqlite:///{tmp_path / 'e.sqlite'}", scorers).experiment,
        writer,
    )
    with background_server(create_app(service, token=TOKEN)) as url, httpx.Client(base_url=url) as client:
        wait_until(lambda: service.loaded and writer.last_error is not None)
        public = client.get("/ready")
        assert public.status_code == 503
        assert public.json() == {"ready": False, "problems": ["event database unavailable"]}
        detailed = client.get("/ready", headers=AUTH).json()
        assert detailed["problems"][0].startswith("event database unavailable: ")
        assert "127.0.0.1" in detailed["problems"][0] and detailed["models"] == ["v1"]


def test_the_unwritten_events_log_line_names_a_count_and_a_few_ids(tmp_path, caplog):
    writer = EventWriter(
        lambda: EventStore.open("postgresql+psycopg://abkit@127.0.0.1:9/abkit"),
        settings=WriterSettings(flush_interval_s=0.01, backoff_initial_s=0.01, backoff_max_s=0.05),
    )
    writer.start()
    for i in range(500):
        writer.put("case", {"case_id": f"case-{i}", "handle_time_s": 1.0, "closed_at": None})
    with caplog.at_level(logging.ERROR, logger="abkit.serving.writer"):
        assert writer.close(timeout=0.2) == 500
    line = next(r.getMessage() for r in caplog.records if "unwritten case events" in r.getMessage())
    assert line == "event writer closed with 500 unwritten case events (first ids: case-0, case-1, case-2)"
