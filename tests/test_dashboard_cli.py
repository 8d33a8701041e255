"""`abkit dashboard`: options, the login rule, and a real start on a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from abkit.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]


def test_help_names_the_options():
    result = CliRunner().invoke(cli, ["dashboard", "--help"])
    assert result.exit_code == 0
    for option in ("--db", "--host", "--port", "--password-file"):
        assert option in result.output


def test_binding_beyond_loopback_requires_a_password(monkeypatch):
    monkeypatch.delenv("ABKIT_DASHBOARD_PASSWORD", raising=False)
    result = CliRunner().invoke(cli, ["dashboard", "--db", "x.sqlite", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "requires a login" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_starts_and_serves_the_message_page_for_a_missing_file(tmp_path):
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "abkit.cli.main",
        "dashboard",
        "--db",
        str(tmp_path / "none.sqlite"),
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = None
        for _ in range(120):  # up to 60 s on a busy CI machine
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.5)
        assert body is not None, process.communicate(timeout=5)[0] if process.poll() is not None else "no answer"
        assert "Database unreachable" in body and "no SQLite file" in body
    finally:
        process.terminate()
        process.wait(10)
    assert not (tmp_path / "none.sqlite").exists()
