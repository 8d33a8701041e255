"""A real `abkit serve` process on a tiny random model, for tests that need one (signals, crashes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from abkit.serving.server import free_port
from abkit.simulate.transcripts import generate_transcripts
from abkit.training.tiny import build_random_classifier


def tiny_model_dir(directory: Path, model_version: str = "v3") -> Path:
    """A serving directory with a random 12-template classifier (loads in about a second)."""
    corpus = generate_transcripts(seed=9, n_cases=20, n_templates=12)
    texts = [m["text"] for case in corpus for m in case["messages"]]
    return build_random_classifier(directory, texts, [f"T{i}" for i in range(12)], model_version=model_version)


def start_serve(model_dir: Path, db: Path, *options: str, ready_timeout_s: float = 120) -> tuple[subprocess.Popen, str]:
    """Start `abkit serve` on a free port and wait until ``/ready`` answers 200.

    Returns:
        The process (stdout and stderr merged, as text) and its base URL.
    """
    port = free_port()
    command = [sys.executable, "-m", "abkit.cli.main", "serve", "--model", str(model_dir), "--db", str(db)]
    command += ["--port", str(port), "--device", "cpu", "--log-level", "warning", *options]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout_s
    while True:
        try:
            if httpx.get(f"{url}/ready").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise AssertionError(f"abkit serve exited: {process.stdout.read() if process.stdout else ''}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"abkit serve not ready in {ready_timeout_s:g} s")
        time.sleep(0.2)
