"""What durable selections cost: `abkit serve --durable-events` beside `--buffered-events`, in one run.

Starts both services (tiny model, one SQLite file each) and drives them in alternating rounds
with the same load, so that the noise of a shared machine falls on both alike:

- latency at a fixed rate (open loop, from each request's due time): the cost an advocate's
  tool sees, one commit per acknowledged selection (commits are shared by selections that
  wait together);
- throughput at saturation (closed loop, ``--clients`` at once): the cost to capacity;
- the service's own CPU time per selection in those rounds (``process_cpu_seconds_total``,
  threads included), which other jobs on a shared machine disturb far less than wall times.

Prints each mode's figures and the ratios durable / buffered.

    .venv/bin/python bench/bench_durability.py --rate 30 --seconds 10 --rounds 3
    .venv/bin/python bench/bench_durability.py --db-url postgresql://... (one database; tables are shared)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from itertools import count
from pathlib import Path

import httpx
import numpy as np

from abkit.serving.server import free_port
from abkit.simulate.transcripts import generate_transcripts
from abkit.training.tiny import build_random_classifier

MODES = ("durable", "buffered")
_ids = count()


def _selection(tag: str) -> dict:
    i = next(_ids)
    return {
        "selection_id": f"{tag}-{i}",
        "case_id": f"c-{i}",
        "message_id": "m1",
        "advocate_id": f"a-{i % 50}",
        "template_id": "T1",
        "selection_time_s": 12.5,
    }


def start(model: Path, db: str, mode: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "abkit.cli.main", "serve", "--model", str(model), "--db", db]
    command += ["--port", str(port), "--device", "cpu", "--log-level", "warning", f"--{mode}-events"]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit(f"{mode} service not ready in 300 s")


async def fixed_rate(url: str, rate: float, seconds: float, tag: str) -> list[float]:
    """Latencies (ms) of selections sent at ``rate``, each from its due time."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(due: float) -> float:
            response = await client.post("/v1/selections", json=_selection(tag))
            response.raise_for_status()
            return (time.perf_counter() - due) * 1000

        start = time.perf_counter() + 0.05
        tasks = []
        for i in range(int(rate * seconds)):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.ensure_future(one(due)))
        return list(await asyncio.gather(*tasks))


def cpu_seconds(url: str) -> float:
    """The service process's CPU time so far (user + system, all threads)."""
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            return float(line.split()[1])
    raise SystemExit("the service's /metrics has no process_cpu_seconds_total")


async def saturation(url: str, clients: int, seconds: float, tag: str) -> tuple[float, int]:
    """Selections acknowledged per second by ``clients`` sending back to back, and how many."""
    done = 0
    stop_at = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=clients)) as client:

        async def loop() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                (await client.post("/v1/selections", json=_selection(tag))).raise_for_status()
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
        return done / (time.perf_counter() - began), done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=30.0, help="selections per second in the fixed-rate rounds")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each round")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients at saturation")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per mode")
    parser.add_argument("--db-url", help="database URL for both services (default: a SQLite file each)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        corpus = generate_transcripts(seed=9, n_cases=20, n_templates=12)
        texts = [m["text"] for case in corpus for m in case["messages"]]
        model = build_random_classifier(Path(tmp) / "model", texts, [f"T{i}" for i in range(12)], model_version="v1")
        servers = {mode: start(model, args.db_url or str(Path(tmp) / f"{mode}.sqlite"), mode) for mode in MODES}
        latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
        rates: dict[str, list[float]] = {mode: [] for mode in MODES}
        cpu_ms: dict[str, list[float]] = {mode: [] for mode in MODES}
        try:
            for round_number in range(args.rounds):
                order = MODES if round_number % 2 == 0 else MODES[::-1]
                for mode in order:
                    url = servers[mode][1]
                    latencies[mode] += asyncio.run(fixed_rate(url, args.rate, args.seconds, f"{mode}-r{round_number}"))
                    before = cpu_seconds(url)
                    rate, sent = asyncio.run(saturation(url, args.clients, args.seconds, f"{mode}-s{round_number}"))
                    rates[mode].append(rate)
                    cpu_ms[mode].append((cpu_seconds(url) - before) * 1000 / max(sent, 1))
        finally:
            for process, _ in servers.values():
                process.send_signal(signal.SIGTERM)
                process.wait(60)

    backend = "postgresql" if args.db_url and args.db_url.startswith("postgres") else "sqlite"
    print(f"backend: {backend}, {args.rounds} alternating rounds of {args.seconds:g} s per mode")
    summary = {}
    for mode in MODES:
        values = np.array(latencies[mode])
        p50, p99 = np.percentile(values, 50), np.percentile(values, 99)
        throughput = float(np.median(rates[mode]))
        cpu = float(np.median(cpu_ms[mode]))
        summary[mode] = (p50, p99, throughput, cpu)
        print(
            f"{mode:9s} at {args.rate:g}/s: P50 {p50:.1f} ms, P99 {p99:.1f} ms ({values.size} selections); "
            f"saturation ({args.clients} clients): {throughput:.0f} selections/s, "
            f"service CPU {cpu:.2f} ms a selection (medians of {len(rates[mode])})"
        )
    (d50, d99, dt, dc), (b50, b99, bt, bc) = summary["durable"], summary["buffered"]
    print(
        f"ratio durable/buffered: P50 {d50 / b50:.2f}, P99 {d99 / b99:.2f}, saturation throughput {dt / bt:.2f}, "
        f"CPU per selection {dc / bc:.2f}"
    )


if __name__ == "__main__":
    main()
