"""What the service costs per request outside the forward pass, against a minimal FastAPI app.

    .venv/bin/python bench/bench_serving_overhead.py

Two servers, each in its own process under uvicorn (httptools, uvloop), measured one after
the other in alternating rounds with the same clients as ``bench_serving.py``:

- baseline: a FastAPI app whose ``POST /v1/suggest`` answers a constant JSON object;
- candidate: the real service (``create_app``: guard middleware, validation, assignment,
  tokenization, dynamic batcher, event building and the SQLite event writer), with a
  stand-in scorer that returns a fixed top-5 at once, so that no forward pass is timed.

Printed per server: median round trip of one request at a time, closed-loop requests/s with
64 connections, and CPU seconds per request of the server process (all its threads, read
from the OS) and of the load client. The service's CPU per request bounds its throughput on
a small host whatever the model costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import _closed_loop, service_latency_ms  # noqa: E402

from abkit.loadtest.inputs import request_bodies  # noqa: E402
from abkit.loadtest.runner import wait_ready  # noqa: E402
from abkit.serving.server import free_port  # noqa: E402
from abkit.simulate.transcripts import generate_transcripts  # noqa: E402
from abkit.training.tiny import build_random_classifier  # noqa: E402

TEMPLATES = [f"T{i:04d}" for i in range(40)]


def serve(mode: str, port: int, model_dir: str, db: str) -> None:
    """Server process: ``minimal`` FastAPI app or the ``service`` with a stand-in scorer."""
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    if mode == "minimal":
        app = FastAPI()

        @app.post("/v1/suggest")
        async def suggest() -> JSONResponse:
            return JSONResponse({"suggestions": []})

        @app.get("/ready")
        async def ready() -> JSONResponse:
            return JSONResponse({"ready": True})

    else:
        from abkit.assignment import standing_experiment
        from abkit.events import EventStore, connect
        from abkit.serving.app import create_app
        from abkit.serving.scorer import HFScorer, Suggestion, TopK
        from abkit.serving.service import ModelSlot, SuggestionService
        from abkit.serving.writer import EventWriter

        class StandIn:
            """The real tokenizer and window; a fixed top-5 instead of a forward pass."""

            def __init__(self) -> None:
                self.inner = HFScorer(model_dir, device="cpu")
                self.model_version, self.max_tokens = self.inner.model_version, self.inner.max_tokens
                self.top = TopK(tuple(Suggestion(t, 0.2) for t in TEMPLATES[:5]))

            def encode(self, messages):  # type: ignore[no-untyped-def]
                return self.inner.encode(messages)

            def score(self, sequences):  # type: ignore[no-untyped-def]
                return [self.top] * len(sequences)

        scorer = StandIn()
        engine = connect(db)
        service = SuggestionService(
            [ModelSlot(scorer.model_version, lambda: scorer)],
            standing_experiment(scorer.model_version),
            EventWriter(lambda: EventStore(engine)),
        )
        app = create_app(service)
    sys.setswitchinterval(0.0005)  # as abkit serve sets it
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def measure(process: psutil.Process, url: str, bodies: list[dict], requests: int, seconds: float) -> dict[str, float]:
    latency = service_latency_ms(url, bodies, requests)
    server_before, client_before = process.cpu_times(), time.process_time()
    ok, failed, elapsed = asyncio.run(_closed_loop(url, bodies, 64, seconds))
    server_after, client_after = process.cpu_times(), time.process_time()
    server_cpu = (server_after.user + server_after.system) - (server_before.user + server_before.system)
    return {
        "median_ms": statistics.median(latency),
        "ok": ok,
        "failed": failed,
        "seconds": elapsed,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_after - client_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="closed-loop seconds per server per round")
    parser.add_argument("--latency-requests", type=int, default=200, help="per server per round")
    parser.add_argument("--serve", nargs=4, metavar=("MODE", "PORT", "MODEL", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        mode, port, model_dir, db = args.serve
        serve(mode, int(port), model_dir, db)
        return

    corpus = generate_transcripts(0, 200, len(TEMPLATES))
    source = request_bodies(corpus, seed=1)
    bodies = [next(source) for _ in range(256)]
    totals: dict[str, dict[str, float]] = {}
    latencies: dict[str, list[float]] = {"minimal": [], "service": []}
    with tempfile.TemporaryDirectory(prefix="abkit-overhead-") as tmp:
        texts = [m["text"] for case in corpus for m in case["messages"]]
        model_dir = build_random_classifier(Path(tmp, "model"), texts, TEMPLATES, model_version="bench")
        servers = {}
        try:
            for mode in ("minimal", "service"):
                port = free_port()
                command = [sys.executable, __file__, "--serve", mode, str(port), str(model_dir), str(Path(tmp, "e.db"))]
                env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
                servers[mode] = (subprocess.Popen(command, env=env), f"http://127.0.0.1:{port}")
            for _process, url in servers.values():
                wait_ready(url, 120)
                service_latency_ms(url, bodies, 50)  # warm up
            for _ in range(args.rounds):  # alternate, so that drift in the machine's load hits both alike
                for mode, (process, url) in servers.items():
                    figures = measure(psutil.Process(process.pid), url, bodies, args.latency_requests, args.seconds)
                    latencies[mode].append(figures.pop("median_ms"))
                    for key, value in figures.items():
                        totals.setdefault(mode, {}).setdefault(key, 0.0)
                        totals[mode][key] += value
        finally:
            for process, _url in servers.values():
                process.send_signal(signal.SIGTERM)
                process.wait(60)
    summary = {}
    for mode, t in totals.items():
        summary[mode] = {
            "median_ms": statistics.median(latencies[mode]),
            "rps": t["ok"] / t["seconds"],
            "server_cpu_ms": 1000 * t["server_cpu_s"] / t["ok"],
            "client_cpu_ms": 1000 * t["client_cpu_s"] / t["ok"],
            "failed": t["failed"],
        }
        s = summary[mode]
        print(
            f"{mode:8s} round trip median {s['median_ms']:.2f} ms; {s['rps']:.0f} req/s at 64 connections; "
            f"server CPU {s['server_cpu_ms']:.3f} ms/request; client CPU {s['client_cpu_ms']:.3f} ms/request; "
            f"{s['failed']:.0f} failed"
        )
    base, cand = summary["minimal"], summary["service"]
    print(
        f"service / minimal: round trip +{cand['median_ms'] - base['median_ms']:.2f} ms, "
        f"throughput x{cand['rps'] / base['rps']:.2f}, server CPU per request x{cand['server_cpu_ms'] / base['server_cpu_ms']:.1f}"
    )


if __name__ == "__main__":
    main()
