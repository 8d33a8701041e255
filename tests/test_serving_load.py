"""The service under load: a huge message beside steady traffic, and overload at twice capacity.

A real uvicorn on 127.0.0.1 with the tiny GPT-NeoX of test_serving_app, driven by open-loop
clients in another process (tests/load_client.py). Bounds are generous: the machine is shared.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from abkit.serving.batcher import BatcherSettings
from abkit.serving.service import ServiceSettings
from tests import load_client
from tests.test_serving_app import GOOD, corpus, make_service, model_dirs, running, scorers

__all__ = ["corpus", "model_dirs", "scorers"]  # module fixtures shared with test_serving_app


class Paced:
    """The tiny model made slower, as a bigger one: every batch takes at least ``batch_s``.

    Its answers are the tiny model's own; only the time per batch changes, so that the service's
    capacity is low and steady enough for a test client to send twice as much.
    """

    def __init__(self, inner, batch_s: float):
        self.inner = inner
        self.model_version = inner.model_version
        self.max_tokens = inner.max_tokens
        self.batch_s = batch_s

    def encode(self, messages):
        return self.inner.encode(messages)

    def score(self, sequences):
        started = time.monotonic()
        result = self.inner.score(sequences)
        time.sleep(max(0.0, self.batch_s - (time.monotonic() - started)))
        return result


@pytest.mark.slow
def test_a_900_kb_message_does_not_hold_up_other_requests(sqlite_url, scorers, corpus):
    service = make_service(sqlite_url, scorers, deadline_s=2.0)
    service.settings = ServiceSettings(max_message_chars=1_000_000, deadline_s=2.0)
    words = " ".join(m["text"] for case in corpus for m in case["messages"])
    huge = (words * (900_000 // len(words) + 1))[:900_000]
    big = {**GOOD, "case_id": "big", "messages": [{"role": "customer", "text": huge}], "deadline_ms": 60_000}
    with running(service) as client:
        answers = []

        def send_big() -> None:
            for _ in range(2):
                time.sleep(0.5)
                answers.append(client.post("/v1/suggest", json=big, timeout=120))

        sender = threading.Thread(target=send_big)
        sender.start()
        steady = load_client.run(str(client.base_url), "open", 20, 4)["results"]
        sender.join(240)
    assert [a.status_code for a in answers] == [200, 200], [a.text[:300] for a in answers]
    errors = [(status, detail) for status, _, _, detail in steady if status != 200]
    assert errors == [], errors[:5]
    p99 = float(np.percentile([seconds for _, seconds, _, _ in steady], 99))
    assert p99 < 2.0, f"P99 of the other requests {p99 * 1000:.0f} ms, past their 2 s deadline"


@pytest.mark.slow
def test_at_twice_capacity_the_excess_gets_a_fast_429_and_the_admitted_meet_their_deadline(sqlite_url, scorers):
    paced = Paced(scorers["v1"], batch_s=0.2)
    service = make_service(
        sqlite_url, {"v1": paced}, batcher=BatcherSettings(max_batch_size=4, max_queue=10_000), deadline_s=1.0
    )
    with running(service) as client:
        url = str(client.base_url)
        capacity = load_client.run(url, "closed", 12, 2)["rate"]
        results = load_client.run(url, "open", 2 * capacity, 4)["results"]
    statuses = [status for status, _, _, _ in results]
    refused = [(seconds, retry_after) for status, seconds, retry_after, _ in results if status == 429]
    served = [seconds for status, seconds, _, _ in results if status == 200]
    fast = sum(seconds < 0.05 for seconds, _ in refused)
    summary = (
        f"capacity {capacity:.0f} req/s, sent {len(results)} at twice that: {len(served)} served, "
        f"{len(refused)} refused ({fast} within 50 ms), {statuses.count(504)} past the deadline"
    )
    print(summary)
    assert set(statuses) <= {200, 429, 504}, summary
    assert len(refused) >= 0.25 * len(results), summary  # about half is more than the model can do
    # "Most": on a quiet machine every refusal came within 50 ms; on this shared 2-core one, with
    # load averages of 15, the client itself falls behind its schedule by that much at times.
    assert fast > 0.5 * len(refused), summary
    assert all(int(retry_after) >= 1 for _, retry_after in refused)
    # Before admission by deadline, 42% waited out the deadline for a 504. Admission counts the
    # model's time only; on a quiet machine under 5% then miss it, but in CI, on 2 shared cores
    # with the rest of the suite, tokenising and logging took the margin from 8% once.
    assert statuses.count(504) <= 0.15 * len(results), summary
    assert len(served) >= 0.3 * len(results), summary
    assert max(served) < 1.0 + 0.25, summary  # the deadline, and the client's own delay
