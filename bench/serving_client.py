"""bench_serving.py's side of the wire: ``abkit serve`` in a subprocess, a lean HTTP client
(one request at a time, and closed-loop connections at saturation), and the service's batch
counters read from /metrics."""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy
from baseline_rev import worktree_env
from serving_inputs import stamped

from abkit.loadtest.runner import wait_ready
from abkit.serving.server import free_port

BATCH_COUNTERS = (
    "abkit_batch_size_count",
    "abkit_batch_size_sum",
    "abkit_batch_tokens_sum",
    "abkit_inference_duration_seconds_sum",
)


def batch_counters(url: str) -> dict[str, float]:
    """The service's cumulative batch counters (from /metrics)."""
    text = httpx.get(f"{url}/metrics").text
    values = dict.fromkeys(BATCH_COUNTERS, 0.0)
    for line in text.splitlines():
        series, _, value = line.partition(" ")
        name = series.partition("{")[0]
        if name in values:
            values[name] += float(value)
    return values


def batch_figures(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Mean batch size and forward-pass time between two readings of :func:`batch_counters`
    (summed over the saturation windows)."""
    batches = (after["abkit_batch_size_count"] - before["abkit_batch_size_count"]) or 1
    requests = (after["abkit_batch_size_sum"] - before["abkit_batch_size_sum"]) or 1
    return {
        "padded_tokens_per_request": (after["abkit_batch_tokens_sum"] - before["abkit_batch_tokens_sum"]) / requests,
        "mean_batch_size": (after["abkit_batch_size_sum"] - before["abkit_batch_size_sum"]) / batches,
        "mean_forward_pass_ms": 1000
        * (after["abkit_inference_duration_seconds_sum"] - before["abkit_inference_duration_seconds_sum"])
        / batches,
    }


def service_latency_ms(url: str, bodies: list[dict], repeats: int) -> list[float]:
    """Round trips of one request at a time over one keep-alive connection (stdlib client:
    lighter than httpx, so the figure is the service's rather than the client's)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    payloads = [json.dumps(body).encode() for body in bodies]
    times = []
    try:
        for i in range(repeats):
            started = time.perf_counter()
            payload = stamped(payloads[i % len(payloads)])
            connection.request("POST", "/v1/suggest", payload, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            times.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise RuntimeError(f"service answered {response.status}")
    finally:
        connection.close()
    return times


async def _raw_post_loop(
    host: str, port: int, payloads: list[bytes], stop: float, latencies_ms: list[float] | None = None
) -> tuple[int, int]:
    """One keep-alive HTTP/1.1 connection sending back to back; returns (ok, failed).

    A few lines of asyncio streams instead of httpx: on a small machine httpx's async pool
    saturates before the service does, and the bench must measure the service. Each
    successful round trip is appended to ``latencies_ms`` when given.
    """
    reader, writer = await asyncio.open_connection(host, port)
    ok = failed = 0
    i = 0
    try:
        while (sent := time.perf_counter()) < stop:
            writer.write(stamped(payloads[i % len(payloads)]))
            i += 1
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            if status_line.split(b" ", 2)[1] == b"200":
                ok += 1
                if latencies_ms is not None:
                    latencies_ms.append((time.perf_counter() - sent) * 1000)
            else:
                failed += 1
    finally:
        writer.close()
    return ok, failed


def http_request(path: str, body: dict) -> bytes:
    content = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {len(content)}\r\n\r\n"
    return head.encode() + content


async def _closed_loop(
    url: str, bodies: list[dict], clients: int, seconds: float, latencies_ms: list[float] | None = None
) -> tuple[int, int, float]:
    """``clients`` connections each sending its next request as soon as the last is answered."""
    host, port = url.removeprefix("http://").split(":")
    payloads = [http_request("/v1/suggest", body) for body in bodies]
    started = time.perf_counter()
    loops = (
        _raw_post_loop(host, int(port), payloads[k:] + payloads[:k], started + seconds, latencies_ms)
        for k in range(clients)
    )
    counts = await asyncio.gather(*loops)
    return sum(c[0] for c in counts), sum(c[1] for c in counts), time.perf_counter() - started


class ServiceRun:
    """What one service answered over the rounds of a bench run."""

    def __init__(self) -> None:
        self.latency_ms: list[float] = []  # one request at a time
        self.saturated_ms: list[float] = []  # round trips at saturation
        self.done = 0
        self.seconds = 0.0
        self.failed = 0
        self.client_cpu_s = 0.0  # the load client's own CPU: it shares the machine with the service
        self.counters = dict.fromkeys(BATCH_COUNTERS, 0.0)  # over the saturation windows

    def one_at_a_time(self, url: str, bodies: list[dict], repeats: int) -> None:
        self.latency_ms += service_latency_ms(url, bodies, repeats)

    def saturate(self, url: str, bodies: list[dict], clients: int, seconds: float) -> None:
        client_cpu_before, counters_before = time.process_time(), batch_counters(url)
        ok, bad, elapsed = asyncio.run(_closed_loop(url, bodies, clients, seconds, self.saturated_ms))
        self.client_cpu_s += time.process_time() - client_cpu_before
        counters_after = batch_counters(url)
        for name in BATCH_COUNTERS:
            self.counters[name] += counters_after[name] - counters_before[name]
        self.done, self.seconds, self.failed = self.done + ok, self.seconds + elapsed, self.failed + bad

    def figures(self, bare_median_ms: float, bare_rps: float) -> dict:
        rps = self.done / self.seconds
        median = statistics.median(self.latency_ms)
        return {
            "median_ms": median,
            "p99_ms": float(numpy.percentile(self.latency_ms, 99)),
            "low_load_overhead_ms": median - bare_median_ms,
            "saturated_rps": rps,
            "throughput_ratio": rps / bare_rps,
            "saturated_p99_ms": float(numpy.percentile(self.saturated_ms, 99)),
            "saturated_max_ms": max(self.saturated_ms),
            "client_cpu_ms_per_request": 1000 * self.client_cpu_s / max(self.done, 1),
            "batches": batch_figures(dict.fromkeys(BATCH_COUNTERS, 0.0), self.counters),
        }


def start_service(
    model_dir: Path,
    db: Path,
    args: argparse.Namespace,
    batching: tuple[int, int],
    worktree: Path | None = None,
    extra_args: Sequence[str] = (),
) -> tuple[subprocess.Popen, str]:
    """``abkit serve`` in a subprocess with ``batching`` (max batch size, max batch tokens) and
    ``extra_args`` last; from ``worktree`` (its own abkit) when given."""
    port = free_port()
    command = [
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
        args.device,
        "--log-level",
        "warning",
        "--max-batch-size",
        str(batching[0]),
        "--max-batch-tokens",
        str(batching[1]),
        "--max-queue",
        str(max(256, 4 * args.clients)),
        "--deadline-ms",
        "60000",
        "--max-wait-ms",
        str(args.max_wait_ms),
        "--max-padding",
        str(args.max_padding),
    ]
    if args.cpu_threads:
        command += ["--cpu-threads", str(args.cpu_threads)]
    command += extra_args
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if worktree is not None:  # python -m looks in the working directory first, then PYTHONPATH
        env = worktree_env(worktree, env)
    process = subprocess.Popen(command, env=env, cwd=worktree)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, 600)
    return process, url
