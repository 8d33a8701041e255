"""What the service costs per request outside the forward pass, against a minimal FastAPI app.

    .venv/bin/python bench/bench_serving_overhead.py [--baseline-rev c35d1dc]

Servers, each in its own process under uvicorn (httptools, uvloop), measured one after the
other in alternating rounds with the same clients as ``bench_serving.py``:

- minimal: a FastAPI app whose ``POST /v1/suggest`` answers a constant JSON object;
- service: the real service (``create_app``: guard middleware, validation, assignment,
  tokenization, dynamic batcher, event building and the SQLite event writer), set up as
  ``abkit serve`` sets it, with a stand-in scorer that returns a fixed top-5 at once, so that
  no forward pass is timed;
- with ``--baseline-rev REV``, also the service as committed at REV (a git worktree of it,
  serving with its own code), so that a change to the service is measured against what it
  replaced in the same run.

Printed per server: median, P99 and maximum round trip of one request at a time; closed-loop
requests/s with 64 connections and the P99 and maximum of those round trips; CPU seconds per
request of the server process (all its threads, read from the OS) and of the load client.
The service's CPU per request bounds its throughput on a small host whatever the model costs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline_rev import baseline_worktree, remove_worktree, worktree_env  # noqa: E402
from serving_client import _closed_loop, service_latency_ms  # noqa: E402
from serving_inputs import with_fresh_newest_message  # noqa: E402

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
        from abkit.serving import scorer as scorer_module
        from abkit.serving.app import create_app
        from abkit.serving.scorer import HFScorer, TopK
        from abkit.serving.service import ModelSlot, ServiceSettings, SuggestionService
        from abkit.serving.writer import EventWriter

        class StandIn:
            """The real tokenizer and window; a fixed top-5 instead of a forward pass."""

            def __init__(self) -> None:
                self.inner = HFScorer(model_dir, device="cpu")
                self.model_version, self.max_tokens = self.inner.model_version, self.inner.max_tokens
                if hasattr(scorer_module, "Suggestion"):  # an older --baseline-rev: TopK held Suggestions
                    self.top = TopK(tuple(scorer_module.Suggestion(t, 0.2) for t in TEMPLATES[:5]))
                else:
                    self.top = TopK(tuple(TEMPLATES[:5]), (0.2,) * 5)

            def encode(self, messages):  # type: ignore[no-untyped-def]
                return self.inner.encode(messages)

            def score(self, sequences):  # type: ignore[no-untyped-def]
                return [self.top] * len(sequences)

        scorer = StandIn()
        engine = connect(db)
        settings = ServiceSettings()
        if "settle_heap" in {f.name for f in dataclasses.fields(ServiceSettings)}:  # not at older --baseline-rev
            settings = dataclasses.replace(settings, settle_heap=True)  # as abkit serve sets it
        service = SuggestionService(
            [ModelSlot(scorer.model_version, lambda: scorer)],
            standing_experiment(scorer.model_version),
            EventWriter(lambda: EventStore(engine)),
            settings,
        )
        app = create_app(service)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def measure(process: psutil.Process, url: str, bodies: list[dict], requests: int, seconds: float) -> dict:
    latency = service_latency_ms(url, bodies, requests)
    loaded: list[float] = []
    server_before, client_before = process.cpu_times(), time.process_time()
    ok, failed, elapsed = asyncio.run(_closed_loop(url, bodies, 64, seconds, loaded))
    server_after, client_after = process.cpu_times(), time.process_time()
    server_cpu = (server_after.user + server_after.system) - (server_before.user + server_before.system)
    return {
        "latency_ms": latency,
        "loaded_ms": loaded,
        "ok": ok,
        "failed": failed,
        "seconds": elapsed,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_after - client_before,
    }


def percentile(values: list[float], q: float) -> float:
    return float(numpy.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="closed-loop seconds per server per round")
    parser.add_argument("--latency-requests", type=int, default=200, help="per server per round")
    parser.add_argument("--baseline-rev", help="also serve the service as committed at this git revision")
    parser.add_argument("--serve", nargs=4, metavar=("MODE", "PORT", "MODEL", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        mode, port, model_dir, db = args.serve
        serve(mode, int(port), model_dir, db)
        return

    corpus = generate_transcripts(0, 200, len(TEMPLATES))
    source = request_bodies(corpus, seed=1)
    bodies = [with_fresh_newest_message(next(source)) for _ in range(256)]  # as bench_serving sends them
    modes = ["minimal", "service"] + (["baseline"] if args.baseline_rev else [])
    figures: dict[str, list[dict]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory(prefix="abkit-overhead-") as tmp:
        texts = [m["text"] for case in corpus for m in case["messages"]]
        model_dir = build_random_classifier(Path(tmp, "model"), texts, TEMPLATES, model_version="bench")
        worktree = baseline_worktree(args.baseline_rev, Path(tmp, "baseline")) if args.baseline_rev else None
        servers = {}
        try:
            for mode in modes:
                port = free_port()
                env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
                script, served = Path(__file__), mode
                if mode == "baseline":
                    assert worktree is not None
                    env = worktree_env(worktree, env)  # the baseline imports abkit from its worktree
                    script, served = worktree / "bench" / Path(__file__).name, "service"
                db = str(Path(tmp, f"{mode}.db"))
                command = [sys.executable, str(script), "--serve", served, str(port), str(model_dir), db]
                servers[mode] = (subprocess.Popen(command, env=env), f"http://127.0.0.1:{port}")
            for _process, url in servers.values():
                wait_ready(url, 120)
                service_latency_ms(url, bodies, 50)  # warm up
            for _ in range(args.rounds):  # alternate, so that drift in the machine's load hits every server alike
                for mode, (process, url) in servers.items():
                    process_info = psutil.Process(process.pid)
                    figures[mode].append(measure(process_info, url, bodies, args.latency_requests, args.seconds))
        finally:
            for process, _url in servers.values():
                process.send_signal(signal.SIGTERM)
                process.wait(60)
            if worktree is not None:
                remove_worktree(worktree)
    summary = {}
    for mode, rounds in figures.items():
        ok = sum(r["ok"] for r in rounds)
        latency = [x for r in rounds for x in r["latency_ms"]]
        loaded = [x for r in rounds for x in r["loaded_ms"]]
        s = summary[mode] = {
            "median_ms": statistics.median(statistics.median(r["latency_ms"]) for r in rounds),
            "p99_ms": percentile(latency, 99),
            "max_ms": max(latency),
            "rps": ok / sum(r["seconds"] for r in rounds),
            "loaded_p99_ms": percentile(loaded, 99),
            "loaded_max_ms": max(loaded, default=float("nan")),
            "server_cpu_ms": 1000 * sum(r["server_cpu_s"] for r in rounds) / ok,
            "client_cpu_ms": 1000 * sum(r["client_cpu_s"] for r in rounds) / ok,
            "failed": sum(r["failed"] for r in rounds),
        }
        label = f"baseline ({args.baseline_rev})" if mode == "baseline" else mode
        print(
            f"{label:20s} one at a time: median {s['median_ms']:.2f} ms, P99 {s['p99_ms']:.2f}, max {s['max_ms']:.1f}; "
            f"64 connections: {s['rps']:.0f} req/s, P99 {s['loaded_p99_ms']:.1f} ms, max {s['loaded_max_ms']:.1f}; "
            f"server CPU {s['server_cpu_ms']:.3f} ms/request; client CPU {s['client_cpu_ms']:.3f} ms/request; "
            f"{s['failed']:.0f} failed"
        )
    base, cand = summary["minimal"], summary["service"]
    print(
        f"service / minimal: round trip +{cand['median_ms'] - base['median_ms']:.2f} ms, "
        f"throughput x{cand['rps'] / base['rps']:.2f}, server CPU per request x{cand['server_cpu_ms'] / base['server_cpu_ms']:.1f}"
    )
    if args.baseline_rev:
        old = summary["baseline"]
        print(
            f"service / baseline ({args.baseline_rev}): throughput x{cand['rps'] / old['rps']:.2f}, "
            f"server CPU per request x{cand['server_cpu_ms'] / old['server_cpu_ms']:.2f}, "
            f"loaded P99 x{cand['loaded_p99_ms'] / old['loaded_p99_ms']:.2f}, "
            f"loaded max x{cand['loaded_max_ms'] / old['loaded_max_ms']:.2f}"
        )


if __name__ == "__main__":
    main()
