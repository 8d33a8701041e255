"""`abkit serve`: option checks, and a real process that flushes its events on SIGTERM."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from abkit.assignment.config import ConfigError, standing_experiment
from abkit.cli.serve import TOKEN_ENV, _register, read_token, serve
from abkit.events import EventStore
from abkit.events.schema import experiments, model_versions, predictions
from abkit.serving.server import free_port
from abkit.simulate.transcripts import generate_transcripts
from abkit.training.tiny import build_random_classifier


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    corpus = generate_transcripts(seed=9, n_cases=20, n_templates=12)
    texts = [m["text"] for case in corpus for m in case["messages"]]
    return build_random_classifier(
        tmp_path_factory.mktemp("model"), texts, [f"T{i}" for i in range(12)], model_version="v3"
    )


def test_token_from_file_first_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert read_token(token_file) == "from-file"
    assert read_token(None) == "from-env"
    monkeypatch.delenv(TOKEN_ENV)
    assert read_token(None) is None


def test_empty_token_file_is_an_error(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("  \n")
    result = CliRunner().invoke(serve, ["--model", str(tmp_path), "--token-file", str(token_file)])
    assert result.exit_code == 2 and "the file is empty" in result.output


def test_public_address_without_a_token_is_refused(model_dir, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    result = CliRunner().invoke(serve, ["--model", str(model_dir), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--host 0.0.0.0 is reachable from other machines: give --token-file" in result.output


def test_unknown_experiment_and_unserved_arm_are_refused(model_dir, tmp_path):
    config = tmp_path / "experiments.toml"
    config.write_text('[experiments.challenger]\nsalt = "s"\narms = { holdout = 0.02, v3 = 0.49, v4 = 0.49 }\n')
    db = str(tmp_path / "e.sqlite")
    unknown = CliRunner().invoke(
        serve, ["--model", str(model_dir), "--db", db, "--experiment", "nope", "--experiments-file", str(config)]
    )
    assert unknown.exit_code == 2 and "unknown experiment 'nope'" in unknown.output
    unserved = CliRunner().invoke(
        serve, ["--model", str(model_dir), "--db", db, "--experiment", "challenger", "--experiments-file", str(config)]
    )
    assert unserved.exit_code == 2 and "arm(s) ['v4'] are not served model versions ['v3']" in unserved.output


def test_not_a_serving_directory(tmp_path):
    result = CliRunner().invoke(serve, ["--model", str(tmp_path), "--db", str(tmp_path / "e.sqlite")])
    assert result.exit_code == 2 and "not an abkit serving directory" in result.output


@pytest.mark.parametrize("weight", ["nan", "inf", "0", "1", "1.5", "-0.1"])
def test_holdout_weight_is_checked_with_the_arguments_before_any_model_loads(tmp_path, monkeypatch, weight):
    # It used to be checked when the standing experiment was built, after every model had loaded.
    def no_loading(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a model was loaded before --holdout-weight was checked")

    monkeypatch.setattr("abkit.serving.scorer.hf_model_slot", no_loading)
    result = CliRunner().invoke(
        serve, ["--model", str(tmp_path), "--db", str(tmp_path / "e.sqlite"), "--holdout-weight", weight]
    )
    assert result.exit_code == 2, result.output
    with pytest.raises(ConfigError) as caught:
        standing_experiment("v3", holdout_weight=float(weight))
    assert str(caught.value) in " ".join(result.output.split())  # the same message (click wraps lines)
    assert "--holdout-weight" in result.output


def _prediction_times(store: EventStore) -> list:
    with store.engine.connect() as conn:
        return conn.execute(select(predictions.c.created_at)).scalars().all()


def _served(arms: tuple, name: str = "standing"):  # type: ignore[no-untyped-def]
    from abkit.assignment.config import ExperimentConfig

    return ExperimentConfig(name, name, arms)


def test_serve_applies_its_experiment_at_start_and_logs_it(model_dir, tmp_path, caplog):
    from datetime import datetime, timedelta

    store = EventStore.open(str(tmp_path / "e.sqlite"))
    start = datetime(2026, 5, 1, 8, 0)
    v3 = _served((("holdout", 0.02), ("v3", 0.98)))
    with caplog.at_level("INFO", logger="abkit.serving"):
        _register(v3, (model_dir,), started=start)(store)
        _register(v3, (model_dir,), started=start + timedelta(hours=1))(store)  # a restart: unchanged
    assert "experiment 'standing': new phase 1 (since 2026-05-01 08:00:00 UTC)" in caplog.text
    assert "experiment 'standing': unchanged, phase 1 (since 2026-05-01 08:00:00 UTC)" in caplog.text
    assert [p.phase for p in store.experiment_phases()] == [1]
    assert store.registered_experiments()["standing"][1] == [("holdout", 0.02), ("v3", 0.98)]


def test_serve_whose_definition_is_older_than_the_latest_phase_logs_and_still_writes(model_dir, tmp_path, caplog):
    from datetime import datetime, timedelta

    store = EventStore.open(str(tmp_path / "e.sqlite"))
    start = datetime(2026, 5, 1, 8, 0)
    store.apply_experiment(_served((("holdout", 0.05), ("v3", 0.95))), at=start + timedelta(minutes=5))
    with caplog.at_level("INFO", logger="abkit.serving"):
        _register(_served((("holdout", 0.02), ("v3", 0.98))), (model_dir,), started=start)(store)  # no raise
    assert "this service's definition was not recorded" in caplog.text and "before its phase 1 started" in caplog.text
    assert len(store.experiment_phases()) == 1
    with store.engine.connect() as conn:  # the setup went on to record the model version
        assert conn.execute(select(model_versions.c.model_version)).scalars().all() == ["v3"]


@pytest.mark.slow
def test_a_real_server_registers_serves_and_flushes_on_sigterm(model_dir, tmp_path):
    db = tmp_path / "events.sqlite"
    port = free_port()
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "abkit.cli.main",
            "serve",
            "--model",
            str(model_dir),
            "--db",
            str(db),
            "--port",
            str(port),
            "--device",
            "cpu",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "server not ready in 120 s"
            time.sleep(0.2)
        body = {
            "case_id": "c1",
            "message_id": "m1",
            "advocate_id": "a1",
            "messages": [{"role": "customer", "text": "hi"}],
        }
        answer = httpx.post(f"{url}/v1/suggest", json=body).json()
        assert answer["model_version"] == "v3" and answer["experiment"] == "standing"
        # The conversation's next request: its first message's ids (and the separator's) are cached.
        follow_up = {
            **body,
            "message_id": "m2",
            "messages": [*body["messages"], {"role": "customer", "text": "hello?"}],
        }
        assert httpx.post(f"{url}/v1/suggest", json=follow_up).status_code == 200
        # `abkit serve` settles the heap once the model is loaded (abkit.serving.heap).
        metrics = httpx.get(f"{url}/metrics").text
        frozen = next(line for line in metrics.splitlines() if line.startswith("abkit_gc_frozen_objects "))
        assert float(frozen.split()[1]) > 10_000, frozen  # torch and transformers alone hold far more
        assert "python_gc_collections_total" in metrics and "process_cpu_seconds_total" in metrics
        # Misses: the separator and "hi" on the first request, "hello?" on the second; hits: the
        # separator and "hi" on the second.
        assert 'abkit_token_cache_misses_total{model_version="v3"} 3.0' in metrics
        assert 'abkit_token_cache_hits_total{model_version="v3"} 2.0' in metrics
        assert 'abkit_token_cache_entries{model_version="v3"} 3.0' in metrics
        assert "abkit_batch_size_count 2.0" in metrics  # two requests one after the other: two batches
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is the signal's.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output
    store = EventStore.open(str(db))
    with store.engine.connect() as conn:
        logged = conn.execute(select(predictions.c.prediction_id)).scalars().all()
        assert len(logged) == 2 and answer["prediction_id"] in logged  # both requests, flushed at SIGTERM
        assert conn.execute(select(experiments.c.name)).scalars().all() == ["standing"]
        assert conn.execute(select(model_versions.c.model_version)).scalars().all() == ["v3"]
    # The served definition is the standing experiment's first phase, from the service's start.
    (phase,) = store.experiment_phases()
    assert (phase.experiment, phase.phase, phase.arms) == ("standing", 1, (("holdout", 0.02), ("v3", 0.98)))
    first_event = min(_prediction_times(store))
    assert phase.started_at <= first_event
