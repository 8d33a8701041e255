"""`abkit dashboard`: options, the login rule, and a real start on a free port."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

import pytest
from click.testing import CliRunner

from abkit.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]


def test_help_names_the_options():
    result = CliRunner().invoke(cli, ["dashboard", "--help"])
    assert result.exit_code == 0
    for option in ("--db", "--host", "--port", "--password-file", "--access-log", "--trusted-proxy"):
        assert option in result.output


def test_binding_beyond_loopback_requires_a_password(monkeypatch):
    monkeypatch.delenv("ABKIT_DASHBOARD_PASSWORD", raising=False)
    result = CliRunner().invoke(cli, ["dashboard", "--db", "x.sqlite", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "requires a login" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, str]:
    """Status, headers (case-insensitive) and body of a GET, 4xx/5xx answers included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


@contextmanager
def _running_dashboard(tmp_path: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[tuple[int, list]]:
    """Start `abkit dashboard` on a free port; yield the port and a list that holds its output once it stopped."""
    port = _free_port()
    command = [sys.executable, "-m", "abkit.cli.main", "dashboard", "--db", str(tmp_path / "none.sqlite")]
    command += ["--port", str(port), *options]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    output: list[str] = []
    try:
        for _ in range(120):  # up to 60 s on a busy CI machine
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    break
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.5)
        assert process.poll() is None, process.communicate(timeout=5)[0]
        yield port, output
    finally:
        process.terminate()
        output.append(process.communicate(timeout=10)[0])


@pytest.mark.slow
def test_starts_and_serves_the_message_page_for_a_missing_file(tmp_path):
    with _running_dashboard(tmp_path) as (port, _):
        status, headers, body = _get(f"http://127.0.0.1:{port}/_dash-layout")
    assert status == 200 and headers["Server"] == "waitress"
    assert "Database unreachable" in body and "no SQLite file" in body
    assert not (tmp_path / "none.sqlite").exists()


@pytest.mark.slow
def test_team_setup_runs_on_waitress_behind_the_login_without_access_log(tmp_path):
    # The documented team setup: every interface, a password; reached here through 127.0.0.1 only.
    with _running_dashboard(tmp_path, "--host", "0.0.0.0", env={"ABKIT_DASHBOARD_PASSWORD": "s3cret"}) as (port, out):
        url = f"http://127.0.0.1:{port}/_dash-layout"
        refused = _get(url)
        wrong = _get(url, _basic("abkit", "guess"))
        allowed = _get(url, _basic("abkit", "s3cret"))
    assert refused[0] == 401 and refused[1]["Server"] == "waitress" and "Basic" in refused[1]["WWW-Authenticate"]
    assert wrong[0] == 401
    assert allowed[0] == 200 and allowed[1]["Server"] == "waitress" and "Database unreachable" in allowed[2]
    assert "Werkzeug" not in allowed[1]["Server"]
    assert "_dash-layout" not in out[0], "requests are logged although --access-log was not given"
    assert "s3cret" not in out[0]


@pytest.mark.slow
def test_access_log_writes_one_line_per_request(tmp_path):
    with _running_dashboard(tmp_path, "--access-log") as (port, out):
        _get(f"http://127.0.0.1:{port}/_dash-layout?x=1")
    assert re.search(r'127\.0\.0\.1 - - \[.+\] "GET /_dash-layout\?x=1 HTTP/1\.1" 200 \d+', out[0]), out[0]
