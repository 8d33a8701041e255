"""A load client for the serving tests, run in its own process so that it does not share the
server's interpreter lock: ``python -m tests.load_client URL closed WORKERS SECONDS`` or
``python -m tests.load_client URL open RATE SECONDS``. Prints one JSON object.

Open loop: requests are sent at fixed times whatever the answers, and each latency is measured
from its intended send time, so that a client running late does not hide waiting.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

GOOD = {
    "case_id": "c1",
    "message_id": "m1",
    "advocate_id": "a1",
    "messages": [{"role": "customer", "text": "my card was declined"}],
}


def request_body(index: int) -> dict[str, Any]:
    return {**GOOD, "case_id": f"case-{index}", "advocate_id": f"adv-{index % 50}"}


async def closed_loop(url: str, workers: int, seconds: float) -> dict[str, Any]:
    """``workers`` clients each sending the next request when the last is answered; the rate served."""
    done = 0
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def worker(k: int) -> None:
            nonlocal done
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                response = await client.post("/v1/suggest", json=request_body(k))
                statuses.append(response.status_code)
                done += response.status_code == 200

        started = time.monotonic()
        await asyncio.gather(*(worker(k) for k in range(workers)))
        return {"rate": done / (time.monotonic() - started), "statuses": statuses}


async def open_loop(url: str, rate: float, seconds: float) -> dict[str, Any]:
    """``rate`` requests a second for ``seconds``; each one's status, latency, Retry-After and error."""
    results: list[tuple[int, float, str | None, str]] = []
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one(index: int, due: float) -> None:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            response = await client.post("/v1/suggest", json=request_body(index))
            seconds = time.monotonic() - due
            detail = "" if response.status_code == 200 else response.text[:200]
            results.append((response.status_code, seconds, response.headers.get("retry-after"), detail))

        start = time.monotonic() + 0.2
        await asyncio.gather(*(one(i, start + i / rate) for i in range(int(rate * seconds))))
    return {"results": results}


def run(url: str, mode: str, amount: float, seconds: float, timeout_s: float = 120) -> dict[str, Any]:
    """Run this module in a child process and return what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.load_client", url, mode, str(amount), str(seconds)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    if done.returncode != 0:
        raise RuntimeError(f"load client failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


if __name__ == "__main__":
    target, how, size, duration = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    if how == "closed":
        print(json.dumps(asyncio.run(closed_loop(target, int(size), duration))))
    else:
        print(json.dumps(asyncio.run(open_loop(target, size, duration))))
