"""Load one module as it was at a git revision, to time it beside the working tree in one run.

A before/after figure from two separate runs mixes the change with the machine's drift; these
let a bench run the old and the new code alternately in the same run instead: one module in
the same process (:func:`module_at`), or a whole tree for a server process
(:func:`baseline_worktree`).
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def module_at(revision: str, path: str, name: str) -> ModuleType:
    """The module at ``path`` (relative to the repository root) as committed at ``revision``.

    It is loaded under ``name`` with the working tree's other modules, so only that one file
    is old.
    """
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:{path}"], check=True, capture_output=True, text=True
    ).stdout
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = f"{revision}:{path}"
    sys.modules[name] = module  # dataclasses look their module up while the body runs
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def baseline_worktree(revision: str, directory: Path) -> Path:
    """A detached git worktree of ``revision`` at ``directory`` (remove it with :func:`remove_worktree`).

    A process started with :func:`worktree_env` (and the worktree as its working directory, for
    ``python -m``) imports that revision's abkit instead of the installed one.
    """
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(directory), revision], check=True)
    return directory


def worktree_env(directory: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with ``directory`` first on ``PYTHONPATH``, ahead of the installed abkit."""
    return {**env, "PYTHONPATH": os.pathsep.join([str(directory), env.get("PYTHONPATH", "")])}


def remove_worktree(directory: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(directory)], check=False)


def alternating_medians_ms(
    baseline: Callable[[], object], candidate: Callable[[], object], rounds: int, repeats: int
) -> tuple[float, float]:
    """Median milliseconds of ``baseline()`` and ``candidate()``, timed in alternating rounds.

    Each round times ``repeats`` calls of one, then of the other, so that drift in the
    machine's load hits both alike.
    """
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for function, into in ((baseline, times[0]), (candidate, times[1])):
            for _ in range(repeats):
                started = time.perf_counter()
                function()
                into.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])
