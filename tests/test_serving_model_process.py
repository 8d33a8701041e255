"""ProcessScorer: the model in a spawned child gives what HFScorer gives in this process."""

import asyncio
import platform
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from abkit.serving.allocator import AllocatorSettings
from abkit.serving.model_process import (
    DEFAULT_SPIN_MS,
    ModelProcessError,
    ProcessScorer,
    _spin_until_readable,
    cpu_threads_per_model,
    spin_ms_per_model,
)
from abkit.serving.scorer import HFScorer, hf_model_slot
from abkit.simulate.transcripts import generate_transcripts
from abkit.text import Message
from abkit.training.tiny import build_random_classifier

TEMPLATES = [f"T{i:04d}" for i in range(40)]
pytestmark = pytest.mark.slow  # each child imports torch and transformers afresh (a few seconds)


@pytest.fixture(scope="module")
def corpus():
    return generate_transcripts(seed=5, n_cases=30, n_templates=len(TEMPLATES))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, corpus):
    texts = [m["text"] for case in corpus for m in case["messages"]]
    return build_random_classifier(tmp_path_factory.mktemp("model"), texts, TEMPLATES, model_version="v9", seed=2)


@pytest.fixture(scope="module")
def child(model_dir):
    scorer = ProcessScorer(model_dir, device="cpu", cpu_threads=1)
    yield scorer
    scorer.close()


def conversations(corpus):
    return [[Message(m["role"], m["text"]) for m in case["messages"][: 2 + i % 4]] for i, case in enumerate(corpus)]


def test_same_inputs_and_top5_as_the_in_process_scorer(child, model_dir, corpus):
    local = HFScorer(model_dir, device="cpu")
    assert (child.model_version, child.max_tokens, child.parameters) == ("v9", 512, local.parameters)
    sequences = [local.encode(messages) for messages in conversations(corpus)]
    assert [child.encode(messages) for messages in conversations(corpus)] == sequences
    for remote, here in zip(child.score(sequences), local.score(sequences), strict=True):
        assert remote.template_ids == here.template_ids
        np.testing.assert_allclose(remote.scores, here.scores, rtol=1e-5)


def test_the_child_times_its_forward_passes_within_the_callers_round_trip(child):
    before = child.forward_time
    started = time.perf_counter()
    child.score([[5, 6, 7]])
    child.score([[5, 6, 7], [8, 9]])
    elapsed = time.perf_counter() - started
    assert child.forward_time.batches == before.batches + 2
    assert 0 < child.forward_time.seconds - before.seconds < elapsed


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator settings are glibc's")
def test_the_child_keeps_freed_memory_unless_told_not_to(child, model_dir):
    assert child.allocator == AllocatorSettings(
        True, "glibc keeps freed memory: mmap threshold 32 MiB, trim threshold 1024 MiB"
    )
    untuned = ProcessScorer(model_dir, device="cpu", cpu_threads=1, tune_malloc=False)
    try:
        assert untuned.allocator == AllocatorSettings(False, "off (--no-tune-malloc)")
    finally:
        untuned.close()


def test_a_failed_forward_pass_raises_its_own_error_and_the_child_goes_on(child, corpus):
    with pytest.raises(ValueError, match="token batch: sequence 1 is empty"):
        child.score([[5, 6, 7], []])
    (top,) = child.score([child.encode(conversations(corpus)[0])])
    assert len(top.suggestions) == 5


def test_batches_sent_while_one_runs_each_get_their_own_results(child, model_dir, corpus):
    # Threads send batches to the child without waiting for each other (concurrent_batches);
    # the replies come back in order and each caller must receive its own batch's.
    assert child.concurrent_batches == 2
    local = HFScorer(model_dir, device="cpu")
    batches = [[local.encode(m)] * (1 + k % 3) for k, m in enumerate(conversations(corpus))]
    expected = [[t.template_ids for t in local.score(batch)] for batch in batches]
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(child.score, batches))
    assert [[t.template_ids for t in reply] for reply in replies] == expected


def test_a_dead_child_fails_every_batch_waiting_on_it(model_dir):
    scorer = ProcessScorer(model_dir, device="cpu", cpu_threads=1)
    scorer._process.kill()
    scorer._process.join(10)
    with ThreadPoolExecutor(3) as pool:
        outcomes = [pool.submit(scorer.score, [[5, 6, 7]]) for _ in range(3)]
        for outcome in outcomes:
            with pytest.raises(ModelProcessError, match="the model process exited"):
                outcome.result(timeout=30)
    scorer.close()


# -- from an event loop (score_async): the service's path --------------------------------------


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def loop_child(model_dir, loop):
    scorer = ProcessScorer(model_dir, device="cpu", cpu_threads=1)
    yield scorer
    scorer.close()


def test_batches_awaited_on_a_loop_get_the_in_process_results_each_its_own(loop_child, loop, model_dir, corpus):
    # Nine batches sent at once, up to three sequences each: replies arrive in send order and
    # each awaiting caller must receive its own batch's, as scored in this process.
    local = HFScorer(model_dir, device="cpu")
    batches = [[local.encode(m)] * (1 + k % 3) for k, m in enumerate(conversations(corpus)[:9])]

    async def main():
        return await asyncio.gather(*(loop_child.score_async(batch) for batch in batches))

    replies = loop.run_until_complete(main())
    for reply, batch in zip(replies, batches, strict=True):
        here = local.score(batch)
        assert [t.template_ids for t in reply] == [t.template_ids for t in here]
        np.testing.assert_allclose([t.scores for t in reply], [t.scores for t in here], rtol=1e-5)


def test_a_failed_forward_pass_on_the_loop_raises_its_own_error_and_the_next_batch_is_answered(loop_child, loop):
    async def main():
        failed, answered = await asyncio.gather(
            loop_child.score_async([[5, 6, 7], []]), loop_child.score_async([[5, 6, 7]]), return_exceptions=True
        )
        return failed, answered

    before = loop_child.forward_time.batches
    failed, answered = loop.run_until_complete(main())
    assert isinstance(failed, ValueError) and "token batch: sequence 1 is empty" in str(failed)
    assert len(answered[0].suggestions) == 5
    assert loop_child.forward_time.batches == before + 1  # the failed batch is not counted


def test_a_scorer_held_by_a_loop_refuses_blocking_calls_and_other_loops(loop_child, loop):
    loop.run_until_complete(loop_child.score_async([[5, 6, 7]]))
    with pytest.raises(RuntimeError, match="in use by an event loop; await score_async"):
        loop_child.score([[5, 6, 7]])
    with pytest.raises(RuntimeError, match="tied to another event loop"):
        asyncio.run(loop_child.score_async([[5, 6, 7]]))


def test_a_cancelled_caller_does_not_shift_the_replies_of_the_others(loop_child, loop):
    async def main():
        first = asyncio.ensure_future(loop_child.score_async([[5, 6, 7]]))
        second = asyncio.ensure_future(loop_child.score_async([[9, 10, 11, 12]]))
        await asyncio.sleep(0)  # both sent
        first.cancel()
        return await second, await loop_child.score_async([[9, 10, 11, 12]])

    second, again = loop.run_until_complete(main())
    assert second[0].template_ids == again[0].template_ids  # not the reply meant for [[5, 6, 7]]


def test_a_loop_that_spins_for_lone_replies_gets_the_same_results_and_survives_cancellation(model_dir, corpus):
    local = HFScorer(model_dir, device="cpu")
    sequences = [local.encode(messages) for messages in conversations(corpus)]
    expected = [t.template_ids for t in local.score(sequences)]
    one = [sequences[0]]

    async def main(scorer):
        first = await scorer.score_async(one)  # no round trip known yet: nothing spins
        known = dict(scorer._round_trip_s)
        lone = await scorer.score_async(one)  # spins for the reply it now expects
        together = await asyncio.gather(*(scorer.score_async([ids]) for ids in sequences))
        spinning = asyncio.ensure_future(scorer.score_async(one))
        await asyncio.sleep(0.0005)  # sent, and waiting for its due time or spinning
        spinning.cancel()
        after = await scorer.score_async(sequences)
        return first, known, lone, together, after

    scorer = ProcessScorer(model_dir, device="cpu", cpu_threads=1, spin_ms=50)  # longer than a pass: it spins at once
    try:
        first, known, lone, together, after = asyncio.run(main(scorer))
    finally:
        scorer.close()
    assert set(known) == {1} and known[1] > 0  # the lone batch of one's round trip
    assert first[0].template_ids == lone[0].template_ids == expected[0]
    assert [reply[0].template_ids for reply in together] == expected
    assert [t.template_ids for t in after] == expected  # not the cancelled caller's reply


def test_a_dead_child_fails_every_batch_waiting_on_the_loop(model_dir):
    scorer = ProcessScorer(model_dir, device="cpu", cpu_threads=1)
    scorer._process.kill()
    scorer._process.join(10)

    async def main():
        waiting = await asyncio.gather(*(scorer.score_async([[5, 6, 7]]) for _ in range(3)), return_exceptions=True)
        try:
            await scorer.score_async([[5, 6, 7]])
        except ModelProcessError as error:
            return waiting, error
        return waiting, None

    waiting, later = asyncio.run(main())
    assert all(isinstance(outcome, ModelProcessError) for outcome in waiting), waiting
    assert all("the model process exited (exit code -9)" in str(outcome) for outcome in waiting)
    assert later is not None and "the model process exited" in str(later)
    scorer.close()


def test_close_after_the_loop_has_ended_still_stops_the_child(model_dir):
    scorer = ProcessScorer(model_dir, device="cpu", cpu_threads=1)
    (top,) = asyncio.run(scorer.score_async([[5, 6, 7]]))
    assert len(top.suggestions) == 5
    scorer.close()  # the loop that held the socket is closed: close it here
    assert not scorer.alive


def test_close_stops_a_child_held_by_a_loop(loop_child, loop):  # last use of loop_child
    loop.run_until_complete(loop_child.score_async([[5, 6, 7]]))
    loop_child.close()
    assert not loop_child.alive
    loop_child.close()  # a second close does nothing


@pytest.mark.parametrize(
    ("requested", "models", "cores", "side_by_side", "expected"),
    [
        (0, 2, 16, True, 8),  # two models side by side share 16 cores
        (0, 3, 2, True, 1),  # never below one thread
        (4, 2, 16, True, 4),  # a number asked for is kept
        (0, 1, 16, True, 0),  # one model: torch's default
        (0, 2, 16, False, 0),  # models taking turns may each use every core
        (0, 2, None, True, 0),  # unknown core count: torch's default
    ],
)
def test_cpu_threads_per_model(requested, models, cores, side_by_side, expected):
    assert cpu_threads_per_model(requested, models, cores, side_by_side=side_by_side) == expected


@pytest.mark.parametrize(
    ("requested", "models", "cores", "expected"),
    [
        (None, 1, 2, DEFAULT_SPIN_MS),  # a core for the model and one for the web layer
        (None, 2, 2, 0.0),  # two spinning children would take the web layer's core
        (None, 2, 16, DEFAULT_SPIN_MS),
        (None, 1, None, 0.0),  # unknown core count: no spinning
        (0.0, 1, 16, 0.0),  # a figure asked for is kept
        (2.5, 2, 2, 2.5),
    ],
)
def test_spin_ms_per_model(requested, models, cores, expected):
    assert spin_ms_per_model(requested, models, cores) == expected


def test_spinning_returns_once_the_socket_is_readable_and_consumes_nothing():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        _spin_until_readable(ours, 0.001)  # nothing to read: gives up after its time
        theirs.sendall(b"frame")
        _spin_until_readable(ours, 600.0)  # returns at once (a hang here would time the test out)
        assert ours.recv(16) == b"frame"
        theirs.shutdown(socket.SHUT_WR)
        _spin_until_readable(ours, 600.0)  # the end of the stream counts as readable
        assert ours.recv(16) == b""


def test_a_spinning_child_scores_alike_and_stops_when_closed(model_dir, corpus):
    with pytest.raises(ValueError, match="spin_ms must not be negative, got -1"):
        ProcessScorer(model_dir, device="cpu", spin_ms=-1)
    local = HFScorer(model_dir, device="cpu")
    sequences = [local.encode(messages) for messages in conversations(corpus)]
    spinning = ProcessScorer(model_dir, device="cpu", cpu_threads=1, spin_ms=600_000)  # it never sleeps
    try:
        for _ in range(2):  # the second batch arrives while the child spins
            remote = spinning.score(sequences)
            assert [t.template_ids for t in remote] == [t.template_ids for t in local.score(sequences)]
    finally:
        spinning.close(timeout_s=30)
    assert not spinning.alive  # the end of the stream reached it mid-spin


def test_a_dead_child_is_a_clear_error_not_a_hang(model_dir):
    scorer = hf_model_slot(model_dir, device="cpu", process=True, cpu_threads=1).load()
    assert isinstance(scorer, ProcessScorer) and scorer.alive
    scorer._process.kill()
    scorer._process.join(10)
    with pytest.raises(ModelProcessError, match="the model process exited"):
        scorer.score([[5, 6, 7]])
    assert not scorer.alive
    scorer.close()


def test_a_model_that_cannot_load_fails_the_constructor_with_the_reason(model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    for weights in broken.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelProcessError, match="failed to load"):
        ProcessScorer(broken, device="cpu")


def test_close_stops_the_child(child):  # last: the module's child is not used after this
    assert child.alive
    child.close()
    assert not child.alive


def test_a_service_whose_model_process_dies_says_so_on_ready_and_per_request(model_dir, tmp_path):
    import httpx

    from abkit.assignment import standing_experiment
    from abkit.events import EventStore
    from abkit.serving.app import create_app
    from abkit.serving.server import background_server
    from abkit.serving.service import SuggestionService
    from abkit.serving.writer import EventWriter

    db = str(tmp_path / "events.sqlite")
    service = SuggestionService(
        [hf_model_slot(model_dir, device="cpu", process=True, cpu_threads=1)],
        standing_experiment("v9"),
        EventWriter(lambda: EventStore.open(db)),
    )
    body = {"case_id": "c1", "message_id": "m1", "advocate_id": "a1", "messages": [{"role": "customer", "text": "hi"}]}
    with background_server(create_app(service)) as url, httpx.Client(base_url=url, timeout=30) as client:
        deadline = time.monotonic() + 120
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "service not ready in 120 s"
            time.sleep(0.1)
        assert client.post("/v1/suggest", json=body).status_code == 200
        child = service.scorers["v9"]
        child._process.kill()  # as the kernel's OOM killer would
        child._process.join(10)
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "model v9: its model process has exited" in ready.json()["problems"]
        failed = client.post("/v1/suggest", json=body)
        assert failed.status_code == 500 and "the model process exited" in failed.json()["detail"]
        assert client.get("/health").status_code == 200  # alive, but not ready: restart it
