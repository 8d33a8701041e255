"""Durable acknowledgement of selections and cases, and conflicting ids, through a real service."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from abkit.events import EventStore
from abkit.events.schema import rejects, selections
from tests.serve_process import start_serve, tiny_model_dir

RATE_PER_S = 30


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("model"))


def _selection(i: int, **changes) -> dict:
    return {
        "selection_id": f"s-{i}",
        "case_id": f"c-{i}",
        "message_id": "m1",
        "advocate_id": f"a-{i % 5}",
        "template_id": "T1",
        "selection_time_s": 12.5,
        **changes,
    }


def _stored_ids(db) -> set[str]:
    with EventStore.open(str(db)) as store, store.engine.connect() as conn:
        return set(conn.execute(select(selections.c.selection_id)).scalars())


def _send_then_kill(url: str, process, *, seconds: float) -> list[str]:
    """Send selections at RATE_PER_S from two clients for ``seconds``, then one more, and SIGKILL the
    service at once (while the two clients still send); return the acknowledged ids."""
    acknowledged: list[str] = []
    stop = threading.Event()

    def sender(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            i = offset
            next_at = time.monotonic()
            while not stop.is_set():
                try:
                    response = client.post("/v1/selections", json=_selection(i))
                except httpx.TransportError:
                    return  # the service is gone: this one was never acknowledged
                if response.status_code == 202:
                    acknowledged.append(response.json()["selection_id"])
                i += 3
                next_at += 2 / RATE_PER_S
                time.sleep(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=sender, args=(k,)) for k in (100, 101)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    last = httpx.post(f"{url}/v1/selections", json=_selection(99), timeout=10)
    assert last.status_code == 202, last.text
    acknowledged.append("s-99")
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    stop.set()
    for thread in threads:
        thread.join()
    return acknowledged


def _conflict_then_counted(url: str, *, durable: bool) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.post("/v1/selections", json=_selection(1)).status_code == 202
        # A retry of the same selection, stamped anew by the service: a true duplicate.
        assert client.post("/v1/selections", json=_selection(1)).status_code == 202
        other = client.post("/v1/selections", json=_selection(1, template_id="T7", selection_time_s=3.0))
        if durable:
            assert other.status_code == 409, other.text
            assert other.json()["detail"] == (
                "selection_id s-1 is stored already with other content (differs in template_id, "
                "selection_time_s); the stored event is kept and this one was not written"
            )
        else:  # answered from memory: the conflict is found when written, and counted
            assert other.status_code == 202
        deadline = time.monotonic() + 10
        while 'abkit_events_conflicts_total{kind="selection"} 1.0' not in (metrics := client.get("/metrics").text):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.1)
        assert 'abkit_events_duplicates_total{kind="selection"} 1.0' in metrics
        assert 'abkit_events_written_total{kind="selection"} 1.0' in metrics


def _check_conflict_kept_the_first(db, output: str) -> None:
    assert "conflicts with the stored event (differs in template_id, selection_time_s)" in output
    with EventStore.open(str(db)) as store, store.engine.connect() as conn:
        kept = conn.execute(
            select(selections.c.template_id, selections.c.selection_time_s).where(selections.c.selection_id == "s-1")
        ).all()
        filed = conn.execute(select(func.count()).select_from(rejects).where(rejects.c.field == "selection_id"))
        assert kept == [("T1", 12.5)]
        assert filed.scalar_one() == 1


def _conflict_then_sigkill(model_dir, db, *, durable: bool, seconds: float) -> list[str]:
    """On a fresh `abkit serve`: the conflict checks, then selections until a SIGKILL; the acknowledged ids."""
    process, url = start_serve(model_dir, db, "--durable-events" if durable else "--buffered-events")
    try:
        _conflict_then_counted(url, durable=durable)
        acknowledged = _send_then_kill(url, process, seconds=seconds)
    finally:
        process.kill()
        output, _ = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    _check_conflict_kept_the_first(db, output)
    return acknowledged


def test_durable_service_conflicts_409_and_sigkill_loses_no_acknowledged_selection(model_dir, tmp_path):
    db = tmp_path / "events.sqlite"
    acknowledged = _conflict_then_sigkill(model_dir, db, durable=True, seconds=3.0)
    assert len(acknowledged) >= 10, "too few selections were acknowledged to prove anything"
    missing = set(acknowledged) - _stored_ids(db)
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged selections lost: {sorted(missing)[:5]}"


def test_buffered_service_counts_conflicts_and_sigkill_loses_the_last_selections(model_dir, tmp_path):
    # The risk --buffered-events documents, shown by the same kill: what the writer still held
    # (it waits up to 0.5 s for a fuller batch) is gone, the last selection at least.
    db = tmp_path / "events.sqlite"
    acknowledged = _conflict_then_sigkill(model_dir, db, durable=False, seconds=2.0)
    lost = set(acknowledged) - _stored_ids(db)
    assert "s-99" in lost, "a buffered service killed right after answering should have lost its last selection"
    assert len(lost) <= RATE_PER_S, f"lost {len(lost)}: more than about a second of selections"
