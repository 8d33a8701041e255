"""Helpers of the end-to-end test: docs/walkthrough.md as a script, a process to watch, checks.

The walkthrough's ``sh`` blocks are the test: they are joined into one bash script and run as
written, with a few substitutions to make the run small; each substitution must match the
page exactly, so editing the page without the test (or the reverse) fails loudly.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from abkit.events import connect

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ROOT / "docs" / "walkthrough.md"
TRAINING_SECTION = "1. Train two model versions"
SUMMARY_FILES = ("traffic-standing-v1.json", "traffic-challenger.json", "traffic-standing-v2.json")

_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^## (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One ``sh`` block of the page and the section (``## ...`` heading) it sits under."""

    section: str
    code: str


def walkthrough_blocks(markdown: str) -> list[Block]:
    """The ``sh`` blocks of the page, in order, with their section headings."""
    headings = [(m.start(), m.group(1).strip()) for m in _HEADING.finditer(markdown)]
    blocks = []
    for match in _BLOCK.finditer(markdown):
        section = next((title for start, title in reversed(headings) if start < match.start()), "")
        blocks.append(Block(section, match.group(1)))
    return blocks


def substitute(script: str, replacements: dict[str, str]) -> str:
    """Apply exact-text replacements; each must occur in ``script`` at least once.

    Raises:
        AssertionError: a replacement matches nothing (the page and the test have drifted).
    """
    for old, new in replacements.items():
        if old not in script:
            raise AssertionError(
                f"docs/walkthrough.md no longer contains {old!r}: update the page and the test together"
            )
        script = script.replace(old, new)
    return script


# The substitutions docs/walkthrough.md lists under "How the test runs this page".
# Training runs as written: the page's claims about the models (v1 above the majority
# baseline, v2 above v1) are asserted at the page's own sizes.
TRAINING_REPLACEMENTS: dict[str, str] = {}


def small_run_replacements(serve_port: int, dashboard_port: int, database: str) -> dict[str, str]:
    """The substitutions of every step but training (free ports, less traffic, a larger holdout)."""
    return {
        "export ABKIT_DB=abkit.sqlite": f"export ABKIT_DB='{database}'",
        "--port 8000": f"--port {serve_port}",
        "http://127.0.0.1:8000": f"http://127.0.0.1:{serve_port}",
        "--port 8050": f"--port {dashboard_port}",
        "--cases 1000 ": "--cases 30 ",
        "holdout = 0.02, v1 = 0.98": "holdout = 0.2, v1 = 0.8",
        "holdout = 0.02, v2 = 0.98": "holdout = 0.2, v2 = 0.8",
        "holdout = 0.02, v1 = 0.49, v2 = 0.49": "holdout = 0.2, v1 = 0.4, v2 = 0.4",
    }


def walkthrough_script(replacements: dict[str, str], *, only: str | None = None, skip: tuple[str, ...] = ()) -> str:
    """The page's ``sh`` blocks as one bash script (``set -euo pipefail``), made small.

    Args:
        replacements: exact-text substitutions (see :func:`substitute`).
        only: keep only the blocks under this section heading.
        skip: leave out the blocks under these section headings.
    """
    blocks = walkthrough_blocks(WALKTHROUGH.read_text(encoding="utf-8"))
    kept = [b.code for b in blocks if (only is None or b.section == only) and b.section not in skip]
    if not kept:
        raise AssertionError(f"docs/walkthrough.md: no sh blocks (only={only!r}, skip={skip!r})")
    # The venv's bin first, so `abkit` is the checkout's console script even when not activated.
    header = f'set -euo pipefail\nexport PATH="{Path(sys.executable).parent}:$PATH"\n'
    return header + substitute("\n".join(kept), replacements)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Walkthrough:
    """The walkthrough script running in its own process group (so it and its servers can be stopped)."""

    def __init__(self, script: str, workdir: Path, env: dict[str, str] | None = None):
        self.workdir = workdir
        self.log_path = workdir / "walkthrough.log"
        (workdir / "walkthrough.sh").write_text(script, encoding="utf-8")
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            ["bash", "walkthrough.sh"],
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:]

    def wait_for_url(self, url: str, timeout_s: float) -> None:
        """Wait until ``url`` answers 200 while the script runs (its last step, the dashboard, blocks).

        Raises:
            AssertionError: the script ended first (a step failed) or time ran out; with its output.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"walkthrough ended with exit code {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        raise AssertionError(f"{url} not up after {timeout_s:g} s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the group this object started: the script, its dashboard and any server left running.

        Signalled even when the script has exited: a failed step leaves its background
        `abkit serve` running in the group.
        """
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + 30  # a server flushes its events before it exits
        while self._signal(0) and time.monotonic() < deadline:
            time.sleep(0.2)
        self._signal(signal.SIGKILL)
        self.process.wait(30)
        self._log.close()

    def _signal(self, number: int) -> bool:
        """Signal the group (0: only check it); False when nothing is left in it."""
        self.process.poll()  # reap the script itself, so that it does not count as left
        try:
            os.killpg(self.process.pid, number)
        except ProcessLookupError:
            return False
        return True


def driver_counts(workdir: Path) -> dict[tuple[str, str], dict[str, int]]:
    """The driver's ``--summary`` counts summed over the walkthrough's traffic steps, by (experiment, arm)."""
    totals: dict[tuple[str, str], dict[str, int]] = {}
    for name in SUMMARY_FILES:
        for arm in json.loads((workdir / name).read_text())["arms"]:
            key = (arm["experiment"], arm["arm"])
            into = totals.setdefault(key, {"predictions": 0, "shown": 0, "selections": 0})
            for field in into:
                into[field] += arm[field]
    return totals


def driver_cases(workdir: Path) -> int:
    return sum(json.loads((workdir / name).read_text())["cases"] for name in SUMMARY_FILES)


def store_counts(url: str) -> dict[str, Any]:
    """Events in the store: per (experiment, arm) predictions, scored holdout predictions, selections; cases."""
    engine = connect(url)
    try:
        with engine.connect() as conn:
            predictions = conn.execute(
                text(
                    "SELECT experiment, arm, COUNT(*), SUM(CASE WHEN template_id_1 IS NOT NULL THEN 1 ELSE 0 END)"
                    " FROM predictions GROUP BY experiment, arm"
                )
            ).all()
            selections = conn.execute(
                text("SELECT experiment, arm, COUNT(*), COUNT(prediction_id) FROM selections GROUP BY experiment, arm")
            ).all()
            cases = conn.execute(text("SELECT COUNT(*) FROM cases")).scalar_one()
    finally:
        engine.dispose()
    return {
        "predictions": {(e, a): int(n) for e, a, n, _ in predictions},
        "scored": {(e, a): int(s) for e, a, _, s in predictions},
        "selections": {(e, a): int(n) for e, a, n, _ in selections},
        "answered": {(e, a): int(k) for e, a, _, k in selections},
        "cases": int(cases),
    }


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
