"""A third-party OpenAPI fuzzer (Schemathesis) against a live `abkit serve`: its declared schema
is what it accepts, and no input makes it fail.

Every check is on: no server error (a 504 for a request's own deadline aside), statuses, content types, headers and bodies as declared,
schema-valid requests accepted, schema-violating ones refused, authentication not ignored.
Seeded and deterministic, a bounded number of examples per operation, under a time limit.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.serve_process import start_serve, tiny_model_dir

TOKEN = "fuzz-token-0123456789abcdef"
MAX_EXAMPLES = 25  # per operation and phase: several hundred requests in all


@pytest.fixture(scope="module")
def live_service(tmp_path_factory):
    """`abkit serve` in a child process on 127.0.0.1, with a tiny model and a token; yields its URL."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "token").write_text(TOKEN)
    model = tiny_model_dir(root / "model")
    options = ("--token-file", str(root / "token"), "--spill-dir", str(root))
    process, url = start_serve(model, root / "e.sqlite", *options, ready_timeout_s=180)
    try:
        yield url, root, process
    finally:
        process.terminate()
        process.wait(60)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_service):
    url, root, process = live_service
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    assert schemathesis, "schemathesis is installed by the test extra (pip install -e '.[test]')"
    command = [schemathesis, "run", f"{url}/openapi.json", "--header", f"Authorization: Bearer {TOKEN}"]
    command += ["--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", "17", "--generation-deterministic"]
    command += ["--workers", "1", "--request-timeout", "30", "--no-color"]
    # One exception to "no 5xx": a 504 is the declared answer when a request's own deadline
    # (the schema allows 50 ms) passes first, which a busy shared machine cannot always meet.
    # Any other 5xx fails, and the service's own counters are checked below as well.
    (root / "schemathesis.toml").write_text(
        '[checks.not_a_server_error]\nexpected-statuses = ["2xx", "3xx", "4xx", "504"]\n'
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=840, cwd=root, check=False)
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "No issues found" in done.stdout, report
    generated = int(done.stdout.split(" generated")[0].rsplit(maxsplit=1)[-1])
    assert generated >= 200, report  # it did fuzz: several hundred requests
    metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    counted = [line for line in metrics.splitlines() if line.startswith("abkit_requests_total")]
    server_errors = [line for line in counted if 'status="5' in line and 'status="504"' not in line]
    assert [line for line in server_errors if 'endpoint="/ready"' not in line] == [], counted  # /ready: 503 loading
    process.terminate()
    server_log, _ = process.communicate(timeout=60)
    assert "Traceback" not in server_log, server_log[-3000:]
